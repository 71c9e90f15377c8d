"""A tenant's SMTP settings: tenant admins read and change them; the password is sealed at rest
(``hub.sealing``, bound to the tenant's row) and never leaves the hub."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.errors import Forbidden, Invalid, NotFound
from orchestratia.hub.sealing import Keyring, SealingError, sealed_for
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.integrations.address_policy import AddressRefused, check_host
from orchestratia.hub.services.mail.smtp import MailFailed, MailServer
from orchestratia.protocol.invites import MailSettingsUpdate


def _admin(principal: Principal) -> None:
    if not principal.is_tenant_admin:
        raise Forbidden("only tenant admins manage mail settings")


def _aad(tenant_id: str) -> bytes:
    return sealed_for("mail_settings", "password_sealed", tenant_id)


async def _check_host(host: str, port: int, allow_private: bool) -> None:
    """Refuse a server on a private, loopback, link-local or metadata address (AddressRefused,
    a 422 with the reason). A name that does not resolve yet is kept: sending checks again."""
    try:
        await check_host(host, port, allow_private)
    except AddressRefused:
        raise
    except Invalid:
        return


async def _row(db: AsyncSession, tenant_id: str) -> MailSettings | None:
    return await db.scalar(select(MailSettings).where(MailSettings.tenant_id == tenant_id))


async def get(db: AsyncSession, principal: Principal) -> MailSettings | None:
    _admin(principal)
    return await _row(db, principal.tenant_id)


async def put(
    db: AsyncSession,
    keyring: Keyring,
    principal: Principal,
    body: MailSettingsUpdate,
    actor: audit.Actor,
    allow_private: bool,
) -> MailSettings:
    _admin(principal)
    await _check_host(body.host, body.port, allow_private)
    row = await _row(db, principal.tenant_id)
    if row is None:
        row = MailSettings(tenant_id=principal.tenant_id, host=body.host, from_address="")
        db.add(row)
    row.host, row.port, row.security = body.host, body.port, body.security
    row.username = body.username or None
    row.from_address = body.from_address
    if body.password is not None:
        aad = _aad(principal.tenant_id)
        row.password_sealed = keyring.seal(body.password, aad) if body.password else None
    await db.flush()
    await audit.record(
        db,
        actor,
        "settings.mail_updated",
        tenant_id=principal.tenant_id,
        target_type="mail_settings",
        target_id=principal.tenant_id,
        details={
            "host": row.host,
            "port": row.port,
            "security": row.security,
            "username": row.username,
            "from_address": row.from_address,
            # Whether the password changed, never what it is.
            "password": "kept" if body.password is None else "set" if body.password else "removed",
        },
    )
    return row


async def delete(db: AsyncSession, principal: Principal, actor: audit.Actor) -> None:
    _admin(principal)
    row = await _row(db, principal.tenant_id)
    if row is None:
        raise NotFound("no mail settings to remove")
    await db.delete(row)
    await audit.record(
        db,
        actor,
        "settings.mail_removed",
        tenant_id=principal.tenant_id,
        target_type="mail_settings",
        target_id=principal.tenant_id,
    )


async def server_for(db: AsyncSession, keyring: Keyring, tenant_id: str) -> MailServer | None:
    """The tenant's server with its password opened, to send with; None when none is set.
    MailFailed when the password was sealed under a key this hub no longer has."""
    row = await _row(db, tenant_id)
    if row is None:
        return None
    try:
        password = (
            keyring.open(row.password_sealed, _aad(tenant_id)) if row.password_sealed else None
        )
    except SealingError:
        raise MailFailed(
            "the stored mail password cannot be opened with this hub's keys; save it again"
        ) from None
    return MailServer(
        host=row.host,
        port=row.port,
        security=row.security,
        from_address=row.from_address,
        username=row.username,
        password=password,
    )
