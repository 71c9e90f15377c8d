"""An endpoint's delivery log over REST, against a real receiver on 127.0.0.1 (so this module
allows private targets): a test event answered with the receiver's outcome, the log with each
attempt, redelivery of one and of every failed delivery, newest-first pages."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.types import utcnow
from tests.integration.helpers import audit_rows
from tests.integration.running_hub import RunningHub
from tests.integration.webhook_api_support import make_endpoint, queued_delivery
from tests.support import wait_until
from tests.webhook_receiver import webhook_receiver


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"webhook_allow_private": True}


async def _delivery(admin: httpx.AsyncClient, wid: str, did: str) -> dict[str, Any]:
    res = await admin.get(f"/api/v1/webhooks/{wid}/deliveries/{did}")
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


async def test_a_test_event_answers_the_receivers_outcome(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    with webhook_receiver() as receiver:
        made = await make_endpoint(admin, project_id, receiver.url)
        wid = made["id"]
        res = await admin.post(f"/api/v1/webhooks/{wid}/test")
        assert res.status_code == 200, res.text
        outcome = res.json()
        assert outcome["ok"] is True
        assert outcome["status_code"] == 200 and outcome["latency_ms"] >= 0
        assert outcome["response_excerpt"] == "thanks from the receiver"
        [got] = receiver.received
        assert got.path == "/hooks/orchestratia"
        assert got.headers["webhook-id"] == outcome["event_id"]
        body = json.loads(got.body)
        assert body["type"] == "webhook.test" and body["data"]["endpoint_id"] == wid

    listed = await admin.get(f"/api/v1/webhooks/{wid}/deliveries")
    [row] = listed.json()["deliveries"]
    assert row["id"] == outcome["delivery_id"] and row["event_id"] == outcome["event_id"]
    assert row["event_type"] == "webhook.test" and row["status"] == "succeeded"
    assert row["attempts"] == 1 and row["last_status_code"] == 200
    assert row["next_attempt_at"] is None and row["last_latency_ms"] is not None
    detail = await _delivery(admin, wid, row["id"])
    [attempt] = detail["attempts_log"]
    assert attempt["number"] == 1 and attempt["ok"] is True and attempt["status_code"] == 200
    assert attempt["response_excerpt"] == "thanks from the receiver"
    health = (await admin.get(f"/api/v1/webhooks/{wid}")).json()
    assert health["last_delivery_status"] == "succeeded" and health["last_status_code"] == 200
    tested = await audit_rows(hub, "webhook.tested")
    assert [r.details["delivery_id"] for r in tested] == [row["id"]]

    # Deleting the endpoint takes its log and its test events with it.
    assert (await admin.delete(f"/api/v1/webhooks/{wid}")).status_code == 204
    async with hub.state.sessionmaker() as db:
        for model in (IntegrationEvent, WebhookDelivery, WebhookAttempt):
            assert await db.scalar(select(func.count()).select_from(model)) == 0, model


async def test_failed_deliveries_are_sent_again_with_the_same_id(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    with webhook_receiver() as receiver:
        wid = (await make_endpoint(admin, project_id, receiver.url))["id"]
        receiver.status, receiver.reply = 503, b"down for maintenance"
        first = (await admin.post(f"/api/v1/webhooks/{wid}/test")).json()
        second = (await admin.post(f"/api/v1/webhooks/{wid}/test")).json()
        for outcome in (first, second):
            assert outcome["ok"] is False
            assert outcome["status_code"] == 503
        failed = await admin.get(f"/api/v1/webhooks/{wid}/deliveries", params={"status": "failed"})
        assert {d["id"] for d in failed.json()["deliveries"]} == {
            first["delivery_id"], second["delivery_id"]
        }  # fmt: skip
        health = (await admin.get(f"/api/v1/webhooks/{wid}")).json()
        assert health["last_delivery_status"] == "failed"

        receiver.status, receiver.reply = 200, b"back"
        res = await admin.post(f"/api/v1/webhooks/{wid}/redeliver-failed")
        assert res.status_code == 200 and res.json() == {"queued": 2}

        async def both_succeeded() -> bool:
            res = await admin.get(
                f"/api/v1/webhooks/{wid}/deliveries", params={"status": "succeeded"}
            )
            return len(res.json()["deliveries"]) == 2

        await wait_until(both_succeeded, 10, "the failed deliveries to succeed")
        again = await admin.post(
            f"/api/v1/webhooks/{wid}/deliveries/{first['delivery_id']}/redeliver"
        )
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "pending" and again.json()["attempts"] == 2

        async def third_attempt() -> dict[str, Any] | None:
            found = await _delivery(admin, wid, first["delivery_id"])
            return found if found["attempts"] == 3 else None

        detail = await wait_until(third_attempt, 10, "the redelivery")
        assert [(a["number"], a["status_code"]) for a in detail["attempts_log"]] == [
            (1, 503), (2, 200), (3, 200)
        ]  # fmt: skip
        assert detail["attempts_log"][0]["response_excerpt"] == "down for maintenance"
        # Every attempt of one event carried the same webhook-id.
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert ids.count(first["event_id"]) == 3 and ids.count(second["event_id"]) == 2
    redone = await audit_rows(hub, "webhook.redelivered")
    assert [r.details["count"] for r in redone] == [2, 1]


async def test_the_log_pages_newest_first(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    wid = (await make_endpoint(admin, project_id, "http://127.0.0.1:9/hook"))["id"]
    made = [await queued_delivery(hub, wid) for _ in range(5)]
    seen: list[str] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"before": before} if before else {})}
        page = (await admin.get(f"/api/v1/webhooks/{wid}/deliveries", params=params)).json()
        assert len(page["deliveries"]) <= 2
        for row in page["deliveries"]:
            assert row["status"] == "pending" and row["attempts"] == 0
            assert row["next_attempt_at"] is not None
        seen += [d["id"] for d in page["deliveries"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == list(reversed(made))
    failed = await admin.get(f"/api/v1/webhooks/{wid}/deliveries", params={"status": "failed"})
    assert failed.json() == {"deliveries": [], "next_before": None}
    other = await make_endpoint(admin, project_id, "http://127.0.0.1:9/other")
    res = await admin.get(f"/api/v1/webhooks/{other['id']}/deliveries", params={"before": made[0]})
    assert res.status_code == 422  # a delivery of another endpoint is no cursor here
    res = await admin.get(f"/api/v1/webhooks/{other['id']}/deliveries/{made[0]}")
    assert res.status_code == 404


async def test_a_disabled_endpoint_is_re_enabled_by_its_owner(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    wid = (await make_endpoint(admin, project_id, "http://127.0.0.1:9/hook"))["id"]
    queued = await queued_delivery(hub, wid)
    # As the delivery worker leaves an endpoint after sustained failure.
    async with hub.state.sessionmaker() as db:
        row = await db.get(WebhookEndpoint, wid)
        assert row is not None
        row.enabled, row.disabled_at, row.failing_since = False, utcnow(), utcnow()
        row.disabled_reason = "every attempt failed for 3 days (last: connection refused)"
        await db.commit()
    shown = (await admin.get(f"/api/v1/webhooks/{wid}")).json()
    assert shown["enabled"] is False and "connection refused" in shown["disabled_reason"]
    for path in ("test", "redeliver-failed", f"deliveries/{queued}/redeliver"):
        res = await admin.post(f"/api/v1/webhooks/{wid}/{path}")
        assert res.status_code == 409 and "enable it first" in res.json()["detail"], path
    res = await admin.patch(f"/api/v1/webhooks/{wid}", json={"enabled": True})
    assert res.status_code == 200, res.text
    back = res.json()
    assert back["enabled"] is True
    assert back["disabled_at"] is None and back["disabled_reason"] is None
    assert back["failing_since"] is None
    assert (await admin.post(f"/api/v1/webhooks/{wid}/test")).status_code == 200
