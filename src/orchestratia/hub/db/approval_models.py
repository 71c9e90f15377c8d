"""Tables of tool-call policy (SPEC §2, §8): approval rules, tool calls waiting for a person
(``ToolApproval``, the inbox's ``ask`` items) and the permission log. String widths are at least
the wire limits of ``orchestratia.protocol.approvals``, so a valid body never overflows a column."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _id, _tenant
from orchestratia.hub.db.types import UTCDateTime, utcnow


class ApprovalRule(Base):
    """``scope`` is tenant, project, server or session (``scope_id`` names the latter three; it
    is NULL for tenant rules); a rule made from an inbox answer ("allow this for this session for
    N minutes") has scope ``session``, ``session_id`` (so it goes with its session) and
    ``expires_at``."""

    __tablename__ = "approval_rules"
    __table_args__ = (Index("ix_approval_rules_tenant_active", "tenant_id", "is_active"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    name: Mapped[str] = mapped_column(String(200))
    tool_pattern: Mapped[str] = mapped_column(String(1000))
    param_pattern: Mapped[str | None] = mapped_column(String(2000), default=None)
    pattern_syntax: Mapped[str] = mapped_column(String(8), default="glob")
    action: Mapped[str] = mapped_column(String(8))
    scope: Mapped[str] = mapped_column(String(16), default="tenant")
    scope_id: Mapped[str | None] = mapped_column(String(36), default=None)
    agent_filter: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), default=None
    )
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ToolApproval(Base):
    """A tool call a rule sent to ``ask``: waits in the inbox until a person decides, once."""

    __tablename__ = "tool_approvals"
    __table_args__ = (Index("ix_tool_approvals_tenant_status", "tenant_id", "status"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), default=None
    )
    agent: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(256))
    main_param: Mapped[str | None] = mapped_column(Text, default=None)
    tool_input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rule_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decision_id: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(320), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PermissionDecision(Base):
    """One pre-tool-use decision. ``entry_id`` is minted by the hook, so a batch resent after a
    lost reply is stored once."""

    __tablename__ = "permission_decisions"
    __table_args__ = (
        UniqueConstraint("server_id", "entry_id"),
        Index("ix_permission_decisions_project_created", "project_id", "created_at"),
    )
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(36), default=None)
    entry_id: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(256))
    tool_input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[str] = mapped_column(String(8))
    matched_rule_id: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_by: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()
