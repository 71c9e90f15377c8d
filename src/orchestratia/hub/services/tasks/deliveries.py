"""Messages to type into sessions, kept until their daemon acknowledges them (SPEC §3).

A delivery is written in the same transaction as the change it announces; ``ws.task_delivery``
sends it after the commit and again whenever the daemon reconnects, until it is acknowledged.
A newer assignment supersedes what was queued for the task's previous holder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.db.task_models import Delivery, Task, TaskNote
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks.context import add_event
from orchestratia.protocol.deliveries import DeliveryAckFrame, delivery_adapter

OPEN = ("queued", "sent")
LIVE_SESSION = ("starting", "running")


def enqueue(
    db: AsyncSession,
    outbox: Outbox,
    session: TerminalSession,
    kind: str,
    *,
    task: Task | None = None,
    urgent: bool = False,
    **payload: Any,
) -> Delivery:
    """Queue ``kind`` (a delivery frame type) for ``session``; ``payload`` holds its fields."""
    delivery = Delivery(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=session.tenant_id,
        project_id=session.project_id,
        task_id=task.id if task else None,
        session_id=session.id,
        server_id=session.server_id,
        kind=kind,
        payload=payload,
        urgent=urgent,
        epoch=task.epoch if task else None,
        status="queued",
        attempts=0,
    )
    db.add(delivery)
    outbox.deliveries.append(delivery)
    return delivery


def frame_for(delivery: Delivery) -> BaseModel:
    """The wire frame of a stored delivery."""
    fields = {
        "type": delivery.kind,
        "session_id": delivery.session_id,
        "delivery_id": delivery.id,
        "epoch": delivery.epoch,
        "urgent": delivery.urgent,
        # Keys starting with "_" are the hub's own bookkeeping, not frame fields.
        **{k: v for k, v in delivery.payload.items() if not k.startswith("_")},
    }
    if delivery.task_id and delivery.kind != "note_for_session":
        fields.setdefault("task_id", delivery.task_id)
    return delivery_adapter.validate_python(fields)


async def supersede(db: AsyncSession, task: Task, keep_session_id: str | None = None) -> None:
    """Drop what is still queued for this task's previous holders."""
    stmt = update(Delivery).where(
        Delivery.task_id == task.id, Delivery.status.in_(OPEN), Delivery.epoch < task.epoch
    )
    if keep_session_id:
        stmt = stmt.where(Delivery.session_id != keep_session_id)
    await db.execute(stmt.values(status="superseded", detail="a newer assignment replaced it"))


async def pending_for_server(db: AsyncSession, server_id: str) -> Sequence[Delivery]:
    rows = await db.scalars(
        select(Delivery)
        .join(TerminalSession, TerminalSession.id == Delivery.session_id)
        .where(
            Delivery.server_id == server_id,
            Delivery.status.in_(OPEN),
            TerminalSession.status.in_(LIVE_SESSION),
        )
        .order_by(Delivery.created_at)
        .limit(500)
    )
    return rows.all()


async def mark_sent(db: AsyncSession, ids: Sequence[str], *, acked: bool) -> None:
    """Record a send; legacy daemons never acknowledge, so their sends count as delivered."""
    if not ids:
        return
    now = utcnow()
    values: dict[str, Any] = {"sent_at": now, "attempts": Delivery.attempts + 1}
    if acked:
        values.update(status="delivered", acked_at=now)
    else:
        values["status"] = "sent"
    await db.execute(
        update(Delivery).where(Delivery.id.in_(ids), Delivery.status.in_(OPEN)).values(**values)
    )
    await db.commit()


async def acknowledge(
    db: AsyncSession, server_id: str, ack: DeliveryAckFrame, outbox: Outbox
) -> Delivery | None:
    """Apply a daemon's ack once: repeated or superseded acks change nothing."""
    delivery = await db.scalar(
        select(Delivery).where(Delivery.id == ack.delivery_id, Delivery.server_id == server_id)
    )
    if delivery is None or delivery.status not in OPEN:
        return None
    delivery.status = ack.status
    delivery.acked_at = utcnow()
    delivery.detail = ack.detail or None
    task = await db.get(Task, delivery.task_id) if delivery.task_id else None
    if task is not None:
        if ack.status == "delivered":
            summary = f"{_describe(delivery)} delivered to the session"
        else:
            summary = f"{_describe(delivery)} could not be delivered: {ack.detail}"
        add_event(
            db,
            outbox,
            task,
            f"delivery_{ack.status}",
            "daemon",
            summary,
            delivery_id=delivery.id,
            frame=delivery.kind,
            session_id=delivery.session_id,
        )
        note_id = delivery.payload.get("_note_id") if delivery.kind == "task_note" else None
        if note_id and ack.status == "delivered":
            note = await db.get(TaskNote, note_id)
            if note is not None and note.delivered_at is None:
                note.delivered_at = delivery.acked_at
    return delivery


def _describe(delivery: Delivery) -> str:
    return {
        "task_assigned": "assignment",
        "task_note": "note",
        "task_updated": "spec update",
        "plan_approved": "plan approval",
        "plan_revision": "plan revision request",
        "intervention_response": "response",
        "task_approved": "approval",
        "task_rejected": "rejection",
    }.get(delivery.kind, delivery.kind.replace("_", " "))
