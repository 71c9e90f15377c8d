"""The integration events of each kind of change, recorded where the change is made (in its
transaction, through ``events.emit``). One function per moment, so every source of a moment
(the API, the inbox, Telegram, a sweep) announces it alike."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ToolApproval
from orchestratia.hub.db.models import AuditEvent, Server, TerminalSession
from orchestratia.hub.db.task_models import Intervention, Task
from orchestratia.hub.services.integrations import payloads
from orchestratia.hub.services.integrations.events import emit
from orchestratia.protocol.integration_events import (
    ApprovalEventData,
    EventType,
    InterventionEventData,
    ServerEventData,
    SessionEndReason,
    SessionEventData,
    TaskEventData,
)

# Where a task move lands that has an event of its own besides ``task.status_changed``.
FINAL_EVENTS: dict[str, EventType] = {"done": "task.completed", "failed": "task.failed"}


async def _task(
    db: AsyncSession, type: EventType, task: Task, actor: str, previous: str | None = None
) -> None:
    data = TaskEventData(
        task=await payloads.task_data(db, task), previous_status=previous, actor=actor
    )
    emit(db, task.tenant_id, task.project_id, type, data)


async def task_created(db: AsyncSession, task: Task, actor: str) -> None:
    await _task(db, "task.created", task, actor)


async def task_moved(
    db: AsyncSession, task: Task, previous: str, actor: str, *, assigned: bool
) -> None:
    """A move of ``task`` out of ``previous`` (already applied to the row): its status change,
    then what the move means (``assigned`` for an assignment, even to the same status)."""
    if task.status != previous:
        await _task(db, "task.status_changed", task, actor, previous)
    if assigned:
        await _task(db, "task.assigned", task, actor)
    final = FINAL_EVENTS.get(task.status)
    if final is not None and task.status != previous:
        await _task(db, final, task, actor)


def intervention(db: AsyncSession, row: Intervention, type: EventType) -> None:
    """``intervention.created`` or ``intervention.responded`` for ``row`` as it stands."""
    data = InterventionEventData(intervention=payloads.intervention_data(row))
    emit(db, row.tenant_id, row.project_id, type, data)


def session_started(db: AsyncSession, session: TerminalSession) -> None:
    data = SessionEventData(session=payloads.session_data(session))
    emit(db, session.tenant_id, session.project_id, "session.started", data)


async def session_closed(db: AsyncSession, session: TerminalSession) -> None:
    """``session.closed`` for a session that just ended: ``lost``, ``killed`` when a person
    or stop-all had it killed (the audit log holds that request), else ``exited``."""
    reason: SessionEndReason = "lost" if session.status == "lost" else "exited"
    if reason == "exited":
        killed = await db.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.action == "session.killed",
                AuditEvent.target_type == "session",
                AuditEvent.target_id == session.id,
            )
            .limit(1)
        )
        reason = "killed" if killed is not None else "exited"
    data = SessionEventData(session=payloads.session_data(session), reason=reason)
    emit(db, session.tenant_id, session.project_id, "session.closed", data)


def server(db: AsyncSession, row: Server, type: EventType) -> None:
    """``server.online`` or ``server.offline`` for ``row`` as it stands."""
    data = ServerEventData(server=payloads.server_data(row))
    emit(db, row.tenant_id, row.project_id, type, data)


def approval(db: AsyncSession, row: ToolApproval, type: EventType) -> None:
    """``approval.requested`` or ``approval.decided`` (approved, denied or expired)."""
    data = ApprovalEventData(approval=payloads.approval_data(row))
    emit(db, row.tenant_id, row.project_id, type, data)
