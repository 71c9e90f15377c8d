"""The inbox (SPEC §8): one tenant-wide list of what waits for a person, and decisions on it
that apply exactly once.

Items are read from where they live (interventions, tasks in plan review or awaiting approval,
tool calls a rule sent to ``ask``, and the ``session_lost`` timeline entries of tasks whose
session exited or was lost: a notice until a person acknowledges it); nothing is copied. A
decision is recorded under the client's ``decision_id`` in the same transaction that changes
the item, and the change itself is conditional on the item still waiting, so a retry is
recognised and a second decision refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import ToolApproval
from orchestratia.hub.db.inbox_models import InboxDecision
from orchestratia.hub.db.task_models import Intervention, Task, TaskEvent
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import HubError, NotFound
from orchestratia.hub.services.approvals import tool_approvals
from orchestratia.hub.services.fleet import sessions as fleet_sessions
from orchestratia.hub.services.inbox import interventions
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import flow as task_flow
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.hub.services.tasks.context import Caller, add_event
from orchestratia.protocol.inbox import DecisionOutcome, InboxKind


@dataclass(frozen=True)
class Filters:
    project_id: str | None = None
    server_id: str | None = None
    session_id: str | None = None
    kind: str | None = None


@dataclass
class Item:
    kind: InboxKind
    id: str
    project_id: str
    title: str
    detail: str
    created_at: str
    task_id: str | None = None
    session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def _visible_projects(db: AsyncSession, caller: Caller, wanted: str | None) -> list[str]:
    ids = await caller.project_ids(db)
    return [p for p in ids if p == wanted] if wanted else ids


async def pending(db: AsyncSession, caller: Caller, filters: Filters) -> list[dict[str, Any]]:
    projects = await _visible_projects(db, caller, filters.project_id)
    if not projects:
        return []
    items: list[Item] = []
    want = filters.kind
    if want in (None, "intervention"):
        for row in await db.scalars(
            select(Intervention).where(
                Intervention.project_id.in_(projects), Intervention.status == "pending"
            )
        ):
            items.append(
                Item(
                    "intervention",
                    row.id,
                    row.project_id,
                    row.question,
                    row.context or "",
                    row.created_at.isoformat(),
                    row.task_id,
                    row.session_id,
                    {"type": row.type, "urgency": row.urgency},
                )
            )
    if want in (None, "plan_review", "task_approval"):
        rows = await db.scalars(
            select(Task).where(
                Task.project_id.in_(projects),
                (Task.status == "plan_review") | (Task.approval_status == "pending"),
                Task.status.not_in(("done", "failed", "cancelled")),
            )
        )
        for task in rows:
            if task.status == "plan_review" and want in (None, "plan_review"):
                summary = str((task.plan or {}).get("summary", ""))
                items.append(
                    Item(
                        "plan_review",
                        task.id,
                        task.project_id,
                        task.title,
                        summary,
                        task.updated_at.isoformat(),
                        task.id,
                        task.assigned_session_id,
                        {"plan": task.plan, "epoch": task.epoch},
                    )
                )
            if task.approval_status == "pending" and want in (None, "task_approval"):
                items.append(
                    Item(
                        "task_approval",
                        task.id,
                        task.project_id,
                        task.title,
                        task.spec[:500],
                        task.created_at.isoformat(),
                        task.id,
                        task.source_session_id,
                        {"created_by": task.created_by, "priority": task.priority},
                    )
                )
    if want in (None, "tool_approval"):
        now = utcnow()
        for ask in await db.scalars(
            select(ToolApproval).where(
                ToolApproval.project_id.in_(projects),
                ToolApproval.status == "pending",
                ToolApproval.expires_at > now,
            )
        ):
            items.append(
                Item(
                    "tool_approval",
                    ask.id,
                    ask.project_id,
                    ask.tool,
                    ask.main_param or "",
                    ask.created_at.isoformat(),
                    None,
                    ask.session_id,
                    {
                        "agent": ask.agent,
                        "tool_input": ask.tool_input,
                        "server_id": ask.server_id,
                        "expires_at": ask.expires_at.isoformat(),
                    },
                )
            )
    if want in (None, "session_lost"):
        items.extend(await _lost_session_notices(db, projects))
    return await _decorate(db, items, filters)


async def _lost_session_notices(db: AsyncSession, projects: list[str]) -> list[Item]:
    """``session_lost`` timeline entries nobody has acknowledged yet."""
    rows = await db.execute(
        select(TaskEvent, Task)
        .join(Task, Task.id == TaskEvent.task_id)
        .outerjoin(
            InboxDecision,
            and_(InboxDecision.item_id == TaskEvent.id, InboxDecision.kind == "session_lost"),
        )
        .where(
            TaskEvent.project_id.in_(projects),
            TaskEvent.kind == "session_lost",
            InboxDecision.decision_id.is_(None),
        )
    )
    return [
        Item(
            "session_lost",
            event.id,
            event.project_id,
            task.title,
            event.summary,
            event.created_at.isoformat(),
            task.id,
            event.details.get("session_id"),
            {"policy": event.details.get("policy"), "task_status": task.status},
        )
        for event, task in rows
    ]


async def _decorate(db: AsyncSession, items: list[Item], filters: Filters) -> list[dict[str, Any]]:
    session_ids = {i.session_id for i in items if i.session_id}
    sessions, servers = await fleet_sessions.with_servers(db, session_ids)
    out = []
    for item in sorted(items, key=lambda i: i.created_at):
        session = sessions.get(item.session_id or "")
        server = servers.get(session.server_id) if session else None
        server_id = server.id if server else item.extra.get("server_id")
        if filters.session_id and item.session_id != filters.session_id:
            continue
        if filters.server_id and server_id != filters.server_id:
            continue
        out.append(
            {
                "kind": item.kind,
                "id": item.id,
                "project_id": item.project_id,
                "task_id": item.task_id,
                "session_id": item.session_id,
                "session_name": session.name if session else None,
                "server_id": server_id,
                "server_name": server.name if server else None,
                "title": item.title,
                "detail": item.detail,
                "created_at": item.created_at,
                **item.extra,
            }
        )
    return out


@dataclass(frozen=True)
class Decision:
    kind: InboxKind
    id: str
    decision_id: str
    action: Literal["approve", "deny", "respond", "acknowledge"]
    response: str | None = None
    feedback: str | None = None
    allow_minutes: int | None = None
    epoch: int | None = None


async def decide(
    db: AsyncSession,
    caller: Caller,
    decision: Decision,
    outbox: Outbox,
    waiters: tool_approvals.ApprovalWaiters | None = None,
) -> tuple[DecisionOutcome, str]:
    """Apply one decision in the caller's transaction; the caller commits on ``applied``."""
    earlier = await db.get(InboxDecision, decision.decision_id)
    if earlier is not None:
        if earlier.tenant_id != caller.tenant_id or earlier.item_id != decision.id:
            return "conflict", "this decision id was used for another item"
        return "already_applied", earlier.detail or ""
    try:
        detail = await _apply(db, caller, decision, outbox, waiters)
    except NotFound as exc:
        return "not_found", exc.detail
    except HubError as exc:
        # A concurrent retry of this very decision may have won the race: then it is applied.
        await db.rollback()
        winner = await db.get(InboxDecision, decision.decision_id)
        if winner is not None and winner.item_id == decision.id:
            return "already_applied", winner.detail or ""
        return "conflict", exc.detail
    db.add(
        InboxDecision(
            decision_id=decision.decision_id,
            tenant_id=caller.tenant_id,
            kind=decision.kind,
            item_id=decision.id,
            action=decision.action,
            decided_by=caller.name,
            detail=detail,
        )
    )
    return "applied", detail


async def _apply(
    db: AsyncSession,
    caller: Caller,
    d: Decision,
    outbox: Outbox,
    waiters: tool_approvals.ApprovalWaiters | None,
) -> str:
    if d.kind == "session_lost":
        return await _acknowledge(db, caller, d, outbox)
    approve = d.action in ("approve", "respond")
    if d.kind == "intervention":
        row = await interventions.load(db, caller, d.id)
        if d.action != "respond" or not (d.response or "").strip():
            raise HubError("an intervention is answered with action 'respond' and a response")
        await interventions.respond(db, caller, row, d.response or "", outbox)
        return "answered"
    if d.kind == "plan_review":
        task = await tasks.load(db, caller, d.id, write=True)
        if not approve and not (d.feedback or "").strip():
            raise HubError("a revision request needs feedback")
        if d.epoch is not None and d.epoch != task.epoch:
            raise HubError(
                f"the task was reassigned since this plan was shown (epoch {task.epoch}, "
                f"not {d.epoch}); review the current plan"
            )
        await task_flow.decide_plan(db, caller, task, approve, d.feedback, outbox)
        return "plan approved" if approve else "revision requested"
    if d.kind == "task_approval":
        task = await tasks.load(db, caller, d.id, write=True)
        await tasks.decide_approval(db, caller, task, approve, d.feedback, outbox)
        return "task approved" if approve else "task rejected"
    outcome = await tool_approvals.decide(
        db, caller, d.id, approve, d.decision_id, d.feedback, d.allow_minutes, waiters=waiters
    )
    if outcome == "not_found":
        raise NotFound("tool call not found")
    if outcome == "already_applied":
        raise HubError("decided earlier under this decision id")
    if outcome != "applied":
        raise HubError(f"tool call already decided ({outcome})")
    return "allowed" if approve else "denied"


async def _acknowledge(db: AsyncSession, caller: Caller, d: Decision, outbox: Outbox) -> str:
    """A notice changes nothing when read: the decision row recorded by ``decide`` is what takes
    it off the list. The task's timeline says who acknowledged it."""
    if d.action != "acknowledge":
        raise HubError("a lost-session notice is answered with action 'acknowledge'")
    event = await db.get(TaskEvent, d.id)
    if event is None or event.kind != "session_lost" or event.task_id is None:
        raise NotFound("notice not found")
    task = await tasks.load(db, caller, event.task_id, write=True)
    seen = await db.scalar(
        select(InboxDecision.decision_id).where(
            InboxDecision.item_id == event.id, InboxDecision.kind == "session_lost"
        )
    )
    if seen is not None:
        raise HubError("this notice was already acknowledged")
    add_event(db, outbox, task, "notice_acknowledged", caller.name, f"{event.summary} — seen")
    return "acknowledged"
