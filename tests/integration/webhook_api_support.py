"""Webhook endpoints through the API in tests: making one, every webhook route aimed at one
endpoint (for the access and isolation tests), and deliveries queued for later."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from orchestratia.hub.db.integration_models import IntegrationEvent, WebhookEndpoint
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.integrations import webhook_delivery
from orchestratia.hub.services.integrations.events import new_event_id
from tests.integration.running_hub import RunningHub


async def make_endpoint(
    client: httpx.AsyncClient, project_id: str, url: str, **extra: Any
) -> dict[str, Any]:
    res = await client.post(
        "/api/v1/webhooks", json={"project_id": project_id, "url": url, **extra}
    )
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


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


async def queued_delivery(hub: RunningHub, endpoint_id: str) -> str:
    """The id of a delivery to the endpoint that no worker attempts during a test (due in a
    day), for tests that need a delivery to aim at."""
    async with hub.state.sessionmaker() as db:
        endpoint = await db.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        now = utcnow()
        event = IntegrationEvent(
            id=new_event_id(),
            tenant_id=endpoint.tenant_id,
            project_id=endpoint.project_id,
            type="task.created",
            data={},
            created_at=now,
            dispatched_at=now,
        )
        delivery = webhook_delivery.delivery_for(event, endpoint, now + timedelta(days=3))
        delivery.next_attempt_at = now + timedelta(days=1)
        db.add_all([event, delivery])
        await db.commit()
        return delivery.id
