"""Webhook endpoints over REST (SPEC §11): made by project owners with a secret shown once,
changed, rotated and deleted with an audit trail; bad input and private targets refused with a
precise 4xx while the hub is not allowed private targets (the default)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx

from orchestratia.hub.db.integration_models import WebhookEndpoint
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.sealed_columns import WEBHOOK_PREVIOUS_SECRET, WEBHOOK_SECRET
from orchestratia.hub.services.integrations.webhook_endpoints import MAX_ENDPOINTS_PER_PROJECT
from orchestratia.protocol.integration_events import EVENT_TYPES
from tests.integration.helpers import audit_rows
from tests.integration.running_hub import RunningHub
from tests.integration.webhook_api_support import make_endpoint

# A public address: accepted with private targets refused, and never dialled (no worker runs).
PUBLIC_URL = "https://93.184.215.14/hooks/orchestratia?source=hub"
WEBHOOK_ACTIONS = (
    "webhook.created",
    "webhook.updated",
    "webhook.secret_rotated",
    "webhook.deleted",
)


async def _row(hub: RunningHub, endpoint_id: str) -> WebhookEndpoint:
    async with hub.state.sessionmaker() as db:
        row = await db.get(WebhookEndpoint, endpoint_id)
    assert row is not None
    return row


async def test_secret_is_shown_once_and_sealed(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    res = await admin.post(
        "/api/v1/webhooks",
        json={"project_id": project_id, "url": PUBLIC_URL, "description": "pager",
              "events": ["task.failed", "approval.requested"], "ordered": True},
    )  # fmt: skip
    assert res.status_code == 201, res.text
    assert res.headers["cache-control"] == "no-store"
    made = res.json()
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert made["events"] == ["task.failed", "approval.requested"]
    assert made["ordered"] is True and made["enabled"] is True
    assert made["project_name"] == "alpha" and made["last_delivery_status"] is None

    listed = await admin.get("/api/v1/webhooks", params={"project_id": project_id})
    one = await admin.get(f"/api/v1/webhooks/{made['id']}")
    everything = await admin.get("/api/v1/webhooks")
    for res in (listed, one, everything):
        assert res.status_code == 200, res.text
        assert secret not in res.text and secret[6:] not in res.text and '"secret":' not in res.text
    assert [w["id"] for w in listed.json()["webhooks"]] == [made["id"]]
    assert everything.json() == listed.json()
    assert one.json()["url"] == PUBLIC_URL

    row = await _row(hub, made["id"])
    assert secret not in row.secret_sealed
    assert hub.state.keyring.open(row.secret_sealed, WEBHOOK_SECRET.aad(row.id)) == secret
    created = await audit_rows(hub, "webhook.created")
    assert len(created) == 1 and created[0].target_id == made["id"]
    # The audit keeps the URL's origin only: a receiver's path or query may hold its own token.
    assert created[0].details["url"] == "https://93.184.215.14"
    assert secret not in json.dumps(created[0].details)


async def test_update_rotate_and_delete_are_audited(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    made = await make_endpoint(admin, project_id, PUBLIC_URL)
    wid, first = made["id"], made["secret"]
    res = await admin.patch(
        f"/api/v1/webhooks/{wid}",
        json={"events": ["session.started"], "description": "ops", "enabled": False},
    )
    assert res.status_code == 200, res.text
    assert res.json()["events"] == ["session.started"] and res.json()["enabled"] is False
    res = await admin.patch(f"/api/v1/webhooks/{wid}", json={"events": []})
    assert res.status_code == 200 and res.json()["events"] == []  # empty: every event

    rotated = await admin.post(f"/api/v1/webhooks/{wid}/rotate-secret", json={})
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    second = rotated.json()["secret"]
    assert second.startswith("whsec_") and second != first
    expires = rotated.json()["previous_secret_expires_at"]
    row = await _row(hub, wid)
    keyring = hub.state.keyring
    assert keyring.open(row.secret_sealed, WEBHOOK_SECRET.aad(wid)) == second
    assert row.previous_secret_sealed is not None
    assert keyring.open(row.previous_secret_sealed, WEBHOOK_PREVIOUS_SECRET.aad(wid)) == first
    assert row.previous_secret_expires_at is not None
    left = row.previous_secret_expires_at - utcnow()
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)
    assert (await admin.get(f"/api/v1/webhooks/{wid}")).json()["previous_secret_expires_at"] == (
        expires
    )
    at_once = await admin.post(f"/api/v1/webhooks/{wid}/rotate-secret", json={"overlap_hours": 0})
    assert at_once.status_code == 200 and at_once.json()["previous_secret_expires_at"] is None
    row = await _row(hub, wid)
    assert row.previous_secret_sealed is None
    third = at_once.json()["secret"]
    for hours in (-1, 73, "soon"):
        res = await admin.post(
            f"/api/v1/webhooks/{wid}/rotate-secret", json={"overlap_hours": hours}
        )
        assert res.status_code == 422, (hours, res.text)

    assert (await admin.delete(f"/api/v1/webhooks/{wid}")).status_code == 204
    assert (await admin.get(f"/api/v1/webhooks/{wid}")).status_code == 404
    assert (await admin.delete(f"/api/v1/webhooks/{wid}")).status_code == 404
    rows = [r for r in await audit_rows(hub) if r.action.startswith("webhook.")]
    assert [r.action for r in rows] == [
        "webhook.created", "webhook.updated", "webhook.updated", "webhook.secret_rotated",
        "webhook.secret_rotated", "webhook.deleted",
    ]  # fmt: skip
    assert rows[1].details["changed"] == ["description", "enabled", "events"]
    assert rows[1].actor_id == "alice@a.example"
    logged = json.dumps([r.details for r in rows])
    assert not any(s in logged or s[6:] in logged for s in (first, second, third))


async def test_a_changed_url_is_checked_again(admin: httpx.AsyncClient, project_id: str) -> None:
    made = await make_endpoint(admin, project_id, PUBLIC_URL)
    res = await admin.patch(f"/api/v1/webhooks/{made['id']}", json={"url": "http://10.0.0.1/x"})
    assert res.status_code == 422 and "private" in res.json()["detail"]
    res = await admin.patch(f"/api/v1/webhooks/{made['id']}", json={"url": "ftp://x.example/"})
    assert res.status_code == 422
    assert (await admin.get(f"/api/v1/webhooks/{made['id']}")).json()["url"] == PUBLIC_URL


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://hooks.example.com/"}, "must start with http:// or https://"),
    ({"url": "hooks.example.com/in"}, "must start with http:// or https://"),
    ({"url": "javascript:alert(1)"}, "must start with http:// or https://"),
    ({"url": "https://"}, "must name a host"),
    ({"url": "https://bot:hunter2@93.184.215.14/"}, "must not contain a user name or password"),
    ({"url": "https://93.184.215.14:99999/"}, "port"),
    ({"url": "https://93.184.215.14/a b"}, "spaces"),
    ({"url": "https://93.184.215.14/#top"}, "fragment"),
    ({"url": "https://93.184.215.14/" + "a" * 2048}, "at most 2048 characters"),
    ({"url": ""}, "must not be empty"),
    ({"events": ["task.exploded"]}, "'task.exploded' is not an event type"),
    ({"events": ["task.created", "task.created"]}, "names 'task.created' twice"),
    ({"events": [*EVENT_TYPES, "task.created"]}, "twice"),
    ({"events": ["x"] * 500}, "'x' is not an event type"),
    ({"events": "task.created"}, "Events"),
    ({"events": [7]}, "must be one of"),
    ({"description": "d" * 201}, "at most 200 characters"),
    ({"ordered": "maybe"}, "true or false"),
    ({"secret": "whsec_mine"}, "not a field this form takes"),
]


async def test_bad_input_gets_a_precise_422(admin: httpx.AsyncClient, project_id: str) -> None:
    for change, said in BAD_BODIES:
        body = {"project_id": project_id, "url": PUBLIC_URL, **change}
        res = await admin.post("/api/v1/webhooks", json=body)
        assert res.status_code == 422, (change, res.text)
        assert said in json.dumps(res.json()["detail"]), (change, res.text)
    listed = await admin.get("/api/v1/webhooks", params={"project_id": project_id})
    assert listed.json()["webhooks"] == []


async def test_bad_queries_and_ids_are_4xx(admin: httpx.AsyncClient, project_id: str) -> None:
    wid = (await make_endpoint(admin, project_id, PUBLIC_URL))["id"]
    deliveries = f"/api/v1/webhooks/{wid}/deliveries"
    for params in (
        {"limit": 0}, {"limit": 201}, {"limit": "all"}, {"status": "lost"},
        {"before": "x" * 65}, {"before": "no-such-delivery"},
    ):  # fmt: skip
        res = await admin.get(deliveries, params=params)
        assert res.status_code == 422, (params, res.text)
    res = await admin.get(deliveries, params={"before": "no-such-delivery"})
    assert "before must be the id of a delivery" in res.json()["detail"]
    long_id = "x" * 65
    assert (await admin.get(f"/api/v1/webhooks/{long_id}")).status_code == 422
    assert (await admin.get("/api/v1/webhooks", params={"project_id": "nope"})).status_code == 404
    assert (await admin.get(f"{deliveries}/nope")).status_code == 404
    res = await admin.post(f"{deliveries}/nope/redeliver")
    assert res.status_code == 404
    res = await admin.post("/api/v1/webhooks", json={"url": PUBLIC_URL})
    assert res.status_code == 422 and "Project id is required." in res.text


# What an endpoint must not point at while private targets are refused (the default): each
# names why. ``localhost`` is a name that resolves to loopback.
PRIVATE_TARGETS = [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("https://10.0.0.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::1]:9000/hook", "loopback"),
    ("http://localhost:8000/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://192.168.1.20/hook", "private"),
    ("http://100.64.0.7/hook", "shared"),
    ("http://0.0.0.0/hook", "unspecified"),
]


async def test_private_targets_are_refused(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    assert hub.settings.webhook_allow_private is False
    refused = 0
    for url, why in PRIVATE_TARGETS:
        res = await admin.post("/api/v1/webhooks", json={"project_id": project_id, "url": url})
        assert res.status_code == 422, (url, res.text)
        detail = res.json()["detail"]
        assert why in detail and "does not send there" in detail, (url, detail)
        refused += 1
    assert refused == len(PRIVATE_TARGETS) == 9
    res = await admin.get("/api/v1/webhooks", params={"project_id": project_id})
    assert res.json()["webhooks"] == []
    assert await audit_rows(hub, "webhook.created") == []


async def test_each_project_has_a_limit(admin: httpx.AsyncClient, project_id: str) -> None:
    for i in range(MAX_ENDPOINTS_PER_PROJECT):
        await make_endpoint(admin, project_id, f"{PUBLIC_URL}&n={i}")
    res = await admin.post("/api/v1/webhooks", json={"project_id": project_id, "url": PUBLIC_URL})
    assert res.status_code == 409
    assert f"has {MAX_ENDPOINTS_PER_PROJECT} webhook endpoints" in res.json()["detail"]
    other = await admin.post("/api/v1/projects", json={"name": "beta"})
    assert other.status_code == 201
    await make_endpoint(admin, other.json()["id"], PUBLIC_URL)  # the limit is per project
