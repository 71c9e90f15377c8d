"""The tenant's SMTP settings (tenant admins): read, save, remove, send a test mail."""

from __future__ import annotations

from fastapi import APIRouter, Response

from orchestratia.hub.actions import mail as mail_actions
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.errors import NotFound
from orchestratia.hub.services.mail import settings as mail_settings
from orchestratia.protocol.invites import (
    MailSettingsPublic,
    MailSettingsUpdate,
    MailTest,
    MailTestResult,
)

router = APIRouter(prefix="/api/v1/settings/mail", tags=["settings"], dependencies=[needs("admin")])


def mail_public(row: MailSettings) -> MailSettingsPublic:
    """The settings without the password (write-only): only whether one is set."""
    return MailSettingsPublic.model_validate(
        {
            "host": row.host,
            "port": row.port,
            "username": row.username,
            "password_set": row.password_sealed is not None,
            "security": row.security,
            "from_address": row.from_address,
            "updated_at": row.updated_at,
        }
    )


@router.get("")
async def get_mail_settings(principal: PrincipalDep, db: SessionDep) -> MailSettingsPublic:
    row = await mail_settings.get(db, principal)
    if row is None:
        raise NotFound("no mail server is configured")
    return mail_public(row)


@router.put("")
async def put_mail_settings(
    body: MailSettingsUpdate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> MailSettingsPublic:
    """Save the settings; ``password`` omitted (or null) keeps the stored one, "" removes it."""
    return mail_public(await mail_actions.save(db, hub, principal, body, actor))


@router.delete("", status_code=204)
async def delete_mail_settings(
    principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    await mail_actions.remove(db, hub, principal, actor)
    return Response(status_code=204)


@router.post("/test")
async def test_mail_settings(
    body: MailTest, principal: PrincipalDep, db: SessionDep, hub: HubDep
) -> MailTestResult:
    """Send a test mail through the saved settings; whether it went out, and why not."""
    return await mail_actions.send_test(db, hub, principal, body.to)
