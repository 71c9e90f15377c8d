from __future__ import annotations

import asyncio

import httpx

from tests.integration.hub_setup import PASSWORD, create_admin
from tests.integration.running_hub import RunningHub


async def test_login_sets_cookie_and_returns_bearer(hub: RunningHub) -> None:
    await create_admin(hub, "alice@a.example", "tenant-a")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        res = await client.post(
            "/api/v1/auth/login", json={"email": "Alice@A.example", "password": PASSWORD}
        )
        assert res.status_code == 200
        body = res.json()
        assert body["token_type"] == "bearer" and body["access_token"].startswith("orcu_")
        cookie = res.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookie if c.startswith("orc_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
        me = await client.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["email"] == "alice@a.example"


async def test_unknown_user_and_wrong_password_look_identical(hub: RunningHub) -> None:
    await create_admin(hub, "alice@a.example", "tenant-a")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": "nope"}
        )
        unknown = await client.post(
            "/api/v1/auth/login", json={"email": "bob@a.example", "password": "nope"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid email or password"}


async def test_login_is_throttled_per_account(hub: RunningHub) -> None:
    await create_admin(hub, "alice@a.example", "tenant-a")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        for _ in range(hub.settings.login_failures_per_account):
            res = await client.post(
                "/api/v1/auth/login", json={"email": "alice@a.example", "password": "bad"}
            )
            assert res.status_code == 401
        blocked = await client.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


async def test_cookie_writes_need_csrf_but_bearer_writes_do_not(hub: RunningHub) -> None:
    await create_admin(hub, "alice@a.example", "tenant-a")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
        no_csrf = await client.post("/api/v1/projects", json={"name": "p1"})
        assert no_csrf.status_code == 403
        assert "CSRF" in no_csrf.json()["detail"]
        ok = await client.post(
            "/api/v1/projects",
            json={"name": "p1"},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert ok.status_code == 201
    async with httpx.AsyncClient(base_url=hub.url) as api:
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        assert (await api.post("/api/v1/projects", json={"name": "p2"})).status_code == 201


async def test_logout_revokes_the_session(hub: RunningHub) -> None:
    await create_admin(hub, "alice@a.example", "tenant-a")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        client.cookies.clear()
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_concurrent_logins_cannot_overrun_the_account_budget(hub: RunningHub) -> None:
    """Every attempt claims its slot before the password is checked, so a burst that arrives
    together still gets at most the budget of 401s, the rest 429s."""
    await create_admin(hub, "alice@a.example", "tenant-a")
    limit = hub.settings.login_failures_per_account
    wrong = {"email": "alice@a.example", "password": "bad"}
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        burst = await asyncio.gather(
            *(client.post("/api/v1/auth/login", json=wrong) for _ in range(30))
        )
        codes = sorted(res.status_code for res in burst)
        assert codes == [401] * limit + [429] * (30 - limit)
        right = await client.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
    assert right.status_code == 429


async def test_concurrent_logins_cannot_overrun_the_ip_budget(hub: RunningHub) -> None:
    limit = hub.settings.login_failures_per_ip
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        burst = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/auth/login", json={"email": f"u{i}@a.example", "password": "bad"}
                )
                for i in range(limit + 10)
            )
        )
    assert sorted(res.status_code for res in burst) == [401] * limit + [429] * 10
