"""The team pages as the hub renders them: who sees what, and what a dead invite link says."""

from __future__ import annotations

import httpx

from tests.integration.hub_setup import add_user
from tests.integration.invite_support import invite, token_of
from tests.integration.running_hub import RunningHub


async def test_team_page_is_read_only_below_owner(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    pending = await invite(admin, project_id, "eve@a.example")
    page = await admin.get(f"/team?project_id={project_id}")
    assert page.status_code == 200
    assert 'id="invite-form"' in page.text and "eve@a.example" in page.text
    assert "data-member-role" in page.text and 'href="/settings/mail"' in page.text
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    member = await add_user(hub, admin, "mem@a.example", project_id, "member")
    try:
        for client in (viewer, member):
            page = await client.get(f"/team?project_id={project_id}")
            assert page.status_code == 200 and "alice@a.example" in page.text
            assert 'id="invite-form"' not in page.text and "data-member-role" not in page.text
            assert "eve@a.example" not in page.text and pending["id"] not in page.text
            assert 'href="/settings/mail"' not in page.text
            fragment = await client.get(f"/ui/projects/{project_id}/invites")
            assert fragment.status_code == 403
            mail = await client.get("/settings/mail")
            assert mail.status_code == 403 and "tenant admins" in mail.text
    finally:
        await viewer.aclose()
        await member.aclose()
    async with httpx.AsyncClient(base_url=hub.url) as anyone:
        res = await anyone.get("/team")
        assert res.status_code == 303 and res.headers["location"] == "/login"


async def test_invite_page_says_why_a_link_is_dead(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    issued = await invite(admin, project_id)
    token = token_of(issued["link"])
    async with httpx.AsyncClient(base_url=hub.url) as anyone:
        page = await anyone.get(f"/invite/{token}")
        assert page.status_code == 200 and 'id="accept-form"' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        res = await admin.delete(f"/api/v1/projects/{project_id}/invites/{issued['id']}")
        assert res.status_code == 204
        page = await anyone.get(f"/invite/{token}")
        assert page.status_code == 410 and "This invite was revoked" in page.text
        assert 'id="accept-form"' not in page.text
        page = await anyone.get("/invite/orcinv_made-up")
        assert page.status_code == 404 and "This invite link is not valid" in page.text
