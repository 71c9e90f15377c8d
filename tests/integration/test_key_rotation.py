"""``orchestratia hub rotate-keys``: interrupted half-way and re-run, every secret still opens;
an old key retires only once nothing is sealed with it; values that don't open are reported."""

from __future__ import annotations

import base64
import os
from collections import Counter

import httpx
from sqlalchemy import select

from orchestratia.hub.db.models import User
from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.key_rotation import key_usage
from orchestratia.hub.sealed_columns import SMTP_PASSWORD, TOTP_SECRET
from orchestratia.hub.sealing import KEYS_ENV, Keyring, key_id_of
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import accounts
from tests.integration.hub_cli import run_cli
from tests.integration.hub_setup import PASSWORD
from tests.integration.running_hub import RunningHub
from tests.integration.totp_support import challenge_for, enable, second_step

TOTP_SECRETS = {f"user{i}@a.example": f"JBSWY3DPEHPK3PX{i}" for i in range(5)}
SMTP_SECRET = "smtp password, with ünïcode"


async def seal_secrets(
    hub: RunningHub, keyring: Keyring, tenant_id: str
) -> dict[tuple[str, str], str]:
    """Users with TOTP secrets and the tenant's SMTP password, sealed as the features store
    them; {(column label, row id): plaintext}."""
    expected: dict[tuple[str, str], str] = {}
    async with hub.state.sessionmaker() as db:
        for email, secret in TOTP_SECRETS.items():
            user = await accounts.create_user(db, tenant_id, email, PASSWORD, audit.Actor("system"))
            row = await db.get(User, user.id)
            assert row is not None
            row.totp_secret_enc = keyring.seal(secret, TOTP_SECRET.aad(user.id))
            expected[(TOTP_SECRET.label, user.id)] = secret
        db.add(
            MailSettings(
                tenant_id=tenant_id,
                host="smtp.a.example",
                from_address="hub@a.example",
                password_sealed=keyring.seal(SMTP_SECRET, SMTP_PASSWORD.aad(tenant_id)),
            )
        )
        expected[(SMTP_PASSWORD.label, tenant_id)] = SMTP_SECRET
        await db.commit()
    return expected


async def tenant_of(client: httpx.AsyncClient) -> tuple[str, str]:
    """The caller's user id and tenant id."""
    me = (await client.get("/api/v1/auth/me")).json()
    return me["id"], me["tenant_id"]


async def stored(hub: RunningHub) -> dict[tuple[str, str], str]:
    async with hub.state.sessionmaker() as db:
        users = (await db.execute(select(User.id, User.totp_secret_enc))).all()
        mail = (
            await db.execute(select(MailSettings.tenant_id, MailSettings.password_sealed))
        ).all()
    values = {(TOTP_SECRET.label, rid): v for rid, v in users if v}
    values.update({(SMTP_PASSWORD.label, rid): v for rid, v in mail if v})
    return values


def opened(keyring: Keyring, values: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    columns = {TOTP_SECRET.label: TOTP_SECRET, SMTP_PASSWORD.label: SMTP_PASSWORD}
    return {
        (label, rid): keyring.open(v, columns[label].aad(rid)) for (label, rid), v in values.items()
    }


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def key_files(hub: RunningHub) -> set[str]:
    return {p.stem for p in (hub.settings.data_dir / "keys").glob("*.key")}


async def test_interrupted_rotation_carries_on_and_the_old_key_retires(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    old = hub.state.keyring.current
    alice, tenant_id = await tenant_of(admin)
    # Alice's secret is sealed by the hub itself, through the second-factor API.
    totp = await enable(admin)
    expected = await seal_secrets(hub, hub.state.keyring, tenant_id)
    expected[(TOTP_SECRET.label, alice)] = totp.secret

    killed = await run_cli(hub, "--batch-size", "1", module="tests.integration.rotate_then_die")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    (new,) = key_files(hub) - {old}
    assert (hub.settings.data_dir / "keys" / "current").read_text().strip() == new
    under = Counter(key_id_of(v) for v in (await stored(hub)).values())
    assert under == {new: 1, old: len(expected) - 1}, under

    refused = await run_cli(hub, "hub", "rotate-keys", "--retire", old)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"{len(expected) - 1} value(s) are still sealed with key '{old}'" in refused.stderr
    assert key_files(hub) == {old, new}

    resumed = await run_cli(hub, "hub", "rotate-keys", "--batch-size", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "finishing the rotation" in resumed.stdout
    assert f"--retire {old}" in resumed.stdout
    assert key_files(hub) == {old, new}, "a resumed rotation must not mint another key"
    values = await stored(hub)
    assert {key_id_of(v) for v in values.values()} == {new}
    assert opened(Keyring.load(hub.settings.data_dir), values) == expected

    retired = await run_cli(hub, "hub", "rotate-keys", "--retire", old)
    assert retired.returncode == 0, retired.stdout + retired.stderr
    assert key_files(hub) == {new}
    # A hub restarted on this data dir, and the hub that ran all along, open everything.
    assert opened(hub.settings.keyring(), values) == expected
    assert opened(hub.state.keyring, values) == expected
    assert hub.state.keyring.current == new
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anon:
        challenge = await challenge_for(anon, "alice@a.example")
        login = await second_step(anon, challenge, totp.next_code())
    assert login.status_code == 200, login.text

    again = await run_cli(hub, "hub", "rotate-keys")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(key_files(hub) - {new}) == 1, "a finished rotation starts a new one"


async def test_retiring_an_unknown_or_current_key_is_a_usage_error(hub: RunningHub) -> None:
    unknown = await run_cli(hub, "hub", "rotate-keys", "--retire", "knope")
    assert unknown.returncode == 2
    assert "there is no key 'knope'" in unknown.stderr
    current = await run_cli(hub, "hub", "rotate-keys", "--retire", hub.state.keyring.current)
    assert current.returncode == 2
    assert "is the current key" in current.stderr


async def test_a_value_that_does_not_open_is_reported_and_left(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    expected = await seal_secrets(hub, hub.state.keyring, (await tenant_of(admin))[1])
    stranger = Keyring({"kgone": os.urandom(32)}, "kgone")
    async with hub.state.sessionmaker() as db:
        victim = await db.scalar(select(User).where(User.email == "user0@a.example"))
        assert victim is not None
        lost = stranger.seal("lost", TOTP_SECRET.aad(victim.id))
        victim.totp_secret_enc = lost
        await db.commit()

    done = await run_cli(hub, "hub", "rotate-keys")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"did not open: users.totp_secret_enc row {victim.id}" in done.stderr
    assert "'kgone', which this hub does not have" in done.stderr
    values = await stored(hub)
    assert values.pop((TOTP_SECRET.label, victim.id)) == lost
    del expected[(TOTP_SECRET.label, victim.id)]
    assert opened(Keyring.load(hub.settings.data_dir), values) == expected
    async with hub.state.sessionmaker() as db:
        assert (await key_usage(db))["kgone"] == 1


async def test_keys_from_the_environment_reseal_to_its_first_key(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    keyring = Keyring({"old": old_key}, "old")
    expected = await seal_secrets(hub, keyring, (await tenant_of(admin))[1])
    env = {KEYS_ENV: f"new:{b64(new_key)},old:{b64(old_key)}"}
    done = await run_cli(hub, "hub", "rotate-keys", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"remove it from {KEYS_ENV}" in done.stdout
    values = await stored(hub)
    assert {key_id_of(v) for v in values.values()} == {"new"}
    assert opened(Keyring({"new": new_key}, "new"), values) == expected

    retire = await run_cli(hub, "hub", "rotate-keys", "--retire", "old", env=env)
    assert retire.returncode == 0, retire.stdout + retire.stderr
    assert f"remove it from {KEYS_ENV}" in retire.stdout
