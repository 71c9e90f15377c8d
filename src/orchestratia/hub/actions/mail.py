"""The tenant's mail settings: changes commit like every other; a test mail goes out after."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.mail import messages
from orchestratia.hub.services.mail import settings as mail_settings
from orchestratia.hub.services.mail.smtp import MailFailed, send
from orchestratia.hub.state import HubState
from orchestratia.protocol.invites import MailSettingsUpdate, MailTestResult


async def save(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    body: MailSettingsUpdate,
    actor: audit.Actor,
) -> MailSettings:
    return await run(
        db,
        hub,
        lambda _: mail_settings.put(
            db, hub.keyring, principal, body, actor, hub.settings.smtp_allow_private
        ),
    )


async def remove(db: AsyncSession, hub: HubState, principal: Principal, actor: audit.Actor) -> None:
    await run(db, hub, lambda _: mail_settings.delete(db, principal, actor))


async def send_test(
    db: AsyncSession, hub: HubState, principal: Principal, to: str
) -> MailTestResult:
    """A test mail to ``to`` through the saved settings; whether it went out, and why not."""
    await mail_settings.get(db, principal)  # tenant admins only
    try:
        server = await mail_settings.server_for(db, hub.keyring, principal.tenant_id)
        if server is None:
            raise Conflict("no mail server is configured; save the mail settings first")
        await send(
            server,
            messages.test(to, principal.email),
            allow_private=hub.settings.smtp_allow_private,
        )
    except MailFailed as exc:
        return MailTestResult(sent=False, error=str(exc))
    return MailTestResult(sent=True)
