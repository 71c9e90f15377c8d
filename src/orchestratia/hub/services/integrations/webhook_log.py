"""An endpoint's delivery log (deliveries newest first, each with its attempts) and the ways an
owner puts deliveries back in the queue: redeliver one, redeliver every failed one, send a test
event. The delivery worker makes the attempts; this module only reads and queues rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Invalid, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.integrations.events import new_event_id
from orchestratia.hub.services.integrations.webhook_endpoints import TEST_EVENT, record_change
from orchestratia.protocol.webhooks import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPage,
    DeliveryPublic,
    DeliveryQuery,
)

# LEAD: the delivery worker (branch ``delivery``) owns the retry schedule and has its own
# ``redeliver``/``redeliver_failed``; a redelivery here gets a fresh series of this length,
# about the ~3 days of the first one. Swap these row updates for the worker's at merge.
RETRY_WINDOW = timedelta(days=3)
# A test event is tried once: the person who sent it is waiting for the answer.
TEST_WINDOW = timedelta(minutes=1)
DISABLED = "this endpoint is disabled; enable it first"
# Test events not yet sent that one endpoint may hold: a held-down button queues no flood.
MAX_PENDING_TESTS = 5


def public(delivery: WebhookDelivery, event_type: str, latency_ms: int | None) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
        "give_up_at": delivery.give_up_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "last_latency_ms": latency_ms,
        "created_at": delivery.created_at,
        "completed_at": delivery.completed_at,
    }


async def _latencies(db: AsyncSession, delivery_ids: list[str]) -> dict[str, int | None]:
    """The latency of each delivery's latest attempt."""
    if not delivery_ids:
        return {}
    latest = (
        select(WebhookAttempt.delivery_id, func.max(WebhookAttempt.number).label("n"))
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .group_by(WebhookAttempt.delivery_id)
        .subquery()
    )
    rows = await db.execute(
        select(WebhookAttempt.delivery_id, WebhookAttempt.latency_ms).join(
            latest,
            and_(
                WebhookAttempt.delivery_id == latest.c.delivery_id,
                WebhookAttempt.number == latest.c.n,
            ),
        )
    )
    return {delivery_id: latency for delivery_id, latency in rows}


async def page(db: AsyncSession, endpoint: WebhookEndpoint, q: DeliveryQuery) -> DeliveryPage:
    """A page of the endpoint's deliveries, newest first."""
    stmt = (
        select(WebhookDelivery, IntegrationEvent.type)
        .join(IntegrationEvent, IntegrationEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.tenant_id == endpoint.tenant_id,
        )
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(q.limit + 1)
    )
    if q.status is not None:
        stmt = stmt.where(WebhookDelivery.status == q.status)
    if q.before is not None:
        mark = await db.get(WebhookDelivery, q.before)
        if mark is None or mark.endpoint_id != endpoint.id:
            raise Invalid("before must be the id of a delivery of this endpoint (next_before)")
        stmt = stmt.where(_older_than(mark.created_at, mark.id))
    rows = list(await db.execute(stmt))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    latencies = await _latencies(db, [d.id for d, _ in rows])
    deliveries = [
        DeliveryPublic.model_validate(public(d, kind, latencies.get(d.id))) for d, kind in rows
    ]
    return DeliveryPage(deliveries=deliveries, next_before=rows[-1][0].id if more else None)


def _older_than(at: datetime, delivery_id: str) -> Any:
    return or_(
        WebhookDelivery.created_at < at,
        and_(WebhookDelivery.created_at == at, WebhookDelivery.id < delivery_id),
    )


async def delivery_of(
    db: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDelivery:
    delivery = await db.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.tenant_id == endpoint.tenant_id,
        )
    )
    if delivery is None:
        raise NotFound("delivery not found")
    return delivery


async def attempts_of(db: AsyncSession, delivery_id: str) -> list[WebhookAttempt]:
    return list(
        await db.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.number)
        )
    )


async def attempts_for(db: AsyncSession, delivery_ids: list[str]) -> dict[str, list[AttemptPublic]]:
    """Every attempt of each delivery (the log page shows them under their delivery)."""
    found: dict[str, list[AttemptPublic]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    rows = await db.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
    )
    for row in rows:
        found[row.delivery_id].append(AttemptPublic.model_validate(row, from_attributes=True))
    return found


async def detail(db: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str) -> DeliveryDetail:
    """One delivery with every attempt, oldest first."""
    delivery = await delivery_of(db, endpoint, delivery_id)
    event_type = await db.scalar(
        select(IntegrationEvent.type).where(IntegrationEvent.id == delivery.event_id)
    )
    tried = await attempts_of(db, delivery.id)
    latency = tried[-1].latency_ms if tried else None
    log = [AttemptPublic.model_validate(a, from_attributes=True) for a in tried]
    return DeliveryDetail.model_validate(
        {**public(delivery, event_type or "", latency), "attempts_log": log}
    )


def _queued_again(now: datetime) -> dict[str, Any]:
    """The columns of a delivery put back in the queue: due now, a fresh retry window, no
    lease. ``attempts`` is kept, so attempt numbers keep counting up in the log."""
    return {
        "status": "pending",
        "next_attempt_at": now,
        "give_up_at": now + RETRY_WINDOW,
        "lease_owner": None,
        "lease_until": None,
        "completed_at": None,
    }


async def redeliver(
    db: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str, actor: audit.Actor
) -> WebhookDelivery:
    """Send one delivery again now, with the same ``webhook-id``. LEAD: swap for the delivery
    worker's ``redeliver(db, delivery)`` at merge."""
    if not endpoint.enabled:
        raise Conflict(DISABLED)
    delivery = await delivery_of(db, endpoint, delivery_id)
    now = utcnow()
    if delivery.lease_until is not None and delivery.lease_until > now:
        raise Conflict("this delivery is being attempted right now; look again in a moment")
    for column, value in _queued_again(now).items():
        setattr(delivery, column, value)
    await record_change(
        db, actor, "webhook.redelivered", endpoint, {"delivery_id": delivery.id, "count": 1}
    )
    await db.flush()
    return delivery


async def redeliver_failed(db: AsyncSession, endpoint: WebhookEndpoint, actor: audit.Actor) -> int:
    """Send every failed delivery of the endpoint again now; how many. LEAD: swap for the
    delivery worker's ``redeliver_failed(db, endpoint)`` at merge."""
    if not endpoint.enabled:
        raise Conflict(DISABLED)
    result: Any = await db.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "failed")
        .values(**_queued_again(utcnow()))
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)
    await record_change(
        db, actor, "webhook.redelivered", endpoint, {"failed": True, "count": count}
    )
    return count


async def queue_test(
    db: AsyncSession, endpoint: WebhookEndpoint, actor: audit.Actor
) -> WebhookDelivery:
    """A ``webhook.test`` event for this endpoint alone, due now. It is born dispatched, so the
    dispatcher never fans it out to the project's other endpoints."""
    if not endpoint.enabled:
        raise Conflict(DISABLED)
    waiting = await db.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .join(IntegrationEvent, IntegrationEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == "pending",
            IntegrationEvent.type == TEST_EVENT,
        )
    )
    if (waiting or 0) >= MAX_PENDING_TESTS:
        raise Conflict(
            f"{MAX_PENDING_TESTS} test events to this endpoint are still waiting to be sent; "
            "look at the delivery log before sending more"
        )
    now = utcnow()
    event = IntegrationEvent(
        id=new_event_id(),
        tenant_id=endpoint.tenant_id,
        project_id=endpoint.project_id,
        type=TEST_EVENT,
        data={
            "endpoint_id": endpoint.id,
            "project_id": endpoint.project_id,
            "message": "A test event from Orchestratia: this endpoint is wired up.",
            "sent_by": actor.id,
        },
        created_at=now,
        dispatched_at=now,
    )
    delivery = WebhookDelivery(
        tenant_id=endpoint.tenant_id,
        project_id=endpoint.project_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        status="pending",
        next_attempt_at=now,
        give_up_at=now + TEST_WINDOW,
        created_at=now,
    )
    db.add_all([event, delivery])
    await db.flush()
    await record_change(
        db, actor, "webhook.tested", endpoint, {"delivery_id": delivery.id, "event_id": event.id}
    )
    return delivery


async def first_attempt(db: AsyncSession, delivery_id: str) -> WebhookAttempt | None:
    """The delivery's first attempt, once the worker recorded it."""
    return await db.scalar(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.number)
        .limit(1)
    )
