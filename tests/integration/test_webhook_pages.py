"""The Webhooks pages as the hub renders them: an owner sees the endpoints with their health and
the delivery log, never a secret; others get the hub's 403 and 404 pages."""

from __future__ import annotations

import httpx

from orchestratia.hub.db.integration_models import WebhookEndpoint
from orchestratia.hub.db.types import utcnow
from tests.integration.hub_setup import add_user, tenant_b
from tests.integration.running_hub import RunningHub
from tests.integration.webhook_api_support import (
    make_endpoint,
    queued_delivery,
)

URL = "https://93.184.215.14/hooks?team=ops"


async def test_owner_sees_endpoints_health_and_log(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    quiet = await make_endpoint(admin, project_id, URL, description="ops channel")
    picky = await make_endpoint(admin, project_id, URL + "&n=2", events=["task.failed"])
    delivery = await queued_delivery(hub, quiet["id"])
    async with hub.state.sessionmaker() as db:
        row = await db.get(WebhookEndpoint, picky["id"])
        assert row is not None
        row.enabled, row.disabled_at = False, utcnow()
        row.disabled_reason = "HTTP 500 on every attempt for 3 days"
        await db.commit()

    page = await admin.get("/webhooks")
    assert page.status_code == 200, page.text
    assert 'class="active">Webhooks</a>' in page.text and 'id="webhook-form"' in page.text
    assert page.text.count('name="events"') == 13 and "data-all-events" in page.text
    assert "ops channel" in page.text and "all events" in page.text
    assert "https://93.184.215.14/hooks?team=ops&amp;n=2" in page.text
    assert 'data-reenable="' + picky["id"] in page.text and "HTTP 500 on every attempt" in page.text
    assert "delivering" in page.text and "disabled" in page.text
    for made in (quiet, picky):
        assert made["secret"] not in page.text and made["secret"][6:] not in page.text

    detail = await admin.get(f"/webhooks/{quiet['id']}")
    assert detail.status_code == 200, detail.text
    assert f'data-delivery-id="{delivery}"' in detail.text and "task.created" in detail.text
    assert "not tried yet" in detail.text and 'id="send-test"' in detail.text
    assert quiet["secret"] not in detail.text and 'id="delete-hook"' in detail.text
    log = await admin.get(f"/ui/webhooks/{quiet['id']}/deliveries", params={"status": "failed"})
    assert log.status_code == 200 and "No failed deliveries." in log.text
    log = await admin.get(f"/ui/webhooks/{quiet['id']}/deliveries", params={"status": ""})
    assert f'data-delivery-id="{delivery}"' in log.text
    bad = await admin.get(f"/ui/webhooks/{quiet['id']}/deliveries", params={"limit": "x"})
    assert bad.status_code == 422
    paused = await admin.get(f"/webhooks/{picky['id']}")
    assert "Re-enable" in paused.text and "No deliveries yet" in paused.text


async def test_others_get_403_and_404_pages(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    made = await make_endpoint(admin, project_id, URL)
    paths = [f"/webhooks/{made['id']}", f"/ui/webhooks/{made['id']}/deliveries"]
    member = await add_user(hub, admin, "mem@a.example", project_id, "member")
    other = await tenant_b(hub)
    try:
        page = await member.get("/webhooks")
        assert page.status_code == 200 and 'id="not-owner"' in page.text
        assert URL not in page.text and 'id="webhook-form"' not in page.text
        for path in paths:
            res = await member.get(path)
            assert res.status_code == 403 and "owners manage its webhooks" in res.text, path
            res = await other.get(path)
            assert res.status_code == 404 and URL not in res.text, path
        page = await other.get("/webhooks")
        assert page.status_code == 200 and URL not in page.text
    finally:
        await member.aclose()
        await other.aclose()
    async with httpx.AsyncClient(base_url=hub.url) as anyone:
        res = await anyone.get("/webhooks")
        assert res.status_code == 303 and res.headers["location"] == "/login"
