"""The caller's own notification preferences: which events reach them by Telegram and email."""

from __future__ import annotations

from fastapi import APIRouter

from orchestratia.hub.actions import notification_prefs as actions
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import ANY_CALLER, LOGIN_ONLY
from orchestratia.hub.services.integrations import preferences
from orchestratia.protocol.notification_preferences import (
    NotificationPreferences,
    NotificationPreferencesChange,
)

router = APIRouter(prefix="/api/v1/account/notifications", tags=["account"])


@router.get("", dependencies=[ANY_CALLER])
async def read_notification_preferences(
    principal: PrincipalDep, db: SessionDep
) -> NotificationPreferences:
    """The caller's own choices (there is no way to name another user's)."""
    return await preferences.read(db, principal)


# A login only, like the dashboard preferences: a key acts for a tool, not for a person's inbox.
@router.put("", dependencies=[LOGIN_ONLY])
async def change_notification_preferences(
    body: NotificationPreferencesChange,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> NotificationPreferences:
    """Replace the event list of each channel given; a channel left out keeps its list."""
    return await actions.change(db, hub, principal, body, actor)
