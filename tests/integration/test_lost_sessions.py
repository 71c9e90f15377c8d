"""Tasks of a session that exited or was lost (SPEC §3): flagged, epoch bumped, and per the
project's ``lost_session_policy`` put back to pending (with an inbox notice) or left for a person.
A daemon that reconnects and still has the session changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from orchestratia.hub.db.models import Server
from orchestratia.hub.db.types import utcnow
from tests.integration.helpers import FakeDaemon, audit_rows
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import AgentSession, Fleet, fleet
from tests.support import wait_until


async def _task(admin: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    res = await admin.get(f"/api/v1/tasks/{task_id}")
    assert res.status_code == 200, res.text
    return dict(res.json())


async def _running(f: Fleet, worker: AgentSession, title: str = "build it") -> dict[str, Any]:
    task = await f.task(title)
    await f.assign(task["id"], worker.name)
    await f.ack(await f.daemon.expect("task_assigned", task_id=task["id"]))
    started = await worker.client.post(f"/tasks/{task['id']}/start")
    assert started.json()["status"] == "running", started.text
    return await _task(f.admin, task["id"])


async def _kill(f: Fleet, worker: AgentSession) -> None:
    res = await f.admin.post(f"/api/v1/sessions/{worker.id}/kill")
    assert res.status_code == 202, res.text
    await f.daemon.expect("session_kill", session_id=worker.id)
    await f.daemon.closed(worker.id, exit_code=-9)
    await f.daemon.barrier()


async def _events(admin: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    res = await admin.get(f"/api/v1/tasks/{task_id}/events")
    events: list[dict[str, Any]] = res.json()["events"]
    return events


async def _notices(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    res = await admin.get("/api/v1/inbox", params={"kind": "session_lost"})
    assert res.status_code == 200, res.text
    items: list[dict[str, Any]] = res.json()["items"]
    return items


async def _policy(admin: httpx.AsyncClient, project_id: str, policy: str) -> None:
    res = await admin.patch(
        f"/api/v1/projects/{project_id}/task-settings", json={"lost_session_policy": policy}
    )
    assert res.status_code == 200 and res.json()["lost_session_policy"] == policy, res.text


async def test_killed_session_puts_its_task_back_to_pending(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        task = await _running(f, worker)
        helped = await worker.client.post(f"/tasks/{task['id']}/help", json={"question": "port?"})
        assert helped.status_code == 200, helped.text
        assert (await _task(admin, task["id"]))["status"] == "needs_human"

        await _kill(f, worker)

        now = await _task(admin, task["id"])
        assert now["status"] == "pending" and now["assigned_session_id"] is None
        assert now["epoch"] == task["epoch"] + 1
        assert now["session_lost"] and now["lost_session_name"] == "worker-1"
        events = await _events(admin, task["id"])
        lost = [e for e in events if e["kind"] == "session_lost"]
        assert len(lost) == 1 and "worker-1 exited" in lost[0]["summary"]
        assert lost[0]["details"]["policy"] == "requeue"
        assert any(e["summary"] == "needs_human → pending" for e in events)
        audited = await audit_rows(hub, "task.session_lost")
        assert [a.target_id for a in audited] == [task["id"]]
        # The open help request of the ended assignment expired; the notice took its place.
        inbox = (await admin.get("/api/v1/inbox")).json()["items"]
        assert [(i["kind"], i["task_id"]) for i in inbox] == [("session_lost", task["id"])]

        # The old holder is refused: its token died with it, and the daemon's key names a stale
        # epoch for a task no session on this server holds.
        gone = await worker.client.post(f"/tasks/{task['id']}/complete", json={"result": "x"})
        assert gone.status_code == 401
        async with f.server_client() as daemon_api:
            stale = await daemon_api.post(
                f"/tasks/{task['id']}/complete", json={"result": "x", "epoch": task["epoch"]}
            )
        assert stale.status_code == 409, stale.text
        assert (await _task(admin, task["id"]))["status"] == "pending"

        # The notice goes once a person has seen it; the flag stays until the task moves on.
        notice = inbox[0]["id"]
        decided = await admin.post(
            "/api/v1/inbox/decisions",
            json={
                "decisions": [
                    {
                        "kind": "session_lost",
                        "id": notice,
                        "decision_id": "ack-notice-1",
                        "action": "acknowledge",
                    }
                ]
            },
        )
        assert decided.json()["results"][0]["outcome"] == "applied", decided.text
        assert await _notices(admin) == []
        assert (await _task(admin, task["id"]))["session_lost"]
        again = await f.session("worker-2")
        await f.assign(task["id"], again.name)
        assert not (await _task(admin, task["id"]))["session_lost"]


async def test_requeued_task_goes_through_auto_assignment_again(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        first = await f.session("first")
        await admin.patch(
            f"/api/v1/projects/{project_id}/task-settings", json={"auto_assign": True}
        )
        task = await f.task("placed twice")
        await f.ack(await f.daemon.expect("task_assigned", task_id=task["id"]))
        await first.client.post(f"/tasks/{task['id']}/start")
        second = await f.session("second")
        await _kill(f, first)
        frame = await f.daemon.expect("task_assigned", task_id=task["id"])
        assert frame["session_id"] == second.id and frame["epoch"] == 3
        now = await _task(admin, task["id"])
        assert now["status"] == "assigned" and now["target_session_name"] == "second"
        assert not now["session_lost"]
        assert f.daemon.received("error") == []


async def test_leave_policy_keeps_the_task_flagged_and_refuses_the_lost_session(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await _policy(admin, project_id, "leave")
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        task = await _running(f, worker)
        # The daemon restarts without the session (its tmux server died with the machine).
        await f.daemon.ws.close()
        await wait_until(lambda: hub.state.registry.get(f.daemon.server_id) is None)
        async with FakeDaemon.connect(hub, f.server["api_key"]) as again:
            now = await _task(admin, task["id"])
            assert now["status"] == "running" and now["target_session_name"] == "worker-1"
            assert now["session_lost"] and now["epoch"] == task["epoch"] + 1
            [notice] = await _notices(admin)
            assert notice["task_id"] == task["id"] and notice["policy"] == "leave"
            assert "worker-1 was lost; left running" in notice["detail"]
            assert again.received("task_assigned") == []
        # Even if the session turns out to be alive after all, it no longer owns the task.
        live = [{"session_id": worker.id, "offset": 0, "pid": 4242, "alive": True}]
        async with FakeDaemon.connect(hub, f.server["api_key"], sessions=live):
            for body in ({"result": "x"}, {"result": "x", "epoch": task["epoch"]}):
                done = await worker.client.post(f"/tasks/{task['id']}/complete", json=body)
                assert done.status_code == 409 and "lost" in done.json()["detail"], done.text
            assert (await _task(admin, task["id"]))["status"] == "running"


async def test_reconnect_that_recovers_the_session_changes_nothing(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        task = await _running(f, worker)
        await f.daemon.ws.close()
        await wait_until(lambda: hub.state.registry.get(f.daemon.server_id) is None)
        live = [{"session_id": worker.id, "offset": 0, "pid": 4242, "alive": True}]
        async with FakeDaemon.connect(hub, f.server["api_key"], sessions=live):
            await asyncio.sleep(hub.settings.liveness_sweep_interval * 5)  # a few sweeps
            now = await _task(admin, task["id"])
            assert (now["status"], now["epoch"], now["session_lost"]) == (
                "running",
                task["epoch"],
                False,
            )
            assert not [e for e in await _events(admin, task["id"]) if e["kind"] == "session_lost"]
            done = await worker.client.post(f"/tasks/{task['id']}/complete", json={"result": "x"})
            assert done.status_code == 200, done.text


async def test_server_away_past_the_window_loses_its_sessions(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        task = await _running(f, worker)
        await f.daemon.ws.close()
        await wait_until(lambda: hub.state.registry.get(f.daemon.server_id) is None)
        await asyncio.sleep(hub.settings.liveness_sweep_interval * 3)
        assert (await _task(admin, task["id"]))["status"] == "running"  # within the window
        async with hub.state.sessionmaker() as db:
            away = utcnow() - timedelta(seconds=hub.settings.session_lost_timeout + 1)
            await db.execute(
                update(Server).where(Server.id == f.daemon.server_id).values(disconnected_at=away)
            )
            await db.commit()

        async def requeued() -> dict[str, Any] | None:
            now = await _task(admin, task["id"])
            return now if now["status"] == "pending" else None

        now = await wait_until(requeued, timeout=5, message="task never released")
        assert now["session_lost"] and now["epoch"] == task["epoch"] + 1
        session = (await admin.get(f"/api/v1/sessions/{worker.id}")).json()
        assert session["status"] == "lost"
        # The daemon comes back with the session after all: it runs on, but the task is gone.
        live = [{"session_id": worker.id, "offset": 0, "pid": 4242, "alive": True}]
        async with FakeDaemon.connect(hub, f.server["api_key"], sessions=live):
            session = (await admin.get(f"/api/v1/sessions/{worker.id}")).json()
            assert session["status"] == "running"
            late = await worker.client.post(f"/tasks/{task['id']}/complete", json={"result": "x"})
            assert late.status_code == 409, late.text
            assert (await _task(admin, task["id"]))["status"] == "pending"
