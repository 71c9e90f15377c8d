"""Invites into a project: issued by its owners, accepted once by the person invited (a new account
with a password, or an existing user logged in as that address), refused precisely otherwise."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from orchestratia.hub.db.models import Tenant
from orchestratia.hub.db.team_models import Invite
from orchestratia.hub.db.types import utcnow
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import PASSWORD, add_user, tenant_b
from tests.integration.invite_support import NEW, accept, invite, invites_url, token_of
from tests.integration.running_hub import RunningHub


async def test_a_new_address_sets_a_password_and_is_logged_in(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    issued = await invite(admin, project_id, "Nia@A.example", "member")
    assert issued["email"] == NEW and issued["role"] == "member"
    assert issued["emailed"] is False and "no mail server" in issued["mail_error"]
    assert issued["link"].startswith(hub.url + "/invite/orcinv_")
    token = token_of(issued["link"])
    assert [i["id"] for i in (await admin.get(invites_url(project_id))).json()] == [issued["id"]]

    async with httpx.AsyncClient(base_url=hub.url) as anyone:
        info = (await anyone.get(f"/api/v1/invites/{token}")).json()
    assert info["project_name"] == "alpha" and info["role"] == "member"
    assert info["email"] == NEW and info["has_account"] is False
    assert info["invited_by"] == "alice@a.example"

    res = await accept(hub, token)
    assert res.status_code == 422 and "password" in res.text
    assert (await accept(hub, token, password="short")).status_code == 422
    res = await accept(hub, token, password=PASSWORD)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["role"] == "member" and body["email"] == NEW
    assert "orc_session" in res.cookies and "orc_csrf" in res.cookies
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as nia:
        project = (await nia.get(f"/api/v1/projects/{project_id}")).json()
    assert project["role"] == "member"
    assert (await admin.get(invites_url(project_id))).json() == []

    # The link works once: opened or accepted again, it says it was used.
    again = await accept(hub, token, password=PASSWORD)
    assert again.status_code == 410 and "already used" in again.json()["detail"]
    async with httpx.AsyncClient(base_url=hub.url) as anyone:
        assert (await anyone.get(f"/api/v1/invites/{token}")).status_code == 410
    [created] = await audit_rows(hub, "invite.created")
    assert created.details == {"email": NEW, "role": "member"}
    [accepted] = await audit_rows(hub, "invite.accepted")
    assert accepted.target_id == issued["id"] and accepted.actor_id == NEW


async def test_two_concurrent_accepts_make_one_account(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = token_of((await invite(admin, project_id))["link"])
    results = await asyncio.gather(*(accept(hub, token, password=PASSWORD) for _ in range(4)))
    statuses = sorted(r.status_code for r in results)
    # The losers are told the link was used (410), or, when they looked after the winner's
    # commit, that the account now exists (401: log in) or was made meanwhile (409).
    assert statuses[0] == 200 and set(statuses[1:]) <= {401, 409, 410}, statuses
    assert len(await audit_rows(hub, "invite.accepted")) == 1


async def test_resent_revoked_and_expired_links_are_refused(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    first = await invite(admin, project_id)
    res = await admin.post(f"{invites_url(project_id)}/{first['id']}/resend")
    assert res.status_code == 200, res.text
    second = res.json()
    assert second["id"] == first["id"] and second["link"] != first["link"]
    old = await accept(hub, token_of(first["link"]), password=PASSWORD)
    assert old.status_code == 404 and "not valid" in old.json()["detail"]

    assert (await admin.delete(f"{invites_url(project_id)}/{first['id']}")).status_code == 204
    revoked = await accept(hub, token_of(second["link"]), password=PASSWORD)
    assert revoked.status_code == 410 and "revoked" in revoked.json()["detail"]
    assert (await admin.delete(f"{invites_url(project_id)}/{first['id']}")).status_code == 404

    third = await invite(admin, project_id)
    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(Invite)
            .where(Invite.id == third["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    expired = await accept(hub, token_of(third["link"]), password=PASSWORD)
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    # Resending an expired invite brings it back with a new link.
    res = await admin.post(f"{invites_url(project_id)}/{third['id']}/resend")
    assert res.status_code == 200, res.text
    assert (await accept(hub, token_of(res.json()["link"]), password=PASSWORD)).status_code == 200
    actions = [e.action for e in await audit_rows(hub) if e.action.startswith("invite.")]
    assert actions == [
        "invite.created",
        "invite.resent",
        "invite.revoked",
        "invite.created",
        "invite.resent",
        "invite.accepted",
    ]


async def test_an_existing_user_joins_when_logged_in_as_the_invited_address(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    mia = await add_user(hub, admin, "mia@a.example")
    other = await add_user(hub, admin, "otto@a.example")
    bob = await tenant_b(hub)
    try:
        token = token_of((await invite(admin, project_id, "mia@a.example", "viewer"))["link"])
        async with httpx.AsyncClient(base_url=hub.url) as anyone:
            info = (await anyone.get(f"/api/v1/invites/{token}")).json()
        assert info["has_account"] is True
        res = await accept(hub, token, password=PASSWORD)
        assert res.status_code == 401 and "log in as mia@a.example" in res.json()["detail"]
        res = await other.post("/api/v1/invites/accept", json={"token": token})
        assert res.status_code == 403 and "logged in as otto@a.example" in res.json()["detail"]
        res = await mia.post("/api/v1/invites/accept", json={"token": token})
        assert res.status_code == 200, res.text
        assert res.json()["access_token"] is None
        assert (await mia.get(f"/api/v1/projects/{project_id}")).json()["role"] == "viewer"

        # An address of another organisation cannot be brought in.
        token = token_of((await invite(admin, project_id, "bob@b.example"))["link"])
        res = await bob.post("/api/v1/invites/accept", json={"token": token})
        assert res.status_code == 409 and "another organisation" in res.json()["detail"]
        # Someone already in the project is not invited again.
        res = await admin.post(
            invites_url(project_id), json={"email": "mia@a.example", "role": "owner"}
        )
        assert res.status_code == 409 and "already a member" in res.json()["detail"]
    finally:
        for client in (mia, other, bob):
            await client.aclose()


async def test_seats_of_the_plan_bound_invites(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with hub.state.sessionmaker() as db:
        await db.execute(update(Tenant).values(plan="free"))  # 3 seats; alice holds one
        await db.commit()
    await invite(admin, project_id, "one@a.example")
    await invite(admin, project_id, "two@a.example")
    res = await admin.post(
        invites_url(project_id), json={"email": "six@a.example", "role": "viewer"}
    )
    assert res.status_code == 402 and "allows 3 seats" in res.json()["detail"]
    # Inviting someone again replaces their pending invite and takes no new seat.
    again = await invite(admin, project_id, "one@a.example", "viewer")
    listed = (await admin.get(invites_url(project_id))).json()
    assert [i["email"] for i in listed] == ["one@a.example", "two@a.example"]
    assert listed[0]["id"] == again["id"] and listed[0]["role"] == "viewer"
    # A revoked invite gives its seat back.
    assert (await admin.delete(f"{invites_url(project_id)}/{again['id']}")).status_code == 204
    await invite(admin, project_id, "six@a.example")


async def test_invite_routes_are_for_owners_of_the_tenant(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    issued = await invite(admin, project_id)
    member = await add_user(hub, admin, "mem@a.example", project_id, "member")
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    bob = await tenant_b(hub)
    one = f"{invites_url(project_id)}/{issued['id']}"
    body = {"email": "x@a.example", "role": "viewer"}
    try:
        for client, status in ((member, 403), (viewer, 403), (bob, 404)):
            assert (await client.post(invites_url(project_id), json=body)).status_code == status
            assert (await client.get(invites_url(project_id))).status_code == status
            assert (await client.post(f"{one}/resend")).status_code == status
            assert (await client.delete(one)).status_code == status
        # Bob's own project does not reach alice's invites either.
        res = await bob.post("/api/v1/projects", json={"name": "beta"})
        assert res.status_code == 201, res.text
        beta = res.json()["id"]
        assert (await bob.post(f"{invites_url(beta)}/{issued['id']}/resend")).status_code == 404
        assert (await bob.delete(f"{invites_url(beta)}/{issued['id']}")).status_code == 404
        assert (await bob.get(invites_url(beta))).json() == []
        # Untouched by all of the above.
        assert [i["id"] for i in (await admin.get(invites_url(project_id))).json()] == [
            issued["id"]
        ]
    finally:
        for client in (member, viewer, bob):
            await client.aclose()


@pytest.mark.parametrize(
    "body",
    [
        {"email": NEW, "role": "root"},
        {"email": "not-an-address", "role": "member"},
        {"email": "two@@a.example", "role": "member"},
        {"email": "a" * 320 + "@a.example", "role": "member"},
        {"email": NEW, "role": "member", "extra": 1},
        {"email": NEW},
        {"email": NEW + "\x00", "role": "member"},
    ],
)
async def test_bad_invites_are_422(
    admin: httpx.AsyncClient, project_id: str, body: dict[str, Any]
) -> None:
    res = await admin.post(invites_url(project_id), json=body)
    assert res.status_code == 422, res.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"token": "orcinv_never-issued", "password": PASSWORD}, 404),
        ({"token": "x" * 201, "password": PASSWORD}, 422),
        ({"token": ""}, 422),
        ({"token": "orcinv_x", "password": "p" * 1025}, 422),
        ({"password": PASSWORD}, 422),
    ],
)
async def test_bad_accepts_are_precise(hub: RunningHub, body: dict[str, Any], status: int) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anyone:
        res = await anyone.post("/api/v1/invites/accept", json=body)
        assert res.status_code == status, res.text
        assert (await anyone.get("/api/v1/invites/" + "x" * 5000)).status_code == 404


async def test_unknown_invite_ids_are_404(admin: httpx.AsyncClient, project_id: str) -> None:
    assert (await admin.post(f"{invites_url(project_id)}/nope/resend")).status_code == 404
    assert (await admin.delete(f"{invites_url(project_id)}/nope")).status_code == 404
    assert (await admin.get(invites_url("nope"))).status_code == 404
