"""The TOTP second factor through the REST API: enrolment, the two-step login, recovery codes,
replays, expiry, other users' challenges, disabling, the throttle, and bad input."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select, update

from orchestratia.hub.db.models import User
from orchestratia.hub.db.team_models import LoginChallenge, RecoveryCode
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.sealing import sealed_for
from orchestratia.hub.services.access import login_challenges
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import PASSWORD, add_user, create_admin
from tests.integration.running_hub import RunningHub
from tests.integration.totp_support import challenge_for, enable, second_step

RECOVERY_FORMAT = re.compile(r"^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{2}$")


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # The test client is its own proxy here, so a test can speak from another address.
    return {"trusted_proxies": ["127.0.0.1"]}


@pytest.fixture
async def anon(hub: RunningHub) -> Any:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        yield client


async def test_login_with_a_code_after_the_password(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    assert len(totp.recovery_codes) == 10 and len(set(totp.recovery_codes)) == 10
    assert all(RECOVERY_FORMAT.match(code) for code in totp.recovery_codes)
    status = (await admin.get("/api/v1/auth/totp")).json()
    assert status["enabled"] and status["recovery_codes_left"] == 10 and not status["pending"]

    challenge = await challenge_for(anon, "alice@a.example")
    assert (await anon.get("/api/v1/auth/me")).status_code == 401
    res = await second_step(anon, challenge, totp.next_code())
    assert res.status_code == 200, res.text
    assert res.json()["access_token"].startswith("orcu_")
    assert (await anon.get("/api/v1/auth/me")).json()["email"] == "alice@a.example"
    logins = await audit_rows(hub, "auth.login")
    assert logins[-1].details == {"second_factor": "totp"}
    # The challenge opened its login; it opens no other.
    again = await second_step(anon, challenge, totp.recovery_codes[0])
    assert again.status_code == 401 and "log in again" in again.json()["detail"]


async def test_a_code_is_not_accepted_twice(
    admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    # The step confirmed with is used: its code does not log in.
    replay = await second_step(
        anon, await challenge_for(anon, "alice@a.example"), totp.confirmed_with
    )
    assert replay.status_code == 401
    assert replay.json()["detail"] == "the code is wrong or was already used"
    ahead = totp.next_code()
    assert (await second_step(anon, await challenge_for(anon, "alice@a.example"), ahead)).is_success
    replay = await second_step(anon, await challenge_for(anon, "alice@a.example"), ahead)
    assert replay.status_code == 401


async def test_recovery_code_works_once(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    typed = totp.recovery_codes[3].upper().replace("-", " ")  # as people type them
    first = await second_step(anon, await challenge_for(anon, "alice@a.example"), typed)
    assert first.status_code == 200, first.text
    second = await second_step(anon, await challenge_for(anon, "alice@a.example"), typed)
    assert second.status_code == 401
    assert (await admin.get("/api/v1/auth/totp")).json()["recovery_codes_left"] == 9
    used = await audit_rows(hub, "auth.recovery_code_used")
    assert len(used) == 1 and used[0].details == {"recovery_codes_left": 9}
    assert (await audit_rows(hub, "auth.login"))[-1].details == {"second_factor": "recovery"}


async def test_expired_challenge_is_refused(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    challenge = await challenge_for(anon, "alice@a.example")
    async with hub.state.sessionmaker() as db:
        await db.execute(update(LoginChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    res = await second_step(anon, challenge, totp.next_code())
    assert res.status_code == 401 and "expired" in res.json()["detail"]
    async with hub.state.sessionmaker() as db:
        assert await login_challenges.prune(db) == 1


async def test_challenge_is_bound_to_the_address_that_typed_the_password(
    admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    challenge = await challenge_for(anon, "alice@a.example")
    elsewhere = await second_step(
        anon, challenge, totp.next_code(), **{"X-Forwarded-For": "203.0.113.9"}
    )
    assert elsewhere.status_code == 401 and "another address" in elsewhere.json()["detail"]
    assert (await second_step(anon, challenge, totp.next_code())).is_success


async def test_another_users_challenge_is_useless(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    alice = await enable(admin)
    await create_admin(hub, "bob@b.example", "tenant-b")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as bob_client:
        res = await bob_client.post(
            "/api/v1/auth/login", json={"email": "bob@b.example", "password": PASSWORD}
        )
        bob_client.cookies.clear()
        bob_client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
        bob = await enable(bob_client)
    bobs_challenge = await challenge_for(anon, "bob@b.example")
    # Alice's codes (TOTP or recovery) say nothing about Bob.
    for code in (alice.next_code(), alice.recovery_codes[0]):
        res = await second_step(anon, bobs_challenge, code)
        assert res.status_code == 401, res.text
    res = await second_step(anon, bobs_challenge, bob.next_code())
    assert res.status_code == 200
    assert (await anon.get("/api/v1/auth/me")).json()["email"] == "bob@b.example"


async def test_the_secret_is_sealed_in_the_database(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    async with hub.state.sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == "alice@a.example"))
        assert user is not None and user.totp_secret_enc is not None
        stored = user.totp_secret_enc
        hashes = list(await db.scalars(select(RecoveryCode.code_hash)))
    assert totp.secret not in stored and stored.startswith("v1.")
    aad = sealed_for("users", "totp_secret_enc", user.id)
    assert hub.state.keyring.open(stored, aad) == totp.secret
    assert len(hashes) == 10 and not set(hashes) & set(totp.recovery_codes)


async def test_a_secret_sealed_with_a_missing_key_is_a_503_naming_it(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    async with hub.state.sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == "alice@a.example"))
        assert user is not None and user.totp_secret_enc is not None
        # As if its key had been retired while a value still used it.
        user.totp_secret_enc = user.totp_secret_enc.replace(hub.state.keyring.current, "kgone", 1)
        await db.commit()
    challenge = await challenge_for(anon, "alice@a.example")
    res = await second_step(anon, challenge, totp.next_code())
    assert res.status_code == 503
    assert "'kgone'" in res.json()["detail"] and "encryption key" in res.json()["detail"]
    assert (await admin.get("/api/v1/auth/me")).status_code == 200


async def test_disable_requires_a_valid_code(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    wrong = await admin.post("/api/v1/auth/totp/disable", json={"code": "000000"})
    assert wrong.status_code == 403 and "wrong" in wrong.json()["detail"]
    used_step = await admin.post("/api/v1/auth/totp/disable", json={"code": totp.confirmed_with})
    assert used_step.status_code == 403
    assert (await audit_rows(hub, "auth.second_factor_failed"))[-1].target_type == "user"
    off = await admin.post("/api/v1/auth/totp/disable", json={"code": totp.recovery_codes[0]})
    assert off.status_code == 204
    async with hub.state.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(RecoveryCode)) == 0
        user = await db.scalar(select(User).where(User.email == "alice@a.example"))
        assert user is not None and user.totp_secret_enc is None
    res = await anon.post(
        "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
    )
    assert res.status_code == 200 and res.json()["access_token"].startswith("orcu_")
    assert [r.action for r in await audit_rows(hub) if r.action.startswith("auth.totp")] == [
        "auth.totp_enrolled",
        "auth.totp_enabled",
        "auth.totp_disabled",
    ]


async def test_states_that_do_not_allow_the_step(admin: httpx.AsyncClient) -> None:
    code = {"code": "123456"}
    not_pending = await admin.post("/api/v1/auth/totp/confirm", json=code)
    assert not_pending.status_code == 409 and "enrol first" in not_pending.json()["detail"]
    assert (await admin.post("/api/v1/auth/totp/disable", json=code)).status_code == 409
    assert (await admin.post("/api/v1/auth/totp/recovery-codes", json=code)).status_code == 409
    first = (await admin.post("/api/v1/auth/totp/enrol")).json()["secret"]
    replaced = (await admin.post("/api/v1/auth/totp/enrol")).json()["secret"]
    assert first != replaced
    stale = await admin.post("/api/v1/auth/totp/confirm", json={"code": pyotp.TOTP(first).now()})
    assert stale.status_code == 403
    assert (await admin.get("/api/v1/auth/totp")).json()["pending"] is True
    totp_on = await admin.post(
        "/api/v1/auth/totp/confirm", json={"code": pyotp.TOTP(replaced).now()}
    )
    assert totp_on.status_code == 200
    again = await admin.post("/api/v1/auth/totp/enrol")
    assert again.status_code == 409 and "disable it" in again.json()["detail"]


async def test_new_recovery_codes_replace_the_old(
    admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    totp = await enable(admin)
    res = await admin.post("/api/v1/auth/totp/recovery-codes", json={"code": totp.next_code()})
    assert res.status_code == 200
    fresh = res.json()["codes"]
    old = await second_step(
        anon, await challenge_for(anon, "alice@a.example"), totp.recovery_codes[0]
    )
    assert old.status_code == 401
    new = await second_step(anon, await challenge_for(anon, "alice@a.example"), fresh[0])
    assert new.status_code == 200


async def test_wrong_codes_are_throttled(
    hub: RunningHub, admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    await enable(admin)
    budget = hub.settings.login_failures_per_account
    challenge = await challenge_for(anon, "alice@a.example")  # spends one slot until a code works
    for _ in range(budget - 1):
        assert (await second_step(anon, challenge, "000000")).status_code == 401
    locked = await second_step(anon, challenge, "000000")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # The account's budget covers the account pages too: a stolen login cannot guess either.
    account = await admin.post("/api/v1/auth/totp/disable", json={"code": "000000"})
    assert account.status_code == 429


@pytest.mark.parametrize(
    "body",
    [
        {"code": "12345"},
        {"code": "1" * 33},
        {"code": "12345\u0000"},
        {"code": "12;456"},
        {"code": 123456},
        {},
        {"code": "123456", "extra": 1},
    ],
)
async def test_bad_codes_are_precise_4xx(admin: httpx.AsyncClient, body: dict[str, Any]) -> None:
    for path in ("confirm", "disable", "recovery-codes"):
        res = await admin.post(f"/api/v1/auth/totp/{path}", json=body)
        assert res.status_code == 422, (path, res.text)


async def test_bad_challenges_are_precise_4xx(anon: httpx.AsyncClient) -> None:
    garbage = await second_step(anon, "orcmfa_nothing", "123456")
    assert garbage.status_code == 401
    for body in ({"challenge": "", "code": "123456"}, {"challenge": "x" * 129, "code": "123456"}):
        res = await anon.post("/api/v1/auth/login/second-factor", json=body)
        assert res.status_code == 422, res.text
    for path in ("", "/enrol", "/confirm", "/disable", "/recovery-codes"):
        res = await anon.request(
            "GET" if not path else "POST", f"/api/v1/auth/totp{path}", json={"code": "123456"}
        )
        assert res.status_code == 401, (path, res.text)


async def test_every_user_manages_only_their_own(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    try:
        await enable(viewer)  # a viewer is read-only on projects, not on their own account
        assert (await admin.get("/api/v1/auth/totp")).json()["enabled"] is False
        async with hub.state.sessionmaker() as db:
            owners = set(await db.scalars(select(RecoveryCode.user_id)))
            vic = await db.scalar(select(User.id).where(User.email == "vic@a.example"))
        assert owners == {vic}
    finally:
        await viewer.aclose()
