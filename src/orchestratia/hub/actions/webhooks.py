"""Webhook endpoint changes and redeliveries, each in one audited transaction; work queued for
the delivery worker wakes it once committed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions import webhook_worker
from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.integration_models import WebhookEndpoint
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.integrations import webhook_endpoints as endpoints
from orchestratia.hub.services.integrations import webhook_log
from orchestratia.hub.state import HubState
from orchestratia.protocol.webhooks import (
    DeliveryDetail,
    SecretRotate,
    WebhookCreate,
    WebhookTestResult,
    WebhookUpdate,
)


async def create(
    db: AsyncSession, hub: HubState, principal: Principal, body: WebhookCreate, actor: audit.Actor
) -> tuple[endpoints.EndpointRow, str]:
    allow = hub.settings.webhook_allow_private
    return await run(
        db, hub, lambda _: endpoints.create(db, principal, hub.keyring, allow, body, actor)
    )


async def update(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    endpoint_id: str,
    body: WebhookUpdate,
    actor: audit.Actor,
) -> endpoints.EndpointRow:
    allow = hub.settings.webhook_allow_private
    found = await run(
        db, hub, lambda _: endpoints.update(db, principal, allow, endpoint_id, body, actor)
    )
    if body.enabled:
        hub.webhooks_due.set()  # deliveries held while it was disabled may go now
    return found


async def delete(
    db: AsyncSession, hub: HubState, principal: Principal, endpoint_id: str, actor: audit.Actor
) -> None:
    await run(db, hub, lambda _: endpoints.delete(db, principal, endpoint_id, actor))


async def rotate_secret(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    endpoint_id: str,
    body: SecretRotate,
    actor: audit.Actor,
) -> tuple[WebhookEndpoint, str]:
    return await run(
        db,
        hub,
        lambda _: endpoints.rotate_secret(db, principal, hub.keyring, endpoint_id, body, actor),
    )


async def redeliver(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    endpoint_id: str,
    delivery_id: str,
    actor: audit.Actor,
) -> DeliveryDetail:
    async def work() -> DeliveryDetail:
        endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
        await webhook_log.redeliver(db, endpoint, delivery_id, actor)
        return await webhook_log.detail(db, endpoint, delivery_id)

    found = await run(db, hub, lambda _: work())
    hub.webhooks_due.set()
    return found


async def redeliver_failed(
    db: AsyncSession, hub: HubState, principal: Principal, endpoint_id: str, actor: audit.Actor
) -> int:
    async def work() -> int:
        endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
        return await webhook_log.redeliver_failed(db, endpoint, actor)

    count = await run(db, hub, lambda _: work())
    if count:
        hub.webhooks_due.set()
    return count


async def send_test(
    db: AsyncSession, hub: HubState, principal: Principal, endpoint_id: str, actor: audit.Actor
) -> WebhookTestResult:
    """Send the endpoint a signed test event now and answer the attempt's outcome."""
    endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(webhook_log.DISABLED)
    # The attempt takes transactions of its own: hold no read open meanwhile (the endpoint,
    # detached first, keeps what was loaded).
    db.expunge(endpoint)
    await db.rollback()
    attempt = await webhook_worker.send_test(hub, endpoint)

    async def work() -> str:
        audited, _ = await endpoints.managed(db, principal, endpoint_id)
        delivery = await webhook_log.delivery_of(db, audited, attempt.delivery_id)
        details = {"delivery_id": delivery.id, "event_id": delivery.event_id}
        await endpoints.record_change(db, actor, "webhook.tested", audited, details)
        return delivery.event_id

    event_id = await run(db, hub, lambda _: work())
    return WebhookTestResult(
        delivery_id=attempt.delivery_id,
        event_id=event_id,
        ok=attempt.ok,
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        error=attempt.error,
        response_excerpt=attempt.response_excerpt,
    )
