"""The Audit page: the log as a table with the API's filters, "load more" by cursor, the export
buttons, and the same refusals as the API, as pages."""

from __future__ import annotations

import re
from html import unescape

import httpx

from tests.integration.audit_support import make_tasks
from tests.integration.hub_setup import add_user, tenant_b
from tests.integration.running_hub import RunningHub

ROW_ID = re.compile(r'<tr class="audit-row" data-id="(\d+)"')
MORE = re.compile(r'hx-get="/ui/audit/rows\?([^"]+)"')


def row_ids(html: str) -> list[int]:
    return [int(i) for i in ROW_ID.findall(html)]


async def test_page_filters_and_loads_more(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await make_tasks(admin, project_id, 55)
    api = (await admin.get("/api/v1/audit", params={"limit": 500})).json()["events"]
    page = await admin.get("/audit")
    assert page.status_code == 200
    html = page.text
    assert 'href="/audit" class="active"' in html, "the Audit tab"
    assert 'href="/team" class="active"' in html, "under Team in the top bar, like every admin tab"
    assert 'formaction="/api/v1/audit/export"' in html and 'value="csv"' in html
    first = row_ids(html)
    assert first == [e["id"] for e in api[:50]]
    assert "alpha" in html and "task.created" in html and "title=t54" in html

    more = MORE.search(html)
    assert more is not None
    rest = await admin.get(f"/ui/audit/rows?{unescape(more.group(1))}")
    assert rest.status_code == 200
    assert first + row_ids(rest.text) == [e["id"] for e in api]
    assert MORE.search(rest.text) is None, "the last page offers no more"

    filtered = await admin.get(
        "/ui/audit/rows", params={"action": "auth.", "actor": "", "since": ""}
    )
    assert filtered.status_code == 200
    assert row_ids(filtered.text) == [e["id"] for e in api if e["action"].startswith("auth.")]

    bad = await admin.get("/audit", params={"since": "last tuesday"})
    assert bad.status_code == 422 and "Since" in bad.text and 'id="audit-error"' in bad.text
    bad = await admin.get("/ui/audit/rows", params={"cursor": "forged"})
    assert bad.status_code == 422 and "cursor" in bad.text and 'class="audit-error"' in bad.text


async def test_page_refusals(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> None:
    member = await add_user(hub, admin, "mike@a.example", project_id, "member")
    bob = await tenant_b(hub)
    try:
        res = await member.get("/audit")
        assert res.status_code == 403 and "tenant admins and project owners" in res.text
        res = await member.get("/ui/audit/rows")
        assert res.status_code == 403
        res = await bob.get("/audit", params={"project_id": project_id})
        assert res.status_code == 404 and "alice@a.example" not in res.text
        res = await bob.get("/audit")
        assert res.status_code == 200 and "alice@a.example" not in res.text
    finally:
        await member.aclose()
        await bob.aclose()
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        res = await anon.get("/audit")
        assert res.status_code == 303 and res.headers["location"] == "/login"
