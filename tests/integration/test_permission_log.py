"""The permission log (docs/approvals.md): daemons' batches stored once per entry, published
live, and read back by the dashboard with filters, counts and counts over time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from orchestratia.hub.services.approvals.permission_log import bucket_seconds
from tests.integration.approval_support import entry, ship
from tests.integration.hub_setup import add_user, register_server, tenant_b
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet


async def test_batches_are_stored_once_and_published(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        feed = hub.state.bus.subscribe(project_id)
        batch = [
            entry("e1", work.id),
            entry("e2", work.id, "denied", decided_by="rule", matched_rule_id="r1", reason="no"),
            entry("e3", work.id, "asked", decided_by="user"),
        ]
        async with f.server_client() as by_key:
            res = await ship(by_key, *batch)
            assert res.status_code == 201, res.text
            assert res.json() == {"stored": 3, "duplicates": 0}
            events = [await asyncio.wait_for(feed.get(), 5) for _ in range(3)]
            assert [e["type"] for e in events] == ["permission_decision"] * 3
            first = events[0]["entry"]
            assert (first["id"], first["session_name"], first["server_id"]) == (
                "e1",
                "work",
                f.daemon.server_id,
            )
            # A resend after a lost reply, and a batch repeating an id within itself.
            assert (await ship(by_key, *batch)).json() == {"stored": 0, "duplicates": 3}
            res = await ship(by_key, entry("e4", work.id), entry("e4", work.id), batch[0])
            assert res.json() == {"stored": 1, "duplicates": 2}
            assert feed.qsize() == 1

            res = await ship(by_key, entry("e5", work.id), entry("e6", "not-a-session"))
            assert res.status_code == 422 and "entries[1].session_id" in res.text
            res = await ship(by_key, entry("e7", work.id, "maybe"))
            assert res.status_code == 422
        # A session token may ship too (its own server's sessions).
        res = await ship(work.client, entry("e8", work.id))
        assert res.json() == {"stored": 1, "duplicates": 0}

        bob = await tenant_b(hub)
        try:
            b_project = (await bob.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
            b_server = await register_server(bob, b_project)
            async with httpx.AsyncClient(
                base_url=hub.url + "/api/v1/server", headers={"X-API-Key": b_server["api_key"]}
            ) as b_key:
                res = await ship(b_key, entry("e9", work.id))
                assert res.status_code == 422 and "entries[0]" in res.text
        finally:
            await bob.aclose()
        hub.state.bus.unsubscribe(project_id, feed)

        page = (await admin.get("/api/v1/permissions")).json()
        assert sorted(e["id"] for e in page["entries"]) == ["e1", "e2", "e3", "e4", "e8"]
        assert page["counts"] == {"allowed": 3, "denied": 1, "asked": 1}


async def test_query_filters_counts_and_buckets(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    now = datetime.now(UTC)
    async with fleet(hub, admin, project_id) as f:
        work, other = await f.session("work"), await f.session("other")

        def ago(minutes: int) -> str:
            return (now - timedelta(minutes=minutes)).isoformat()

        batch = [
            entry("a", work.id, created_at=ago(1)),
            entry("b", work.id, "denied", created_at=ago(2), tool="Read"),
            entry("c", other.id, "asked", created_at=ago(3)),
            entry("d", work.id, created_at=ago(125)),
            entry("e", other.id, "denied", created_at=ago(130)),
            entry("old", work.id, created_at=ago(60 * 30)),
        ]
        async with f.server_client() as by_key:
            assert (await ship(by_key, *batch)).status_code == 201

        async def page(**params: Any) -> dict[str, Any]:
            res = await admin.get("/api/v1/permissions", params=params)
            assert res.status_code == 200, res.text
            return dict(res.json())

        got = await page(project_id=project_id)
        assert [e["id"] for e in got["entries"]] == ["a", "b", "c", "d", "e"]  # newest first
        assert got["counts"] == {"allowed": 2, "denied": 2, "asked": 1}
        assert got["bucket_seconds"] == 3600 == bucket_seconds(timedelta(hours=24))
        assert len(got["buckets"]) in (24, 25)
        total = {k: sum(b[k] for b in got["buckets"]) for k in ("allowed", "denied", "asked")}
        assert total == got["counts"]
        starts = [datetime.fromisoformat(b["start"]) for b in got["buckets"]]
        assert starts == sorted(starts) and all(s.minute == 0 for s in starts)
        two_hours = next(
            b
            for b in got["buckets"]
            if datetime.fromisoformat(b["start"])
            <= now - timedelta(minutes=125)
            < datetime.fromisoformat(b["start"]) + timedelta(hours=1)
        )
        assert two_hours["allowed"] >= 1
        assert got["entries"][1]["tool"] == "Read" and got["entries"][0]["session_name"] == "work"

        assert [e["id"] for e in (await page(session_id=other.id))["entries"]] == ["c", "e"]
        assert [e["id"] for e in (await page(decision="denied"))["entries"]] == ["b", "e"]
        assert [e["id"] for e in (await page(tool="Read"))["entries"]] == ["b"]
        got = await page(server_id=f.daemon.server_id, limit=2)
        assert [e["id"] for e in got["entries"]] == ["a", "b"] and sum(got["counts"].values()) == 5
        since = (now - timedelta(days=2)).isoformat()
        got = await page(since=since)
        assert got["counts"]["allowed"] == 3 and got["bucket_seconds"] == 6 * 3600
        got = await page(since=(now - timedelta(minutes=10)).isoformat())
        assert got["bucket_seconds"] == 60 and got["counts"] == {
            "allowed": 1,
            "denied": 1,
            "asked": 1,
        }

        future = (now + timedelta(hours=1)).isoformat()
        bad = await admin.get("/api/v1/permissions", params={"since": future})
        assert bad.status_code == 422 and "since" in bad.text
        bad = await admin.get("/api/v1/permissions", params={"decision": "maybe"})
        assert bad.status_code == 422

        viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
        outsider = await add_user(hub, admin, "olga@a.example", project_id, None)
        try:
            assert len((await viewer.get("/api/v1/permissions")).json()["entries"]) == 5
            assert (await outsider.get("/api/v1/permissions")).json()["entries"] == []
            res = await outsider.get("/api/v1/permissions", params={"project_id": project_id})
            assert res.status_code == 404
            res = await outsider.get("/api/v1/permissions", params={"session_id": work.id})
            assert res.status_code == 404
        finally:
            await viewer.aclose()
            await outsider.aclose()


def test_bucket_sizes_keep_charts_readable() -> None:
    assert bucket_seconds(timedelta(minutes=30)) == 60
    assert bucket_seconds(timedelta(hours=1)) == 300
    assert bucket_seconds(timedelta(hours=24)) == 3600
    assert bucket_seconds(timedelta(days=7)) == 6 * 3600
    assert bucket_seconds(timedelta(days=30)) == 86400
    assert bucket_seconds(timedelta(days=365)) == 8 * 86400
