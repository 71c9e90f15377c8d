"""Tasks whose session is gone (SPEC §3). A session is gone once it *exited* (closed, killed or
crashed: the daemon said so) or was *lost*: its daemon reconnected without it, or its server
stayed disconnected longer than ``session_lost_timeout`` (``sessions.lose_abandoned``). A daemon
that reconnects within that window and reports the session alive changes nothing: tmux kept it.

Each task such a session still holds is flagged with it (the "session lost" badge), its epoch is
bumped and its open questions expire, so nothing the session still does with it counts. Then,
per the project's ``lost_session_policy``, it goes back to ``pending`` for (auto-)assignment
(``requeue``, the default) or stays where it is for a person (``leave``). Its ``session_lost``
timeline entry is also the inbox notice (services/inbox.py), until a person dismisses it.
"""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Project, TerminalSession
from orchestratia.hub.db.task_models import Task
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services import audit
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import deliveries
from orchestratia.hub.services.tasks.context import Caller, add_event
from orchestratia.hub.services.tasks.flow import close_interventions, move
from orchestratia.hub.services.tasks.states import NON_TERMINAL

Policy = Literal["requeue", "leave"]
POLICIES: tuple[str, ...] = get_args(Policy)
ENDED = ("exited", "lost")
# What a session can hold; a pending task has no holder to lose.
HELD = tuple(sorted(NON_TERMINAL - {"pending"}))


def watcher(tenant_id: str) -> Caller:
    return Caller(tenant_id, "system", "orchestratia", audit.Actor("system", "session-watch"))


def _unflagged(session_id: str) -> ColumnElement[bool]:
    return and_(
        Task.assigned_session_id == session_id,
        Task.status.in_(HELD),
        or_(Task.lost_session_id.is_(None), Task.lost_session_id != session_id),
    )


async def release(db: AsyncSession, session: TerminalSession, outbox: Outbox) -> int:
    """Release the tasks of an exited or lost ``session``; the caller commits. Returns how many.

    Idempotent: a task already flagged for this session (left for a person) is not touched again.
    """
    if session.status not in ENDED:
        return 0
    conditions = _unflagged(session.id)
    if db.get_bind().dialect.name == "sqlite":
        # Take SQLite's write lock before reading, as tasks.load does for every task write.
        await db.execute(
            update(Task)
            .where(conditions)
            .values(epoch=Task.epoch)
            .execution_options(synchronize_session=False)
        )
    held = list(await db.scalars(select(Task).where(conditions).with_for_update()))
    if not held:
        return 0
    project = await db.get(Project, session.project_id)
    assert project is not None  # sessions are deleted with their project
    for task in held:
        await _release_one(db, outbox, task, session, project)
    return len(held)


async def _release_one(
    db: AsyncSession,
    outbox: Outbox,
    task: Task,
    session: TerminalSession,
    project: Project,
) -> None:
    caller = watcher(session.tenant_id)
    how = "exited" if session.status == "exited" else "was lost"
    policy = project.lost_session_policy
    task.lost_session_id = session.id
    task.epoch += 1  # whatever the session still sends for this task is now stale
    await close_interventions(db, task, f"session {session.name} {how}")
    await deliveries.supersede(db, task)
    was = task.status
    if policy == "leave":
        task.updated_at = utcnow()
        then = f"left {was} for a person to reassign or cancel"
    else:
        task.assigned_session_id = None
        task.assigned_at = None
        task.started_at = None
        task.delivery_deferred = False
        await move(db, outbox, task, "requeue", caller, session=session.name, epoch=task.epoch)
        then = "put back to pending" + (" for auto-assignment" if project.auto_assign else "")
        # The old "assigned to ... by ..." would read as why the task waits now.
        task.assignment_reason = {"mode": "requeued", "summary": f"session {session.name} {how}"}
        outbox.auto_assign.add(task.project_id)
    details = {
        "session_id": session.id,
        "session": session.name,
        "session_status": session.status,
        "policy": policy,
        "from_status": was,
        "epoch": task.epoch,
    }
    add_event(
        db,
        outbox,
        task,
        "session_lost",
        caller.name,
        f"session {session.name} {how}; {then}",
        **details,
    )
    await audit.record(
        db,
        caller.actor,
        "task.session_lost",
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        target_type="task",
        target_id=task.id,
        details=details,
    )


async def orphaned(db: AsyncSession) -> list[TerminalSession]:
    """Ended sessions that still hold unflagged tasks: a release that was missed (a crash between
    the session's end and the release, or tasks from before this hub version)."""
    rows = await db.scalars(
        select(TerminalSession)
        .join(Task, Task.assigned_session_id == TerminalSession.id)
        .where(
            TerminalSession.status.in_(ENDED),
            Task.status.in_(HELD),
            or_(Task.lost_session_id.is_(None), Task.lost_session_id != TerminalSession.id),
        )
        .distinct()
    )
    return list(rows)
