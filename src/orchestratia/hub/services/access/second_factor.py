"""A user's own second factor: enrol (pending until confirmed), confirm (on, with ten recovery
codes shown once), regenerate the recovery codes, disable. Changing it takes a valid code, so a
stolen login alone cannot turn it off or learn new recovery codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import User
from orchestratia.hub.db.team_models import RecoveryCode
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Forbidden, NotFound
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import totp
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.throttle import LoginThrottle


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class Owner:
    """The signed-in person changing their own second factor, with what checking and sealing
    their codes needs."""

    principal: Principal
    actor: audit.Actor
    keyring: Keyring
    throttle: LoginThrottle


@dataclass(frozen=True)
class Status:
    enabled_at: datetime | None
    pending: bool
    recovery_codes_left: int


async def _user(db: AsyncSession, principal: Principal) -> User:
    user = await db.scalar(
        select(User).where(User.id == principal.user_id, User.tenant_id == principal.tenant_id)
    )
    if user is None:
        raise NotFound("user not found")
    return user


async def status(db: AsyncSession, principal: Principal) -> Status:
    user = await _user(db, principal)
    on = user.totp_enabled_at is not None
    return Status(
        enabled_at=user.totp_enabled_at,
        pending=not on and user.totp_secret_enc is not None,
        recovery_codes_left=await totp.recovery_codes_left(db, user) if on else 0,
    )


async def enrol(db: AsyncSession, owner: Owner) -> Enrolment:
    """A new pending secret, replacing any earlier pending one."""
    user = await _user(db, owner.principal)
    if user.totp_enabled_at is not None:
        raise Conflict("a second factor is already on; disable it before enrolling again")
    secret = totp.new_secret()
    user.totp_secret_enc = owner.keyring.seal(secret, totp.secret_aad(user.id))
    user.totp_last_step = None
    await audit.record_on_user(db, owner.actor, "auth.totp_enrolled", user)
    await db.commit()
    return Enrolment(secret, totp.otpauth_uri(secret, user.email))


async def _drop_recovery_codes(db: AsyncSession, user: User) -> None:
    await db.execute(
        delete(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.tenant_id == user.tenant_id
        )
    )


async def _new_recovery_codes(db: AsyncSession, user: User) -> list[str]:
    """Ten fresh codes in place of any earlier ones; only their SHA-256 is kept."""
    await _drop_recovery_codes(db, user)
    codes = [totp.new_recovery_code() for _ in range(totp.RECOVERY_CODES)]
    db.add_all(
        RecoveryCode(
            tenant_id=user.tenant_id, user_id=user.id, code_hash=sha256_hex(totp.normalized(code))
        )
        for code in codes
    )
    return codes


async def _checked(
    db: AsyncSession, owner: Owner, user: User, code: str, *, allow_recovery: bool = True
) -> None:
    found = await totp.verify(
        db, owner.keyring, owner.throttle, user, code, owner.actor, allow_recovery=allow_recovery
    )
    if found is None:
        raise Forbidden(totp.WRONG_CODE)


async def confirm(db: AsyncSession, owner: Owner, code: str) -> list[str]:
    """Turn the pending secret on with a code from it; the recovery codes, shown only now."""
    user = await _user(db, owner.principal)
    if user.totp_enabled_at is not None:
        raise Conflict("the second factor is already on")
    if user.totp_secret_enc is None:
        raise Conflict("there is no pending second factor to confirm; enrol first")
    await _checked(db, owner, user, code, allow_recovery=False)
    user.totp_enabled_at = utcnow()
    codes = await _new_recovery_codes(db, user)
    await audit.record_on_user(db, owner.actor, "auth.totp_enabled", user)
    await db.commit()
    return codes


async def _enabled_user(db: AsyncSession, principal: Principal) -> User:
    user = await _user(db, principal)
    if user.totp_enabled_at is None:
        raise Conflict("the second factor is not on")
    return user


async def regenerate_recovery_codes(db: AsyncSession, owner: Owner, code: str) -> list[str]:
    user = await _enabled_user(db, owner.principal)
    await _checked(db, owner, user, code)
    codes = await _new_recovery_codes(db, user)
    await audit.record_on_user(db, owner.actor, "auth.recovery_codes_regenerated", user)
    await db.commit()
    return codes


async def disable(db: AsyncSession, owner: Owner, code: str) -> None:
    user = await _enabled_user(db, owner.principal)
    await _checked(db, owner, user, code)
    user.totp_secret_enc = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await _drop_recovery_codes(db, user)
    await audit.record_on_user(db, owner.actor, "auth.totp_disabled", user)
    await db.commit()
