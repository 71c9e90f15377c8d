"""Interventions (SPEC §8): an agent's request for help, a question or an approval, and the
answer that is typed back into its terminal. Each is answered at most once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.task_models import Intervention, Task
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Conflict, Forbidden, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.integrations import announcements
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import deliveries
from orchestratia.hub.services.tasks.context import Caller, add_event
from orchestratia.hub.services.tasks.dependencies import short
from orchestratia.hub.services.tasks.flow import LIVE_SESSION, ensure_holder, holder_of, move
from orchestratia.protocol.task_replies import InterventionPublic
from orchestratia.protocol.tasks import TaskHelpRequest


async def load(db: AsyncSession, caller: Caller, intervention_id: str) -> Intervention:
    row = await db.scalar(
        select(Intervention).where(
            Intervention.id == intervention_id, Intervention.tenant_id == caller.tenant_id
        )
    )
    if row is None:
        raise NotFound("intervention not found")
    try:
        await caller.project(db, row.project_id, write=False)
    except NotFound:
        raise NotFound("intervention not found") from None
    return row


async def list_for(
    db: AsyncSession, caller: Caller, task_id: str | None, status: str | None
) -> Sequence[Intervention]:
    stmt = select(Intervention).where(
        Intervention.tenant_id == caller.tenant_id,
        Intervention.project_id.in_(await caller.project_ids(db)),
    )
    if task_id:
        stmt = stmt.where(Intervention.task_id == task_id)
    if status:
        stmt = stmt.where(Intervention.status == status)
    rows = await db.scalars(stmt.order_by(Intervention.created_at.desc()).limit(200))
    return rows.all()


async def respond(
    db: AsyncSession, caller: Caller, row: Intervention, response: str, outbox: Outbox
) -> Task | None:
    """Answer once: the row is claimed with a conditional update, so a second answer (another
    browser, a retried request) is refused instead of reaching the agent twice."""
    if caller.is_agent and (caller.kind != "orchestrator" or row.type != "question"):
        raise Forbidden("agents may answer only question interventions, as an orchestrator")
    await caller.project(db, row.project_id, write=True)
    claimed = await db.execute(
        update(Intervention)
        .where(Intervention.id == row.id, Intervention.status == "pending")
        .values(status="responded", response=response, responder=caller.name, responded_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this intervention has already been answered")
    await db.refresh(row)  # the answer as stored, for the event
    announcements.intervention(db, row, "intervention.responded")
    await _audit(db, caller, row, "intervention.responded", chars=len(response))
    task = await db.get(Task, row.task_id) if row.task_id else None
    if task is not None:
        add_event(
            db,
            outbox,
            task,
            "help_answered",
            caller.name,
            f"answered: {response[:200]}",
            intervention_id=row.id,
        )
        if task.status == "needs_human" and task.assigned_session_id == row.session_id:
            await move(db, outbox, task, "respond", caller, intervention_id=row.id)
    session = await db.get(TerminalSession, row.session_id) if row.session_id else None
    if session is not None and session.status in LIVE_SESSION:
        deliveries.enqueue(
            db,
            outbox,
            session,
            "intervention_response",
            task=task,
            urgent=True,
            intervention_id=row.id,
            response=response,
        )
    return task


def public(row: Intervention) -> InterventionPublic:
    return InterventionPublic(
        id=row.id,
        task_id=row.task_id,
        session_id=row.session_id,
        project_id=row.project_id,
        type=row.type,
        question=row.question,
        context=row.context,
        urgency=row.urgency,
        status=row.status,
        response=row.response,
        responder=row.responder,
        created_at=row.created_at.isoformat(),
        responded_at=row.responded_at.isoformat() if row.responded_at else None,
    )


async def ask_help(
    db: AsyncSession, caller: Caller, task: Task, body: TaskHelpRequest, outbox: Outbox
) -> Intervention:
    holder = await holder_of(db, task)
    ensure_holder(task, caller, body.epoch, holder)
    if body.type != "question":
        await move(db, outbox, task, "ask_help", caller, "agent", intervention_type=body.type)
    intervention = Intervention(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        task_id=task.id,
        session_id=holder.id if holder else None,
        type=body.type,
        question=body.question,
        context=body.context,
        urgency=body.urgency,
        status="pending",
    )
    db.add(intervention)
    await _audit(db, caller, intervention, "intervention.created", type=body.type)
    announcements.intervention(db, intervention, "intervention.created")
    add_event(
        db,
        outbox,
        task,
        "help_requested",
        caller.name,
        f"asked for {body.type}: {body.question[:200]}",
        intervention_id=intervention.id,
    )
    if body.type == "question":
        await _ask_orchestrators(db, outbox, task, intervention, holder)
    return intervention


async def _ask_orchestrators(
    db: AsyncSession,
    outbox: Outbox,
    task: Task,
    intervention: Intervention,
    asker: TerminalSession | None,
) -> None:
    """A question goes to the project's live orchestrator sessions (and the session that made the
    task), which may answer it with ``orchestratia intervention respond``."""
    rows = await db.scalars(
        select(TerminalSession).where(
            TerminalSession.project_id == task.project_id,
            TerminalSession.status.in_(LIVE_SESSION),
            (TerminalSession.role == "orchestrator")
            | (TerminalSession.id == (task.source_session_id or "")),
        )
    )
    who = asker.name if asker else "an agent"
    content = (
        f"Question from {who} on task {short(task.id)}: {intervention.question} "
        f"-- answer with: orchestratia intervention respond {intervention.id} --response '...'"
    )
    for target in rows:
        if asker is None or target.id != asker.id:
            deliveries.enqueue(
                db, outbox, target, "note_for_session", task=task, content=content, author=who
            )


async def _audit(
    db: AsyncSession, caller: Caller, row: Intervention, action: str, **details: object
) -> None:
    details = {"task_id": row.task_id, **details}
    await audit.record_on(db, caller.actor, action, "intervention", row, details)
