"""Browser sockets are bound to the login and role that opened them: logout, expiry, a password
change, removal from the project and demotion close or downgrade them within a second, and an
expiring share link closes its viewers."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import update

from orchestratia.hub.db.models import ShareLink
from orchestratia.hub.db.types import utcnow
from tests.integration.helpers import (
    ViewerClient,
    audit_rows,
    closed_within,
    dashboard_socket,
    login_cookie,
    recv_json,
    viewer_refusal,
)
from tests.integration.hub_setup import PASSWORD, add_user, bearer_client, tenant_b
from tests.integration.key_support import make_key
from tests.integration.viewer_support import ALICE, MIA, Live, member

AT_ONCE = 1.0  # seconds a revocation may take to reach an open socket


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60}  # fake daemons don't heartbeat


async def _typed(live: Live, viewer: ViewerClient, text: str) -> None:
    """``text`` typed in the viewer reaches the daemon: the viewer is live and driving."""
    await viewer.send({"type": "input", "data": text})
    frame = await live.daemon.expect("session_input", session_id=live.session_id)
    assert base64.b64decode(frame["data"]) == text.encode()


async def _read_only_control(viewer: ViewerClient, deadline: float) -> dict[str, Any]:
    """The first ``control`` frame that makes this viewer read-only, by ``deadline``."""
    while True:
        control = await viewer.expect("control", timeout=max(0.0, deadline - time.monotonic()))
        if control["read_only"]:
            return control


async def test_logout_closes_the_sockets_of_that_login(live: Live) -> None:
    async with (
        live.viewer(resume=0) as viewer,
        dashboard_socket(live.hub, live.cookie, live.project_id) as dash,
    ):
        await _typed(live, viewer, "before")
        async with httpx.AsyncClient(base_url=live.hub.url) as client:
            res = await client.post(
                "/api/v1/auth/logout", headers={"Authorization": f"Bearer {live.cookie}"}
            )
            assert res.status_code == 204, res.text
        assert await closed_within(viewer.ws, AT_ONCE) == 4401
        assert await closed_within(dash, AT_ONCE) == 4401
    # Another login of the same user is untouched.
    assert (await live.admin.get("/api/v1/auth/me")).status_code == 200


async def test_expiry_closes_the_sockets_at_the_logins_expiry(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 3.0
    monkeypatch.setattr(live.hub.state.settings, "session_ttl_hours", ttl / 3600)
    logged_in = time.monotonic()
    cookie = await login_cookie(live.hub, ALICE)
    async with (
        live.viewer(resume=0, cookie=cookie) as viewer,
        dashboard_socket(live.hub, cookie, live.project_id) as dash,
    ):
        await _typed(live, viewer, "while logged in")
        deadline = logged_in + ttl + AT_ONCE
        assert await closed_within(viewer.ws, deadline - time.monotonic()) == 4401
        assert await closed_within(dash, deadline - time.monotonic()) == 4401
        assert time.monotonic() - logged_in > ttl - 0.5, "closed before the login expired"


async def test_password_change_closes_the_users_other_logins(live: Live) -> None:
    new_password = "a much better passphrase"
    async with (
        live.viewer(resume=0) as viewer,
        dashboard_socket(live.hub, live.cookie, live.project_id) as dash,
    ):
        await _typed(live, viewer, "before")
        wrong = await live.admin.post(
            "/api/v1/auth/password",
            json={"current_password": "not it", "new_password": new_password},
        )
        assert wrong.status_code == 403, wrong.text
        await _typed(live, viewer, "still mine")
        res = await live.admin.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": new_password},
        )
        assert res.status_code == 204, res.text
        assert await closed_within(viewer.ws, AT_ONCE) == 4401
        assert await closed_within(dash, AT_ONCE) == 4401
    # The login that changed it stays; the others are gone; only the new password logs in.
    assert (await live.admin.get("/api/v1/auth/me")).status_code == 200
    assert await viewer_refusal(live.hub, live.session_id, live.cookie) == 4401
    async with httpx.AsyncClient(base_url=live.hub.url) as client:
        old = await client.post("/api/v1/auth/login", json={"email": ALICE, "password": PASSWORD})
        assert old.status_code == 401
        new = await client.post(
            "/api/v1/auth/login", json={"email": ALICE, "password": new_password}
        )
        assert new.status_code == 200
    [event] = await audit_rows(live.hub, "auth.password_changed")
    assert event.details == {"logins_revoked": 1}


@pytest.mark.parametrize("body", [{}, {"current_password": PASSWORD, "new_password": "short"}])
async def test_password_change_needs_a_valid_body(live: Live, body: dict[str, Any]) -> None:
    res = await live.admin.post("/api/v1/auth/password", json=body)
    assert res.status_code == 422, res.text


async def test_removal_closes_the_members_sockets(live: Live) -> None:
    user_id, cookie = await member(live, "member")
    headers = {"Authorization": f"Bearer {cookie}"}
    async with httpx.AsyncClient(base_url=live.hub.url, headers=headers) as mia:
        key = (await make_key(mia))["key"]
    async with (
        live.viewer(resume=0, cookie=cookie) as viewer,
        dashboard_socket(live.hub, cookie, live.project_id) as dash,
    ):
        await _typed(live, viewer, "as a member")
        res = await live.admin.delete(f"/api/v1/projects/{live.project_id}/members/{user_id}")
        assert res.status_code == 204, res.text
        assert await closed_within(viewer.ws, AT_ONCE) == 4403
        assert await closed_within(dash, AT_ONCE) == 4403
    assert await viewer_refusal(live.hub, live.session_id, cookie) == 4401
    [event] = await audit_rows(live.hub, "project.member_removed")
    assert event.target_id == user_id and event.details == {"role": "member"}
    await _nothing_of_the_project_answers(live, cookie)
    await _nothing_of_the_project_answers(live, key)


async def _nothing_of_the_project_answers(live: Live, bearer: str) -> None:
    """Every API call about the project with this login or API key is refused (404: it hides
    the project), reads and writes alike, and the project is gone from the person's list."""
    pid, sid = live.project_id, live.session_id
    headers = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=live.hub.url, headers=headers) as client:
        calls = [
            ("GET", f"/api/v1/projects/{pid}", None),
            ("GET", f"/api/v1/projects/{pid}/members", None),
            ("GET", f"/api/v1/projects/{pid}/activity", None),
            ("GET", f"/api/v1/sessions?project_id={pid}", None),
            ("GET", f"/api/v1/sessions/{sid}", None),
            ("GET", f"/api/v1/sessions/{sid}/output", None),
            ("POST", f"/api/v1/sessions/{sid}/share", {}),
            ("POST", f"/api/v1/sessions/{sid}/kill", None),
            ("GET", f"/api/v1/servers?project_id={pid}", None),
            ("GET", f"/api/v1/tasks?project_id={pid}", None),
            ("POST", "/api/v1/tasks", {"project_id": pid, "title": "sneak in", "spec": "x"}),
        ]
        for method, url, body in calls:
            res = await client.request(method, url, json=body)
            assert res.status_code == 404, (method, url, res.status_code, res.text)
        assert (await client.get("/api/v1/projects")).json() == {"projects": []}


@pytest.mark.parametrize("route", ["patch", "post"])
async def test_demotion_to_viewer_makes_the_terminal_watch_only(
    live: Live, route: Literal["patch", "post"]
) -> None:
    user_id, cookie = await member(live, "member")
    async with (
        live.viewer(resume=0, cookie=cookie) as viewer,
        dashboard_socket(live.hub, cookie, live.project_id) as dash,
    ):
        await _typed(live, viewer, "as a member")
        members = f"/api/v1/projects/{live.project_id}/members"
        if route == "patch":
            res = await live.admin.patch(f"{members}/{user_id}", json={"role": "viewer"})
            assert res.status_code == 200, res.text
        else:
            res = await live.admin.post(members, json={"email": MIA, "role": "viewer"})
            assert res.status_code == 201, res.text
        assert res.json() == {"user_id": user_id, "email": MIA, "role": "viewer"}
        control = await _read_only_control(viewer, time.monotonic() + AT_ONCE)
        assert control["you"] is False
        assert control["driver"] is None

        # Typing, resizing and taking the lock are refused; nothing reaches the daemon.
        await viewer.send({"type": "input", "data": "rm -rf /\r"})
        assert (await viewer.expect("error"))["code"] == "not_driver"
        await viewer.send({"type": "resize", "cols": 20, "rows": 5})
        assert (await viewer.expect("error"))["code"] == "not_driver"
        await viewer.send({"type": "take_control"})
        assert (await viewer.expect("error"))["code"] == "read_only"
        await live.daemon.barrier()
        assert live.daemon.received("session_input") == []
        assert live.daemon.received("session_resize") == []

        # Watching still works, on the terminal and the dashboard.
        await live.daemon.stream(live.session_id, b"still watching\r\n")
        await viewer.read_to(len(b"still watching\r\n"))
        await live.daemon.send({"type": "heartbeat", "system_info": {"cpu_percent": 5.0}})
        # The snapshot sent on subscribing comes first; then the live update. Activity states of
        # the sessions grid (working, idle) may come in between: they are not what this checks.
        frames: list[dict[str, Any]] = []
        while len(frames) < 2:
            frame = await recv_json(dash)
            if frame["type"] != "session_activity":
                frames.append(frame)
        assert [f["type"] for f in frames] == ["server_update"] * 2, frames
        assert frames[1]["server"]["system_info"] == {"cpu_percent": 5.0}


async def test_share_link_expiry_closes_its_viewer(live: Live) -> None:
    await live.daemon.stream(live.session_id, b"shared\r\n")
    res = await live.admin.post(f"/api/v1/sessions/{live.session_id}/share", json={})
    assert res.status_code == 201, res.text
    link = res.json()
    lifetime = 2.0
    async with live.hub.state.sessionmaker() as db:
        await db.execute(
            update(ShareLink)
            .where(ShareLink.id == link["id"])
            .values(expires_at=utcnow() + timedelta(seconds=lifetime))
        )
        await db.commit()
    shortened = time.monotonic()
    async with live.viewer(resume=0, cookie=None, share=link["token"]) as guest:
        await guest.read_to(len(b"shared\r\n"))
        left = shortened + lifetime + AT_ONCE - time.monotonic()
        assert await closed_within(guest.ws, left) == 4401
        assert time.monotonic() - shortened > lifetime - 0.5, "closed before the link expired"


async def test_member_routes_are_for_owners_of_the_tenant(live: Live) -> None:
    user_id, _cookie = await member(live, "member")
    members = f"/api/v1/projects/{live.project_id}/members"
    viewer = await add_user(live.hub, live.admin, "vic@a.example", live.project_id, "viewer")
    mia = await bearer_client(live.hub, MIA)
    bob = await tenant_b(live.hub)
    try:
        me = (await live.admin.get("/api/v1/auth/me")).json()
        for client, status in ((mia, 403), (viewer, 403), (bob, 404)):
            res = await client.patch(f"{members}/{me['id']}", json={"role": "viewer"})
            assert res.status_code == status, res.text
            res = await client.delete(f"{members}/{me['id']}")
            assert res.status_code == status, res.text
        for body in ({"role": "root"}, {"role": "viewer", "extra": 1}, {}):
            res = await live.admin.patch(f"{members}/{user_id}", json=body)
            assert res.status_code == 422, res.text
        res = await live.admin.patch(f"{members}/nobody", json={"role": "viewer"})
        assert res.status_code == 404, res.text
        assert (await live.admin.delete(f"{members}/nobody")).status_code == 404
        # The project keeps an owner: its only owner can be neither demoted nor removed.
        res = await live.admin.patch(f"{members}/{me['id']}", json={"role": "member"})
        assert res.status_code == 409, res.text
        assert (await live.admin.delete(f"{members}/{me['id']}")).status_code == 409
        res = await live.admin.patch(f"{members}/{user_id}", json={"role": "owner"})
        assert res.status_code == 200, res.text
        # An owner who is not a tenant admin manages members too.
        res = await mia.patch(f"{members}/{me['id']}", json={"role": "member"})
        assert res.status_code == 200, res.text
        changes = await audit_rows(live.hub, "project.member_set")
        assert [(e.target_id, e.details) for e in changes[-2:]] == [
            (user_id, {"role": "owner", "previous_role": "member"}),
            (me["id"], {"role": "member", "previous_role": "owner"}),
        ]
        listed = (await live.admin.get(members)).json()
        assert {m["email"]: m["role"] for m in listed} == {
            ALICE: "member",
            MIA: "owner",
            "vic@a.example": "viewer",
        }
    finally:
        for client in (mia, viewer, bob):
            await client.aclose()
