"""Any request on any replica: two hubs on one database (each with its own data dir, as on two
machines) share logins, CSRF tokens, the login throttle, second-factor challenges, invites and
idempotency keys, because all of it lives in the database or comes from the shared keys."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.hub_setup import PASSWORD
from tests.integration.invite_support import NEW, accept, invite, token_of
from tests.integration.running_hub import RunningHub, make_settings, serving
from tests.integration.totp_support import challenge_for, enable, second_step

EMAIL = "alice@a.example"
# What ORCHESTRATIA_ENCRYPTION_KEYS gives every replica: the TOTP secret sealed by one replica
# must open on the other.
KEYS = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"encryption_keys": KEYS, "login_failures_per_account": 5}


async def _login(url: str, email: str = EMAIL, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_a_login_on_one_replica_works_on_the_other(
    hub: RunningHub, replica_b: RunningHub, admin: httpx.AsyncClient
) -> None:
    res = await _login(hub.url)
    assert res.status_code == 200, res.text
    bearer = {"Authorization": f"Bearer {res.json()['access_token']}"}
    async with httpx.AsyncClient(base_url=replica_b.url, timeout=10, headers=bearer) as b:
        me = await b.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["email"] == EMAIL
        # Logging out on B ends the login everywhere.
        assert (await b.post("/api/v1/auth/logout")).status_code in (200, 204)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, headers=bearer) as a:
        assert (await a.get("/api/v1/auth/me")).status_code == 401


async def test_a_csrf_token_from_one_replica_is_accepted_by_the_other(
    hub: RunningHub, replica_b: RunningHub, admin: httpx.AsyncClient
) -> None:
    res = await _login(hub.url)
    assert res.status_code == 200, res.text
    cookies = {"orc_session": res.cookies["orc_session"]}
    csrf = res.json()["csrf_token"]
    async with httpx.AsyncClient(base_url=replica_b.url, timeout=10, cookies=cookies) as b:
        refused = await b.post("/api/v1/projects", json={"name": "no token"})
        assert refused.status_code == 403, refused.text
        made = await b.post(
            "/api/v1/projects", json={"name": "from b"}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 201, made.text


async def test_a_replica_with_another_secret_key_refuses_the_csrf_token(
    hub: RunningHub, database_url: str, tmp_path: Path, admin: httpx.AsyncClient
) -> None:
    """Why every replica needs the same ORCHESTRATIA_SECRET_KEY: CSRF tokens are signed with it."""
    res = await _login(hub.url)
    cookies = {"orc_session": res.cookies["orc_session"]}
    stray = make_settings(database_url, tmp_path / "stray", secret_key="another-key")
    async with (
        serving(stray) as other,
        httpx.AsyncClient(base_url=other.url, timeout=10, cookies=cookies) as client,
    ):
        refused = await client.post(
            "/api/v1/projects",
            json={"name": "x"},
            headers={"X-CSRF-Token": res.json()["csrf_token"]},
        )
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


async def test_failed_logins_on_both_replicas_add_up_to_one_throttle(
    hub: RunningHub, replica_b: RunningHub, admin: httpx.AsyncClient
) -> None:
    for url in (hub.url, replica_b.url, hub.url, replica_b.url, hub.url):
        res = await _login(url, password="wrong password")
        assert res.status_code == 401, res.text
    for url in (replica_b.url, hub.url):
        locked = await _login(url)  # the right password, but the account's budget is spent
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["Retry-After"]) > 0


async def test_a_second_factor_challenge_from_one_replica_opens_on_the_other(
    hub: RunningHub, replica_b: RunningHub, admin: httpx.AsyncClient
) -> None:
    totp = await enable(admin)  # its secret sealed by replica A
    async with (
        httpx.AsyncClient(base_url=hub.url, timeout=10) as a,
        httpx.AsyncClient(base_url=replica_b.url, timeout=10) as b,
    ):
        challenge = await challenge_for(a, EMAIL)
        res = await second_step(b, challenge, totp.next_code())
        assert res.status_code == 200, res.text
        assert (await b.get("/api/v1/auth/me")).json()["email"] == EMAIL
        # Spent on B: A does not take it again.
        again = await second_step(a, challenge, totp.recovery_codes[0])
        assert again.status_code == 401, again.text


async def test_an_idempotency_key_used_on_one_replica_replays_on_the_other(
    hub: RunningHub, replica_b: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    body = {"project_id": project_id, "title": "JIRA-9", "external_ref": "JIRA-9"}
    first = await admin.post("/api/v1/tasks", json=body)
    assert first.status_code == 201, first.text
    async with httpx.AsyncClient(
        base_url=replica_b.url,
        timeout=10,
        headers={"Authorization": admin.headers["Authorization"]},
    ) as b:
        replay = await b.post("/api/v1/tasks", json=body)
        assert replay.status_code == 200, replay.text
        assert replay.json()["id"] == first.json()["id"]
        listed = await b.get("/api/v1/tasks", params={"project_id": project_id})
        assert [t["id"] for t in listed.json()["tasks"]] == [first.json()["id"]]


async def test_a_postgres_hub_says_at_start_which_keys_only_its_data_dir_holds(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orchestratia.hub.app")
    async with serving(make_settings(database_url, tmp_path / "lone")):
        pass
    said = [r.getMessage() for r in caplog.records if "every replica" in r.getMessage()]
    if database_url.startswith("postgresql"):
        # The tests set the secret key but leave the encryption keys to the data dir.
        assert len(said) == 1 and "ORCHESTRATIA_ENCRYPTION_KEYS" in said[0], said
        assert "ORCHESTRATIA_SECRET_KEY" not in said[0]
    else:
        assert said == []


async def test_an_invite_made_on_one_replica_is_accepted_once_on_either(
    hub: RunningHub, replica_b: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    token = token_of((await invite(admin, project_id))["link"])
    res = await accept(replica_b, token, password=PASSWORD)
    assert res.status_code == 200, res.text
    again = await accept(hub, token, password=PASSWORD)
    assert again.status_code == 410, again.text
    assert (await _login(hub.url, NEW)).status_code == 200
