"""Invites and the mail that carries them: each change commits first, then the mail goes out
(a mail never announces an invite that rolled back; a mail that fails leaves the invite, whose
link the inviter then passes on by hand)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import invite_accept, invites
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.mail import messages
from orchestratia.hub.services.mail import settings as mail_settings
from orchestratia.hub.services.mail.smtp import MailFailed, send
from orchestratia.hub.state import HubState
from orchestratia.protocol.rest import Role

NO_MAIL_SERVER = "no mail server is configured, so the invite was not mailed: pass the link on"


@dataclass(frozen=True)
class Delivered:
    issued: invites.Issued
    link: str
    emailed: bool
    error: str | None = None


async def _deliver(db: AsyncSession, hub: HubState, issued: invites.Issued, base: str) -> Delivered:
    link = f"{base}/invite/{issued.token}"
    invite = issued.invite
    message = messages.invite(
        invite.email, link, issued.project_name, invite.role, issued.invited_by, invite.expires_at
    )
    try:
        server = await mail_settings.server_for(db, hub.keyring, invite.tenant_id)
        if server is None:
            return Delivered(issued, link, False, NO_MAIL_SERVER)
        await send(server, message, allow_private=hub.settings.smtp_allow_private)
    except MailFailed as exc:
        return Delivered(issued, link, False, f"the invite mail was not sent: {exc}")
    return Delivered(issued, link, True)


async def _issue(
    db: AsyncSession,
    hub: HubState,
    base_url: str,
    issue: Callable[[timedelta], Awaitable[invites.Issued]],
) -> Delivered:
    """Commit a new link (a new invite or a resent one) living the configured hours, then mail
    it."""
    ttl = timedelta(hours=hub.settings.invite_ttl_hours)
    issued = await run(db, hub, lambda _: issue(ttl))
    return await _deliver(db, hub, issued, base_url)


async def create(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    email: str,
    role: Role,
    base_url: str,
    actor: audit.Actor,
) -> Delivered:
    return await _issue(
        db,
        hub,
        base_url,
        lambda ttl: invites.create(db, principal, project_id, email, role, ttl, actor),
    )


async def resend(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    invite_id: str,
    base_url: str,
    actor: audit.Actor,
) -> Delivered:
    return await _issue(
        db,
        hub,
        base_url,
        lambda ttl: invites.resend(db, principal, project_id, invite_id, ttl, actor),
    )


async def revoke(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    project_id: str,
    invite_id: str,
    actor: audit.Actor,
) -> None:
    await run(db, hub, lambda _: invites.revoke(db, principal, project_id, invite_id, actor))


async def accept(
    db: AsyncSession,
    hub: HubState,
    token: str,
    password: str | None,
    principal: Principal | None,
    actor: audit.Actor,
) -> invite_accept.Accepted:
    ttl = timedelta(hours=hub.settings.session_ttl_hours)
    return await run(
        db, hub, lambda _: invite_accept.accept(db, token, password, principal, ttl, actor)
    )
