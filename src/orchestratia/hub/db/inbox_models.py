"""Decisions taken in the inbox. The primary key is the client's ``decision_id``, so a decision
retried after a lost reply is recognised instead of being applied twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _tenant


class InboxDecision(Base):
    __tablename__ = "inbox_decisions"
    decision_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(320))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()
