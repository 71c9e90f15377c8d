"""The webhook worker: turns due deliveries into signed HTTP requests, on every replica.

Each pass claims due deliveries (a lease per attempt, so replicas never make the same attempt
twice), runs up to ``webhook_concurrency`` requests at once, and records each outcome in a
transaction of its own. The worker wakes when deliveries are queued (``hub.webhooks_due``),
when an attempt ends, and at least every ``integrations_poll_interval``. A replica
that dies mid-request leaves a lease that runs out; another replica then makes that attempt
again with the same ``webhook-id`` (at-least-once, as Standard Webhooks expects)."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions import transaction
from orchestratia.hub.db.integration_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services.integrations import webhook_delivery, worker
from orchestratia.hub.services.integrations.webhook_http import AttemptResult, WebhookSender
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)
# How long attempts under way may finish once the hub stops, before they are cancelled (their
# leases then run out and the attempt is made again).
STOP_GRACE = 2.0


class _LeaseLost(Exception):
    """Another replica took the attempt over; this one's outcome is not recorded."""


async def attempt(
    hub: HubState, sender: WebhookSender, delivery: WebhookDelivery
) -> WebhookAttempt | None:
    """Make the next attempt of ``delivery`` (leased to this replica) and record it; the
    attempt row, or None when the lease was lost meanwhile."""
    async with hub.sessionmaker() as db:
        request = await webhook_delivery.request_for(db, hub.keyring, delivery)
    if request.secrets:
        timestamp = int(time.time())
        result = await sender.post(request.url, request.body, request.headers(timestamp))
        hub.metrics.observe_webhook_attempt(result.outcome, result.latency_ms / 1000)
    else:
        result = AttemptResult(False, 0, error=request.UNSIGNABLE)

    async def work(db: AsyncSession, outbox: Outbox) -> WebhookAttempt:
        recorded = await webhook_delivery.record(db, request, result, hub.replica_id, hub.settings)
        if recorded is None:
            raise _LeaseLost
        row, notice = recorded
        if notice is not None:
            log.warning("webhook endpoint %s disabled: %s", notice.endpoint_id, notice.reason)
            outbox.notify(delivery.project_id, notice)
        return row

    try:
        return await transaction.run_detached(hub, work)
    except _LeaseLost:
        log.warning("webhook delivery %s: lease lost before the outcome was recorded", delivery.id)
        return None


async def send_test(hub: HubState, endpoint: WebhookEndpoint) -> WebhookAttempt:
    """Send ``endpoint`` a ``webhook.test`` event now (one attempt, no retries, enabled or
    not) and return the attempt for display. The caller audits the request."""

    async def create(db: AsyncSession, _outbox: Outbox) -> WebhookDelivery:
        return webhook_delivery.create_test(db, endpoint, hub.replica_id, hub.settings)

    delivery = await transaction.run_detached(hub, create)
    sender = WebhookSender(hub.settings, connections=1)
    try:
        made = await attempt(hub, sender, delivery)
    finally:
        await sender.aclose()
    if made is None:
        raise Conflict("the test event's attempt was taken over; see the delivery log")
    return made


async def run(hub: HubState, stop: asyncio.Event) -> None:
    """Deliver until ``stop`` is set (the integrations' shared loop: a pass, then a nap until
    woken or the poll interval). Each attempt that ends wakes the loop, so a freed slot or a
    quick retry is taken up at once."""
    settings = hub.settings
    sender = WebhookSender(settings, connections=settings.webhook_concurrency)
    running: set[asyncio.Task[None]] = set()

    async def start_due() -> int:
        free = settings.webhook_concurrency - len(running)
        if free <= 0:
            return 0
        async with hub.sessionmaker() as db:
            claimed = await webhook_delivery.claim_due(db, hub.replica_id, settings, free)
        for delivery in claimed:
            task = asyncio.create_task(_attempt_logged(hub, sender, delivery))
            running.add(task)
            task.add_done_callback(running.discard)
        # A full slate goes again at once; fewer means nothing more is due right now.
        return len(claimed) if len(claimed) < free else settings.webhook_concurrency

    try:
        await worker.run(
            stop,
            hub.webhooks_due,
            settings.integrations_poll_interval,
            start_due,
            settings.webhook_concurrency,
            "webhook delivery",
        )
    finally:
        if running:
            await asyncio.wait(set(running), timeout=STOP_GRACE)
            for task in set(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        await sender.aclose()


async def _attempt_logged(hub: HubState, sender: WebhookSender, delivery: WebhookDelivery) -> None:
    try:
        await attempt(hub, sender, delivery)
    except Exception:
        # The lease runs out and the attempt is made again; the loop carries on.
        log.exception("webhook delivery %s: the attempt failed to complete", delivery.id)
    finally:
        hub.webhooks_due.set()  # a slot is free, and a retry may be due soon
