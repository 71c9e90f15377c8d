"""Auto-assignment through the hub (SPEC §4): hard filters, load, stored reasons, and the
re-evaluation when capacity appears."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import httpx

from tests.integration.running_hub import RunningHub
from tests.integration.task_support import Fleet, fleet
from tests.support import wait_until


async def _describe(f: Fleet, repos: dict[str, str], cpu: float) -> None:
    """Have the fake daemon report its repos and load, as a real one does in hello/heartbeat."""
    await f.daemon.send({"type": "hello", "version": "9.9.9", "sessions": [], "repos": repos})
    await f.daemon.send({"type": "heartbeat", "system_info": {"cpu_percent": cpu}})
    await f.daemon.barrier()


async def _task(admin: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    res = await admin.get(f"/api/v1/tasks/{task_id}")
    assert res.status_code == 200, res.text
    return dict(res.json())


async def test_auto_assign_prefers_the_repo_and_the_lighter_server(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with AsyncExitStack() as stack:
        busy = await stack.enter_async_context(fleet(hub, admin, project_id, "m-busy"))
        idle = await stack.enter_async_context(fleet(hub, admin, project_id, "m-idle"))
        other = await stack.enter_async_context(fleet(hub, admin, project_id, "m-other"))
        await _describe(busy, {"api": "/srv/api"}, 85.0)
        await _describe(idle, {"api": "/srv/api"}, 5.0)
        await _describe(other, {"web": "/srv/web"}, 0.0)
        for f, name in ((busy, "on-busy"), (idle, "on-idle"), (other, "on-other")):
            await f.session(name)
        res = await admin.patch(
            f"/api/v1/projects/{project_id}/task-settings", json={"auto_assign": True}
        )
        assert res.json() == {
            "auto_assign": True,
            "require_task_approval": False,
            "lost_session_policy": "requeue",
        }
        task = await busy.task("Add endpoint", target_repo="api")

        async def placed() -> dict[str, Any] | None:
            current = await _task(admin, task["id"])
            return current if current["status"] == "assigned" else None

        current = await wait_until(placed, timeout=10, message="task never auto-assigned")
        assert current["target_session_name"] == "on-idle"
        reason = current["assignment_reason"]
        assert reason["mode"] == "auto" and "on-idle" in reason["summary"]
        rejected = {r["session_name"]: r["reason"] for r in reason["rejected"]}
        assert "on-other" in rejected and "api" in rejected["on-other"]
        ranked = [c["session_name"] for c in reason["candidates"]]
        assert ranked[:2] == ["on-idle", "on-busy"]
        await idle.daemon.expect("task_assigned", task_id=task["id"])


async def test_waiting_task_is_placed_when_a_session_frees_up(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("only")
        await admin.patch(
            f"/api/v1/projects/{project_id}/task-settings", json={"auto_assign": True}
        )
        first = await f.task("first")
        await f.daemon.expect("task_assigned", task_id=first["id"])
        second = await f.task("second")
        waiting = await _task(admin, second["id"])
        assert waiting["status"] == "pending"
        assert waiting["assignment_reason"]["winner"] is None
        await worker.client.post(f"/tasks/{first['id']}/start")
        await worker.client.post(f"/tasks/{first['id']}/complete", json={"result": "done"})
        frame = await f.daemon.expect("task_assigned", task_id=second["id"])
        assert frame["session_id"] == worker.id
