"""Tables of the task engine (SPEC §2-4, §8): tasks, their dependencies, notes, timeline events,
deliveries into sessions, interventions and pipelines. Every row carries ``tenant_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _id, _tenant
from orchestratia.hub.db.types import UTCDateTime, utcnow


def _project() -> Mapped[str]:
    return mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)


def _task() -> Mapped[str]:
    return mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)


class Pipeline(Base):
    __tablename__ = "pipelines"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = _project()
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()


class Task(Base):
    """A unit of work. ``epoch`` grows with every (re)assignment; writes naming an older epoch,
    or coming from a session that no longer holds the task, are refused."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("project_id", "external_ref"),
        Index("ix_tasks_project_status", "project_id", "status"),
    )
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    pipeline_id: Mapped[str | None] = mapped_column(
        ForeignKey("pipelines.id", ondelete="SET NULL"), default=None, index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    spec: Mapped[str] = mapped_column(Text, default="")
    structured_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    type: Mapped[str] = mapped_column(String(16), default="feature")
    target_repo: Mapped[str | None] = mapped_column(String(200), default=None)
    target_branch: Mapped[str | None] = mapped_column(String(200), default=None)
    acceptance_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    external_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    assigned_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), default=None, index=True
    )
    source_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), default=None
    )
    # The session that exited or was lost while holding the task: flagged on the board until a
    # new assignment, and refused as a writer even if it comes back.
    lost_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[str] = mapped_column(String(320))
    require_plan: Mapped[bool] = mapped_column(Boolean, default=False)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    plan_feedback: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    missing_contracts: Mapped[list[str]] = mapped_column(JSON, default=list)
    git_diff_stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    assignment_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    approval_status: Mapped[str] = mapped_column(String(16), default="none")
    # Set while an assigned task waits for its blockers: delivered once they resolve.
    delivery_deferred: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class TaskDependency(Base):
    __tablename__ = "task_dependencies"
    __table_args__ = (UniqueConstraint("task_id", "depends_on_task_id"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    task_id: Mapped[str] = _task()
    depends_on_task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    dependency_type: Mapped[str] = mapped_column(String(16), default="blocks")
    contract_key: Mapped[str | None] = mapped_column(String(120), default=None)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = _created()


class TaskNote(Base):
    __tablename__ = "task_notes"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    task_id: Mapped[str] = _task()
    author: Mapped[str] = mapped_column(String(320))
    content: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class TaskEvent(Base):
    """The timeline of a task and the project's activity feed."""

    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_project_created", "project_id", "created_at"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _created()


class Delivery(Base):
    """A message to type into a session. Kept until the daemon acknowledges it, so it survives
    disconnects and hub restarts; ``superseded`` once a newer assignment made it moot."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_server_status", "server_id", "status"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), default=None, index=True
    )
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = _created()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Intervention(Base):
    __tablename__ = "interventions"
    __table_args__ = (Index("ix_interventions_tenant_status", "tenant_id", "status"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), default=None, index=True
    )
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), default=None
    )
    type: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text, default=None)
    urgency: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    response: Mapped[str | None] = mapped_column(Text, default=None)
    responder: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime] = _created()
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
