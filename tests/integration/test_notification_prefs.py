"""Notification preferences (``/api/v1/account/notifications``): which events reach a user by
Telegram and by email; defaults, changes (audited), refusals, API keys and tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from orchestratia.protocol.integration_events import DEFAULT_NOTIFY, NOTIFIABLE_EVENTS
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import add_user, tenant_b
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub
from tests.mail_catcher import mail_catcher

URL = "/api/v1/account/notifications"
DEFAULTS = {
    "telegram": list(DEFAULT_NOTIFY["telegram"]),
    "email": list(DEFAULT_NOTIFY["email"]),
    "telegram_linked": [],
    "email_available": False,
}


async def _prefs(client: httpx.AsyncClient) -> dict[str, object]:
    res = await client.get(URL)
    assert res.status_code == 200, res.text
    body: dict[str, object] = res.json()
    return body


@pytest.fixture
def hub_overrides() -> dict[str, object]:
    """A mail server on 127.0.0.1 (the catcher) makes email available."""
    return {"smtp_allow_private": True}


async def test_defaults_then_changes_are_stored_per_channel_and_audited(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    assert await _prefs(admin) == DEFAULTS
    res = await admin.put(URL, json={"email": ["task.completed", "intervention.created"]})
    assert res.status_code == 200, res.text
    # Stored in the canonical order; the channel left out keeps its defaults.
    assert res.json()["email"] == ["intervention.created", "task.completed"]
    assert res.json()["telegram"] == DEFAULTS["telegram"]
    res = await admin.put(URL, json={"telegram": [], "email": []})
    assert res.status_code == 200, res.text
    assert await _prefs(admin) == {**DEFAULTS, "telegram": [], "email": []}
    # The same again records nothing.
    assert (await admin.put(URL, json={"telegram": []})).status_code == 200
    rows = await audit_rows(hub, "user.notifications_changed")
    assert [r.details for r in rows] == [
        {"email": ["intervention.created", "task.completed"]},
        {"telegram": [], "email": []},
    ]
    me = (await admin.get("/api/v1/auth/me")).json()["id"]
    assert {r.target_id for r in rows} == {me}
    with mail_catcher() as catcher:
        assert (await admin.put("/api/v1/settings/mail", json=catcher.settings())).is_success
    assert (await _prefs(admin))["email_available"] is True


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"email": ["task.created"]}, "task.created"),
        ({"telegram": ["nonsense"]}, "nonsense"),
        ({"email": ["task.failed", "task.failed"]}, "listed twice"),
        ({"email": "task.failed"}, "email"),
        ({"email": [1]}, "email"),
        ({"sms": []}, "sms"),
        ({"email": ["task.failed"] * 11}, "email"),
    ],
)
async def test_bad_input_is_422_naming_the_problem(
    hub: RunningHub, admin: httpx.AsyncClient, body: dict[str, object], named: str
) -> None:
    res = await admin.put(URL, json=body)
    assert res.status_code == 422, res.text
    assert named in res.text
    assert await _prefs(admin) == DEFAULTS
    assert await audit_rows(hub, "user.notifications_changed") == []


async def test_each_user_has_their_own_and_no_one_reaches_another(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    member = await add_user(hub, admin, "mia@a.example", project_id, "member")
    bob = await tenant_b(hub)
    try:
        everything = list(NOTIFIABLE_EVENTS)
        assert (await admin.put(URL, json={"email": everything})).status_code == 200
        assert (await bob.put(URL, json={"email": []})).status_code == 200
        assert (await member.put(URL, json={"telegram": ["task.failed"]})).status_code == 200
        assert (await _prefs(admin))["email"] == everything
        assert (await _prefs(admin))["telegram"] == DEFAULTS["telegram"]
        assert (await _prefs(bob))["email"] == []
        assert (await _prefs(member)) == {**DEFAULTS, "telegram": ["task.failed"]}
        # There is no way to name another user: ids in the path or body are not routes/fields.
        alice = (await admin.get("/api/v1/auth/me")).json()["id"]
        assert (await bob.get(f"{URL}/{alice}")).status_code in (404, 405)
        res = await bob.put(URL, json={"user_id": alice, "email": []})
        assert res.status_code == 422
        assert (await _prefs(admin))["email"] == everything
    finally:
        await member.aclose()
        await bob.aclose()


async def test_api_keys_read_but_only_a_login_changes(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    key = await make_key(admin, ["tasks:read"])
    async with key_client(hub, key["key"]) as client:
        assert await _prefs(client) == DEFAULTS
        res = await client.put(URL, json={"email": []})
        assert res.status_code == 403, res.text
    assert await _prefs(admin) == DEFAULTS
    anonymous = httpx.AsyncClient(base_url=hub.url, timeout=10)
    async with anonymous:
        assert (await anonymous.get(URL)).status_code == 401
        assert (await anonymous.put(URL, json={"email": []})).status_code == 401
