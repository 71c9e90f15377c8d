"""The share links of a session as its page lists them (never their secret)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ShareLinkSummary(BaseModel):
    id: str
    session_id: str
    mode: str
    created_at: datetime
    expires_at: datetime
    created_by: str | None  # the creator's email; None once that account is gone


class ShareLinkList(BaseModel):
    links: list[ShareLinkSummary]
