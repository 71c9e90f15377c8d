"""A user's own preferences (``/api/v1/auth/preferences``): the browser-notification switch."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.hub_setup import PASSWORD, cast_of
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub

URL = "/api/v1/auth/preferences"


async def _setting(client: httpx.AsyncClient) -> bool:
    res = await client.get(URL)
    assert res.status_code == 200, res.text
    value = res.json()["browser_notifications"]
    assert isinstance(value, bool)
    return value


async def test_on_by_default_turned_off_and_on_again_audited(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    assert await _setting(admin) is True
    res = await admin.put(URL, json={"browser_notifications": False})
    assert res.status_code == 200, res.text
    assert res.json() == {"browser_notifications": False}
    assert await _setting(admin) is False
    # Saying it again changes nothing and records nothing.
    assert (await admin.put(URL, json={"browser_notifications": False})).status_code == 200
    assert (await admin.put(URL, json={"browser_notifications": True})).status_code == 200
    assert await _setting(admin) is True
    audit = await admin.get("/api/v1/audit", params={"action": "user.preferences_changed"})
    rows = audit.json()["events"]
    assert [r["details"]["browser_notifications"] for r in rows] == [True, False]
    me = (await admin.get("/api/v1/auth/me")).json()
    assert {r["target_id"] for r in rows} == {me["id"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "browser_notifications"),
        ({"browser_notifications": "false"}, "browser_notifications"),
        ({"browser_notifications": 0}, "browser_notifications"),
        ({"browser_notifications": None}, "browser_notifications"),
        ({"browser_notifications": True, "theme": "dark"}, "theme"),
    ],
)
async def test_bad_bodies_are_refused_naming_the_field(
    hub: RunningHub, admin: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    res = await admin.put(URL, json=body)
    assert res.status_code == 422, res.text
    assert field in res.text
    assert await _setting(admin) is True


async def test_each_user_changes_only_their_own(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with cast_of(hub, admin, project_id) as cast:
        everyone = (cast.owner, cast.member, cast.viewer, cast.outsider, cast.other_tenant)
        for client in everyone:
            # Every role sets its own switch, a viewer's and an outsider's included.
            res = await client.put(URL, json={"browser_notifications": False})
            assert res.status_code == 200, res.text
            assert await _setting(client) is False
        # None of them reached the admin's.
        assert await _setting(admin) is True


async def test_keys_read_but_never_change_it(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    key = (await make_key(admin, ["tasks:read"]))["key"]
    async with key_client(hub, key) as api:
        assert (await api.get(URL)).json() == {"browser_notifications": True}
        refused = await api.put(URL, json={"browser_notifications": False})
        assert refused.status_code == 403
        assert "login" in refused.json()["detail"]
    assert await _setting(admin) is True


async def test_a_cookie_login_needs_csrf_and_logged_out_gets_401(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as browser:
        login = await browser.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
        assert login.status_code == 200
        no_csrf = await browser.put(URL, json={"browser_notifications": False})
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
        ok = await browser.put(
            URL,
            json={"browser_notifications": False},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert ok.status_code == 200
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as nobody:
        assert (await nobody.get(URL)).status_code == 401
        assert (await nobody.put(URL, json={"browser_notifications": True})).status_code == 401
    assert await _setting(admin) is False


async def test_the_security_page_shows_the_switch_as_set(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as browser:
        login = await browser.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
        assert login.status_code == 200
        toggle = re.compile(r'<input type="checkbox" id="notify-toggle"( checked)?>')
        for wanted in (True, False):
            await admin.put(URL, json={"browser_notifications": wanted})
            page = await browser.get("/account")
            found = toggle.search(page.text)
            assert found is not None, page.text
            assert (found.group(1) is not None) is wanted
            assert '<link rel="manifest" href="/manifest.webmanifest">' in page.text
