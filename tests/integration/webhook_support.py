"""Webhook endpoints in tests: making one through the API, and a stand-in delivery worker.

The stand-in makes each due delivery's attempt the way the hub's worker does at its simplest:
it leases the row (``leases.claim``), POSTs the event to the endpoint over real HTTP, writes a
``WebhookAttempt`` and records the outcome, once, with no retries and no signature. It lets the
API's delivery log, redelivery and test event be tested before the real worker is merged;
with the real worker running too, the leases keep the two from making the same attempt."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from orchestratia.hub.actions import webhooks as webhook_actions
from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.integrations import leases
from orchestratia.hub.state import HubState

EXCERPT_CHARS = 200


async def make_endpoint(
    client: httpx.AsyncClient, project_id: str, url: str, **extra: Any
) -> dict[str, Any]:
    res = await client.post(
        "/api/v1/webhooks", json={"project_id": project_id, "url": url, **extra}
    )
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


async def _attempt(hub: HubState, http: httpx.AsyncClient, delivery: WebhookDelivery) -> None:
    async with hub.sessionmaker() as db:
        endpoint = await db.get(WebhookEndpoint, delivery.endpoint_id)
        event = await db.get(IntegrationEvent, delivery.event_id)
        assert endpoint is not None and event is not None
        body = {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.data}
        began = time.monotonic()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        try:
            res = await http.post(endpoint.url, json=body, headers={"webhook-id": event.id})
            status, excerpt = res.status_code, res.text[:EXCERPT_CHARS]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        number = delivery.attempts + 1
        db.add(
            WebhookAttempt(
                tenant_id=delivery.tenant_id,
                delivery_id=delivery.id,
                endpoint_id=delivery.endpoint_id,
                number=number,
                latency_ms=int((time.monotonic() - began) * 1000),
                status_code=status,
                ok=ok,
                error=error,
                response_excerpt=excerpt,
                replica=hub.replica_id,
            )
        )
        await leases.release(
            db,
            WebhookDelivery,
            delivery.id,
            hub.replica_id,
            status="succeeded" if ok else "failed",
            attempts=number,
            last_status_code=status,
            last_error=error,
            completed_at=utcnow(),
        )
        await db.commit()


async def attempt_due(hub: HubState, http: httpx.AsyncClient) -> None:
    async with hub.sessionmaker() as db:
        due = await leases.claim(db, WebhookDelivery, hub.replica_id, timedelta(seconds=30), 20)
    for delivery in due:
        await _attempt(hub, http, delivery)


@contextlib.asynccontextmanager
async def stand_in_worker(hub: HubState) -> AsyncIterator[None]:
    """Attempt due deliveries whenever ``hub.webhooks_due`` is set (and every 0.2 s)."""
    stop = asyncio.Event()

    async def loop() -> None:
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as http:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hub.webhooks_due.wait(), 0.2)
                hub.webhooks_due.clear()
                await attempt_due(hub, http)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


Call = tuple[str, str, dict[str, Any] | None]


def webhook_calls(project_id: str, endpoint_id: str, delivery_id: str) -> list[Call]:
    """Every webhook route and page, aimed at one endpoint and delivery, with a valid body."""
    one = f"/api/v1/webhooks/{endpoint_id}"
    delivery = f"{one}/deliveries/{delivery_id}"
    return [
        ("GET", f"/api/v1/webhooks?project_id={project_id}", None),
        ("POST", "/api/v1/webhooks", {"project_id": project_id, "url": "https://93.184.215.14/"}),
        ("GET", one, None),
        ("PATCH", one, {"description": "taken over"}),
        ("POST", f"{one}/rotate-secret", {"overlap_hours": 1}),
        ("GET", f"{one}/deliveries", None),
        ("GET", delivery, None),
        ("POST", f"{delivery}/redeliver", None),
        ("POST", f"{one}/redeliver-failed", None),
        ("POST", f"{one}/test", None),
        ("GET", f"/webhooks/{endpoint_id}", None),
        ("GET", f"/ui/webhooks/{endpoint_id}/deliveries", None),
        ("DELETE", one, None),
    ]


async def queued_test_delivery(client: httpx.AsyncClient, endpoint_id: str) -> str:
    """The id of a test event's delivery (no worker needed: it stays queued)."""
    res = await client.post(f"/api/v1/webhooks/{endpoint_id}/test")
    assert res.status_code == 200, res.text
    delivery_id: str = res.json()["delivery_id"]
    return delivery_id


def without_test_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test events answer at once, unattempted: these tests run no delivery worker."""
    monkeypatch.setattr(webhook_actions, "TEST_WAIT_SECONDS", 0.0)
