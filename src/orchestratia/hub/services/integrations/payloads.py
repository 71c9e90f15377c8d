"""Rows as integration events carry them: tasks, interventions, sessions, servers and tool
approvals turned into the payload models of ``protocol.integration_events``.

Only what a receiver may see leaves the hub: no tokens, no tool inputs, no specs (a task's
title and state are enough to look the rest up through the API with a key)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ToolApproval
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Intervention, Task
from orchestratia.protocol.integration_events import (
    ApprovalData,
    InterventionData,
    ServerData,
    SessionData,
    TaskData,
)


async def task_data(db: AsyncSession, task: Task) -> TaskData:
    """``task`` as it stands in ``db``'s transaction; its server is its session's."""
    server_id = None
    if task.assigned_session_id is not None:
        holder = await db.get(TerminalSession, task.assigned_session_id)
        server_id = holder.server_id if holder is not None else None
    return TaskData(
        id=task.id,
        project_id=task.project_id,
        title=task.title,
        status=task.status,
        priority=task.priority,
        type=task.type,
        external_ref=task.external_ref,
        assigned_server_id=server_id,
        assigned_session_id=task.assigned_session_id,
        error=task.error,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def intervention_data(row: Intervention) -> InterventionData:
    return InterventionData(
        id=row.id,
        project_id=row.project_id,
        task_id=row.task_id,
        session_id=row.session_id,
        type=row.type,
        question=row.question,
        urgency=row.urgency,
        status=row.status,
        response=row.response,
        responder=row.responder,
        created_at=row.created_at,
        responded_at=row.responded_at,
    )


def session_data(session: TerminalSession) -> SessionData:
    return SessionData(
        id=session.id,
        project_id=session.project_id,
        server_id=session.server_id,
        name=session.name,
        agent_type=session.agent_type,
        role=session.role,
        status=session.status,
        exit_code=session.exit_code,
        error=session.error,
        started_at=session.started_at,
        ended_at=session.ended_at,
    )


def server_data(server: Server) -> ServerData:
    return ServerData(
        id=server.id,
        project_id=server.project_id,
        name=server.name,
        hostname=server.hostname,
        status=server.status,
        last_seen_at=server.last_seen_at,
    )


def approval_data(row: ToolApproval) -> ApprovalData:
    return ApprovalData(
        id=row.id,
        project_id=row.project_id,
        server_id=row.server_id,
        session_id=row.session_id,
        agent=row.agent,
        tool=row.tool,
        main_param=row.main_param,
        status=row.status,
        reason=row.reason,
        decided_by=row.decided_by,
        created_at=row.created_at,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
    )
