"""A user's own dashboard preferences (``/api/v1/auth/preferences``)."""

from __future__ import annotations

from pydantic import BaseModel, StrictBool

from orchestratia.protocol.rest import StrictBody


class Preferences(BaseModel):
    # Whether the dashboard shows a browser notification when something joins the inbox.
    browser_notifications: bool


class PreferencesChange(StrictBody):
    # Strict: "false" or 0 from a sloppy client is refused, not read as a setting.
    browser_notifications: StrictBool
