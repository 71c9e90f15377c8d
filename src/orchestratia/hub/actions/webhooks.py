"""Webhook endpoint changes and redeliveries, each in one audited transaction; work queued for
the delivery worker wakes it once committed."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.integration_models import WebhookAttempt, WebhookEndpoint
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

# How long ``send_test`` waits for the worker's first attempt: the receiver's timeout and a
# poll or two of the worker fit in it.
TEST_WAIT_SECONDS = 10.0
TEST_POLL_SECONDS = 0.1


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
    """Queue a test event for the endpoint, wake the worker and wait (a bounded time) for its
    first attempt; the outcome of that attempt, or ``attempted: false`` if none came."""

    async def work() -> tuple[str, str]:
        endpoint, _ = await endpoints.managed(db, principal, endpoint_id)
        delivery = await webhook_log.queue_test(db, endpoint, actor)
        return delivery.id, delivery.event_id

    delivery_id, event_id = await run(db, hub, lambda _: work())
    hub.webhooks_due.set()
    attempt = await _wait_first_attempt(hub, delivery_id)
    result = WebhookTestResult(delivery_id=delivery_id, event_id=event_id, attempted=False)
    if attempt is None:
        return result
    return result.model_copy(
        update={
            "attempted": True,
            "ok": attempt.ok,
            "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms,
            "error": attempt.error,
            "response_excerpt": attempt.response_excerpt,
        }
    )


async def _wait_first_attempt(hub: HubState, delivery_id: str) -> WebhookAttempt | None:
    deadline = time.monotonic() + TEST_WAIT_SECONDS
    while True:
        # A session per look: each one reads what the worker committed since.
        async with hub.sessionmaker() as db:
            found = await webhook_log.first_attempt(db, delivery_id)
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(TEST_POLL_SECONDS)
