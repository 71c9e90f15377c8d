"""Moving tasks through their lifecycle (SPEC §3): assignment and its delivery, the agent's
start / plan / help / complete / fail, and the reviewers' decisions.

Every move goes through ``task_states.check``, appends to the timeline and the audit log, and
leaves its side effects (deliveries, live updates) in the caller's ``Outbox``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.task_models import Intervention, Task
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Forbidden, StaleEpoch
from orchestratia.hub.services import audit
from orchestratia.hub.services.integrations import announcements
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import deliveries
from orchestratia.hub.services.tasks import states as task_states
from orchestratia.hub.services.tasks.assignment_pause import ensure_unpaused
from orchestratia.hub.services.tasks.context import Caller, add_event, system_caller
from orchestratia.hub.services.tasks.dependencies import (
    describe_blockers,
    on_upstream_done,
    on_upstream_stopped,
    short,
    unresolved_blockers,
)
from orchestratia.hub.services.tasks.states import Action, Trigger
from orchestratia.protocol.tasks import TaskComplete, TaskPlanSubmit

LIVE_SESSION = ("starting", "running")


async def move(
    db: AsyncSession,
    outbox: Outbox,
    task: Task,
    action: Action,
    caller: Caller,
    trigger: Trigger | None = None,
    **details: Any,
) -> None:
    """Move ``task`` by ``action``. Fields the move's events show (the new holder, the error)
    are set by the caller before the move, so the events carry them."""
    old = task.status
    task.status = task_states.check(action, old, trigger or caller.kind)
    task.updated_at = utcnow()
    outbox.transitions.append((old, task.status))
    add_event(
        db,
        outbox,
        task,
        "status",
        caller.name,
        f"{old} → {task.status}",
        action=action,
        from_status=old,
        to_status=task.status,
        **details,
    )
    await audit.record(
        db,
        caller.actor,
        f"task.{action}",
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        target_type="task",
        target_id=task.id,
        details={"from": old, "to": task.status, "epoch": task.epoch, **details},
    )
    await announcements.task_moved(db, task, old, caller.name, assigned=action == "assign")


def ensure_holder(
    task: Task, caller: Caller, epoch: int | None, holder: TerminalSession | None
) -> None:
    """Refuse writes from anyone but the session that holds the task's current assignment."""
    if task.lost_session_id is not None and task.lost_session_id == task.assigned_session_id:
        # Left for a person (lost-session policy "leave"): the session may come back, but
        # whatever it still does with the task is not trusted until someone reassigns it.
        name = f"session {holder.name!r}" if holder else "its session"
        raise StaleEpoch(
            f"task {short(task.id)} was held by {name}, which was lost; it waits for a person "
            f"to reassign it (epoch {task.epoch})"
        )
    if caller.session is not None and task.assigned_session_id != caller.session.id:
        now = f"session {holder.name!r}" if holder else "no session"
        raise StaleEpoch(
            f"stale assignment: task {short(task.id)} is now assigned to {now} "
            f"(epoch {task.epoch}); this session no longer holds it"
        )
    if (
        caller.session is None
        and caller.server is not None
        and (holder is None or holder.server_id != caller.server.id)
    ):
        raise StaleEpoch(f"task {short(task.id)} is not assigned to a session on this server")
    if epoch is not None and epoch != task.epoch:
        raise StaleEpoch(
            f"stale epoch {epoch}: task {short(task.id)} was reassigned (current epoch "
            f"{task.epoch})"
        )


async def holder_of(db: AsyncSession, task: Task) -> TerminalSession | None:
    if task.assigned_session_id is None:
        return None
    return await db.get(TerminalSession, task.assigned_session_id)


async def assign(
    db: AsyncSession,
    caller: Caller,
    task: Task,
    session: TerminalSession,
    outbox: Outbox,
    *,
    require_plan: bool | None = None,
    reason: dict[str, Any] | None = None,
) -> None:
    if session.project_id != task.project_id or session.tenant_id != task.tenant_id:
        raise Conflict("the session belongs to another project")
    if session.status not in LIVE_SESSION:
        raise Conflict(f"session {session.name!r} is {session.status}; assign to a live session")
    if caller.kind != "user":
        # After a stop-all only people hand out work until an owner resumes.
        await ensure_unpaused(db, task.project_id, "assignment by an agent")
    if (
        caller.kind == "agent"
        and task.status != "pending"
        and not await caller.acts_for(db, (task.source_session_id,))
    ):
        raise Forbidden(
            "only a person, an orchestrator or the session that created the task may reassign "
            "work that is already handed out"
        )
    previous = task.assigned_session_id
    if previous is not None:
        await close_interventions(db, task, "the task was reassigned")
    task.epoch += 1
    task.assigned_session_id = session.id
    task.lost_session_id = None
    task.assigned_at = utcnow()
    task.started_at = None if previous != session.id else task.started_at
    await move(
        db,
        outbox,
        task,
        "assign",
        caller,
        "system" if reason else None,
        session=session.name,
        epoch=task.epoch,
    )
    if require_plan is not None:
        task.require_plan = require_plan
    task.assignment_reason = reason or {
        "mode": "manual",
        "by": caller.name,
        "summary": f"assigned to {session.name} by {caller.name}",
    }
    await deliveries.supersede(db, task)
    await trigger(db, outbox, task, "assigned")


async def trigger(db: AsyncSession, outbox: Outbox, task: Task, why: str = "unblocked") -> None:
    """Tell the holder to pick up an assigned task, unless it waits for approval or blockers."""
    if task.status != "assigned" or task.assigned_session_id is None:
        return
    if task.approval_status == "pending":
        return
    blockers = await unresolved_blockers(db, task)
    if blockers:
        if not task.delivery_deferred:
            task.delivery_deferred = True
            add_event(
                db,
                outbox,
                task,
                "waiting",
                "orchestratia",
                f"delivery waits for {describe_blockers(blockers)}",
            )
        return
    task.delivery_deferred = False
    session = await db.get(TerminalSession, task.assigned_session_id)
    if session is None or session.status not in LIVE_SESSION:
        return
    if task.require_plan:
        await move(db, outbox, task, "request_plan", system_caller(task.tenant_id), "system")
    source = (
        await db.get(TerminalSession, task.source_session_id) if task.source_session_id else None
    )
    deliveries.enqueue(
        db,
        outbox,
        session,
        "task_assigned",
        task=task,
        urgent=task.priority == "critical",
        title=task.title,
        priority=task.priority,
        from_session_name=source.name if source else None,
        require_plan=task.require_plan,
        reason=why,
    )


async def cascade(db: AsyncSession, outbox: Outbox, task: Task) -> None:
    """A dependent whose blockers just resolved: deliver it, or let auto-assignment find it."""
    if task.status == "assigned":
        await trigger(db, outbox, task, "unblocked")
    elif task.status == "pending":
        outbox.auto_assign.add(task.project_id)


async def start(
    db: AsyncSession, caller: Caller, task: Task, epoch: int | None, outbox: Outbox
) -> None:
    ensure_holder(task, caller, epoch, await holder_of(db, task))
    if task.status == "assigned":
        blockers = await unresolved_blockers(db, task)
        if blockers:
            raise Conflict(
                f"task {short(task.id)} is blocked by {describe_blockers(blockers)}; "
                "it can start once they are done"
            )
    await move(db, outbox, task, "start", caller, "agent")
    task.started_at = utcnow()


async def complete(
    db: AsyncSession, caller: Caller, task: Task, body: TaskComplete, outbox: Outbox
) -> None:
    ensure_holder(task, caller, body.epoch, await holder_of(db, task))
    await move(db, outbox, task, "complete", caller, "agent")
    task.result = body.stored_result()
    task.completed_at = utcnow()
    await close_interventions(db, task, "the task is done")
    await on_upstream_done(db, outbox, task, cascade)
    outbox.auto_assign.add(task.project_id)


async def fail(
    db: AsyncSession, caller: Caller, task: Task, error: str, epoch: int | None, outbox: Outbox
) -> None:
    ensure_holder(task, caller, epoch, await holder_of(db, task))
    task.error = error
    await move(db, outbox, task, "fail", caller, "agent")
    task.result = {"error": error}
    task.completed_at = utcnow()
    await close_interventions(db, task, "the task failed")
    await on_upstream_stopped(db, outbox, task)
    outbox.auto_assign.add(task.project_id)


async def cancel(db: AsyncSession, caller: Caller, task: Task, outbox: Outbox) -> None:
    await caller.ensure_may_change(db, task)
    holder = await holder_of(db, task)
    await move(db, outbox, task, "cancel", caller)
    task.completed_at = utcnow()
    task.epoch += 1  # whatever the holder still does with it is now stale
    await close_interventions(db, task, "the task was cancelled")
    await deliveries.supersede(db, task)
    if (
        holder is not None
        and holder.status in LIVE_SESSION
        and (caller.session is None or caller.session.id != holder.id)
    ):
        deliveries.enqueue(
            db,
            outbox,
            holder,
            "task_status_update",
            task=task,
            status="cancelled",
            detail=f"cancelled by {caller.name}",
        )
    await on_upstream_stopped(db, outbox, task)
    outbox.auto_assign.add(task.project_id)


async def submit_plan(
    db: AsyncSession, caller: Caller, task: Task, body: TaskPlanSubmit, outbox: Outbox
) -> None:
    ensure_holder(task, caller, body.epoch, await holder_of(db, task))
    await move(db, outbox, task, "submit_plan", caller, "agent")
    task.plan = body.stored_plan()
    task.plan_feedback = None


async def decide_plan(
    db: AsyncSession,
    caller: Caller,
    task: Task,
    approve: bool,
    feedback: str | None,
    outbox: Outbox,
) -> None:
    holder = await holder_of(db, task)
    if approve:
        await move(db, outbox, task, "approve_plan", caller)
        task.started_at = utcnow()
        kind, fields = "plan_approved", {}
    else:
        await move(db, outbox, task, "revise_plan", caller, feedback=feedback)
        task.plan_feedback = feedback
        kind, fields = "plan_revision", {"feedback": feedback or ""}
    if holder is not None and holder.status in LIVE_SESSION:
        deliveries.enqueue(db, outbox, holder, kind, task=task, urgent=True, **fields)


async def close_interventions(db: AsyncSession, task: Task, why: str) -> None:
    """Questions asked under an assignment that has ended can no longer be answered: the asker
    no longer holds the task, so an answer would reach the wrong session or move the task."""
    await db.execute(
        update(Intervention)
        .where(Intervention.task_id == task.id, Intervention.status == "pending")
        .values(status="expired", response=None, responder=why, responded_at=utcnow())
    )
