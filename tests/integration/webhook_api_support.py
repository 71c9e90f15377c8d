"""Webhook endpoints through the API in tests: making one, every webhook route aimed at one
endpoint (for the access and isolation tests), and test events that answer without waiting."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orchestratia.hub.actions import webhooks as webhook_actions


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


async def queued_test_delivery(client: httpx.AsyncClient, endpoint_id: str) -> str:
    """The id of a test event's delivery (no worker needed: it stays queued)."""
    res = await client.post(f"/api/v1/webhooks/{endpoint_id}/test")
    assert res.status_code == 200, res.text
    delivery_id: str = res.json()["delivery_id"]
    return delivery_id


def without_test_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test events answer at once, unattempted: these tests run no delivery worker."""
    monkeypatch.setattr(webhook_actions, "TEST_WAIT_SECONDS", 0.0)
