"""An endpoint's delivery log (deliveries newest first, each with its attempts) and the ways an
owner puts deliveries back in the queue: redeliver one, or every failed one. The delivery worker
makes the attempts; this module only reads and queues rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
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
from orchestratia.hub.services.integrations import webhook_delivery
from orchestratia.hub.services.integrations.webhook_endpoints import record_change
from orchestratia.protocol.webhooks import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPage,
    DeliveryPublic,
    DeliveryQuery,
)

DISABLED = "this endpoint is disabled; enable it first"


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


async def redeliver(
    db: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str, actor: audit.Actor
) -> WebhookDelivery:
    """Send one delivery again now, with the same ``webhook-id``."""
    if not endpoint.enabled:
        raise Conflict(DISABLED)
    delivery = await delivery_of(db, endpoint, delivery_id)
    now = utcnow()
    if delivery.lease_until is not None and delivery.lease_until > now:
        raise Conflict("this delivery is being attempted right now; look again in a moment")
    webhook_delivery.redeliver(db, delivery)
    await record_change(
        db, actor, "webhook.redelivered", endpoint, {"delivery_id": delivery.id, "count": 1}
    )
    await db.flush()
    return delivery


async def redeliver_failed(db: AsyncSession, endpoint: WebhookEndpoint, actor: audit.Actor) -> int:
    """Send every failed delivery of the endpoint again now; how many."""
    if not endpoint.enabled:
        raise Conflict(DISABLED)
    count = await webhook_delivery.redeliver_failed(db, endpoint)
    await record_change(
        db, actor, "webhook.redelivered", endpoint, {"failed": True, "count": count}
    )
    return count
