"""Checking second-factor codes: TOTP (RFC 6238, 30 s steps, one step of clock drift either
way, never the same step twice) and one-time recovery codes. Every check spends a slot of the
login throttle first, so a stolen password or login cannot be used to guess codes at leisure."""

from __future__ import annotations

import secrets
import time
from typing import Literal

import pyotp
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import User
from orchestratia.hub.db.team_models import RecoveryCode
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.sealed_columns import TOTP_SECRET
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.security import constant_time_equals, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.throttle import LoginThrottle

SecondFactor = Literal["totp", "recovery"]

ISSUER = "Orchestratia"
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# No 0/o, 1/i/l: codes are read off paper and typed back.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
WRONG_CODE = "the code is wrong or was already used"


def secret_aad(user_id: str) -> bytes:
    """The associated data of a user's sealed secret (key rotation re-seals with exactly this)."""
    return TOTP_SECRET.aad(user_id)


def new_secret() -> str:
    return pyotp.random_base32()


def otpauth_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalized(code: str) -> str:
    """Codes as typed, without the spaces and dashes people add, in lower case."""
    return code.replace(" ", "").replace("-", "").lower()


def is_totp_code(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step ``code`` belongs to, within the allowed drift of ``now``; None if none."""
    totp = pyotp.TOTP(secret)
    current = int(now) // totp.interval
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate so the timing does not tell which step was close.
        if constant_time_equals(totp.generate_otp(step), code):
            found = step
    return found


async def _use_step(db: AsyncSession, user: User, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: one conditional UPDATE,
    so two requests racing with the same code cannot both pass."""
    claimed = await db.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


async def _use_recovery_code(db: AsyncSession, user: User, code: str) -> bool:
    used = await db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.tenant_id == user.tenant_id,
            RecoveryCode.code_hash == sha256_hex(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(used.rowcount)  # type: ignore[attr-defined]


async def recovery_codes_left(db: AsyncSession, user: User) -> int:
    left = await db.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.tenant_id == user.tenant_id,
            RecoveryCode.used_at.is_(None),
        )
    )
    return int(left or 0)


async def _matches(
    db: AsyncSession, keyring: Keyring, user: User, code: str, *, allow_recovery: bool
) -> SecondFactor | None:
    if user.totp_secret_enc is None:
        return None
    if is_totp_code(code):
        secret = keyring.open(user.totp_secret_enc, secret_aad(user.id))
        step = matching_step(secret, code, time.time())
        return "totp" if step is not None and await _use_step(db, user, step) else None
    if allow_recovery and await _use_recovery_code(db, user, code):
        return "recovery"
    return None


async def verify(
    db: AsyncSession,
    keyring: Keyring,
    throttle: LoginThrottle,
    user: User,
    code: str,
    actor: audit.Actor,
    *,
    allow_recovery: bool = True,
) -> SecondFactor | None:
    """Which factor ``code`` is, spending it (a TOTP step or a recovery code) in the caller's
    transaction; None, with the failure audited and committed, when it is wrong or used.
    ``TooManyRequests`` when the account's or the IP's budget is spent."""
    ip = actor.ip or "unknown"
    await throttle.claim(db, user.email, ip)
    kind = await _matches(db, keyring, user, normalized(code), allow_recovery=allow_recovery)
    if kind is None:
        await audit.record_on_user(db, actor, "auth.second_factor_failed", user)
        await db.commit()
        return None
    await throttle.succeeded(db, user.email, ip)
    if kind == "recovery":
        left = {"recovery_codes_left": await recovery_codes_left(db, user)}
        await audit.record_on_user(db, actor, "auth.recovery_code_used", user, left)
    return kind
