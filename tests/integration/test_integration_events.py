"""Integration events (SPEC §11) recorded at their sources: a scripted task, session, server,
intervention and approval flow through the real hub leaves an event of every type, each in the
transaction of its change, with a payload valid against the published models."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from orchestratia.hub.db.integration_models import IntegrationEvent
from orchestratia.hub.db.models import Project
from orchestratia.hub.integrations import expire_approvals
from orchestratia.hub.services.integrations.events import emit
from orchestratia.protocol.integration_events import (
    EVENT_TYPES,
    ApprovalEventData,
    InterventionEventData,
    ServerData,
    ServerEventData,
    SessionEventData,
    TaskEventData,
)
from tests.integration.event_support import (
    data_of,
    decide,
    events,
    payload,
    wait_dispatched,
    wait_for_types,
)
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import Fleet, fleet, post_broken_pipeline
from tests.integration.webhook_api_support import make_endpoint
from tests.integration.webhook_support import Receiver
from tests.support import wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # The dispatcher's own poll is long: events dispatched within seconds prove the wake-up
    # after their commit works. Sessions of a gone server count as lost quickly.
    # The webhook receiver listens on 127.0.0.1.
    return {
        "integrations_poll_interval": 30,
        "session_lost_timeout": 0.5,
        "webhook_allow_private": True,
    }


async def _plan_help_and_finish(f: Fleet, admin: httpx.AsyncClient) -> str:
    """A task planned, reviewed, helped and completed by ``w``; its id."""
    worker = f.sessions["w"]
    task = await f.task("Plan first", external_ref="JIRA-1")
    await f.assign(task["id"], "w", require_plan=True)
    tid = task["id"]
    res = await worker.client.post(f"/tasks/{tid}/plan", json={"plan": "two steps"})
    assert res.status_code == 200, res.text
    await decide(admin, "plan_review", tid, "approve")
    helped = await worker.client.post(f"/tasks/{tid}/help", json={"question": "Which port?"})
    assert helped.status_code in (200, 201), helped.text
    await decide(
        admin, "intervention", helped.json()["intervention_id"], "respond", response="9090"
    )
    done = await worker.client.post(f"/tasks/{tid}/complete", json={"result": "shipped"})
    assert done.status_code == 200, done.text
    return str(tid)


async def _approvals(f: Fleet, admin: httpx.AsyncClient, hub: RunningHub) -> None:
    """One tool call approved in the inbox, one expired while its hook waited, one expired
    with nobody polling (the sweep)."""
    worker = f.sessions["w"]
    approved = await worker.ask("make deploy")
    await decide(admin, "tool_approval", approved, "approve")
    body = {"session_id": worker.id, "agent": "claude", "tool": "Bash", "wait_seconds": 1}
    polled = await worker.client.post(
        "/approvals", json=body | {"tool_input": {"command": "rm -rf build"}}
    )
    lapsed = await worker.client.post(
        "/approvals", json=body | {"tool_input": {"command": "rm -rf dist"}}
    )
    waited = await worker.client.get(f"/approvals/{polled.json()['id']}", params={"wait": 3})
    assert waited.json()["status"] == "expired", waited.text

    async def swept() -> dict[str, str] | None:
        await expire_approvals(hub.state)  # what the hub's expiry loop does every poll
        decided = await data_of(hub, ApprovalEventData, "approval.decided")
        by_id = {d.approval.id: d.approval.status for d in decided}
        return by_id if len(by_id) == 3 else None

    by_id = await wait_until(swept, timeout=5, message="both asks expired")
    assert by_id[lapsed.json()["id"]] == "expired" and by_id[polled.json()["id"]] == "expired"
    assert by_id[approved] == "approved"


async def test_a_scripted_flow_records_every_event_type(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    receiver = Receiver(secrets=[])
    await receiver.start()
    made = await make_endpoint(admin, project_id, receiver.url)
    receiver.secrets.append(made["secret"])
    try:
        await _scripted_flow(hub, admin, project_id)
        # Every event reached the endpoint, each request signed per Standard Webhooks (the
        # reference package verified it) and once per event.
        rows = await events(hub)

        def all_received() -> bool | None:
            return {r.webhook_id for r in receiver.requests} >= {e.id for e in rows} or None

        await wait_until(all_received, timeout=15, message="every event at the receiver")
    finally:
        await receiver.stop()
    assert receiver.unverified() == []
    assert sorted(r.webhook_id for r in receiver.requests) == sorted(e.id for e in rows)
    assert {r.status for r in receiver.requests} == {200}
    received = {json.loads(r.body)["type"] for r in receiver.requests}
    assert received == set(EVENT_TYPES)


async def _scripted_flow(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> None:
    async with fleet(hub, admin, project_id) as f:
        await f.session("w")
        planned = await _plan_help_and_finish(f, admin)
        doomed = await f.started_task(f.sessions["w"], "Doomed")
        failed = await f.sessions["w"].client.post(
            f"/tasks/{doomed['id']}/fail", json={"error": "disk full"}
        )
        assert failed.status_code == 200, failed.text
        await _approvals(f, admin, hub)
        killed = await f.session("k")
        assert (await admin.post(f"/api/v1/sessions/{killed.id}/kill")).status_code < 300
        await f.daemon.expect("session_kill", session_id=killed.id)
        await f.daemon.closed(killed.id, exit_code=-9)
        await f.daemon.closed(f.sessions["w"].id, exit_code=0)
        await f.session("left-running")
        await f.daemon.barrier()
    # The daemon went away: its server goes offline, and its last session is lost.
    await wait_for_types(hub, EVENT_TYPES)

    async def closed_three() -> list[SessionEventData] | None:
        closed = await data_of(hub, SessionEventData, "session.closed")
        return closed if len(closed) == 3 else None

    closed = await wait_until(closed_three, timeout=10, message="three sessions closed")
    assert {c.reason for c in closed} == {"exited", "killed", "lost"}

    rows = await events(hub)
    assert len({e.id for e in rows}) == len(rows)
    assert all(re.fullmatch(r"msg_[0-9a-f]{32}", e.id) for e in rows)
    assert all(e.project_id == project_id for e in rows)
    for event in rows:
        payload(event)  # each valid, with the data model its type names
    moves = [
        (d.previous_status, d.task.status)
        for d in await data_of(hub, TaskEventData, "task.status_changed")
        if d.task.id == planned
    ]
    assert moves == [
        ("pending", "assigned"),
        ("assigned", "planning"),
        ("planning", "plan_review"),
        ("plan_review", "running"),
        ("running", "needs_human"),
        ("needs_human", "running"),
        ("running", "done"),
    ]
    created, _ = await data_of(hub, TaskEventData, "task.created")
    assert created.task.id == planned and created.task.status == "pending"
    assert created.task.external_ref == "JIRA-1" and created.previous_status is None
    assigned, _ = await data_of(hub, TaskEventData, "task.assigned")
    assert assigned.task.id == planned and assigned.actor == "alice@a.example"
    assert assigned.task.assigned_session_id == f.sessions["w"].id
    assert assigned.task.assigned_server_id == f.daemon.server_id
    (fail,) = await data_of(hub, TaskEventData, "task.failed")
    assert fail.task.error == "disk full" and fail.task.status == "failed"
    (done,) = await data_of(hub, TaskEventData, "task.completed")
    assert done.task.id == planned and done.actor == "session:w"
    (answered,) = await data_of(hub, InterventionEventData, "intervention.responded")
    assert answered.intervention.response == "9090"
    assert answered.intervention.status == "responded"
    servers = await data_of(hub, ServerEventData, "server.online", "server.offline")
    assert [s.server.status for s in servers] == ["online", "disconnected"]
    # Nobody is reachable (no mail settings, no Telegram), yet every event is dispatched.
    await wait_dispatched(hub)


async def test_a_change_that_rolls_back_leaves_no_event(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    bad = await post_broken_pipeline(admin, project_id)
    # Both tasks were created and announced before the bad dependency undid the pipeline.
    assert bad.status_code == 422, bad.text
    async with hub.state.sessionmaker() as db:
        project = await db.get(Project, project_id)
        assert project is not None
        server = ServerData(id="s", project_id=project_id, name="n", hostname="h", status="online")
        emit(db, project.tenant_id, project_id, "server.online", ServerEventData(server=server))
        await db.rollback()
        assert await db.scalar(select(IntegrationEvent.id)) is None
    ok = await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "kept"})
    assert ok.status_code == 201
    rows = await wait_dispatched(hub)
    assert [(e.type, e.data["task"]["title"]) for e in rows] == [("task.created", "kept")]


async def test_removing_a_live_server_announces_it_offline_and_its_sessions_lost(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        url = f"/api/v1/servers/{f.daemon.server_id}"
        removed = await admin.delete(url, params={"force": "true"})
        assert removed.status_code == 204, removed.text
        await wait_until(lambda: f.daemon.ws.close_code is not None, message="hung up")
    (closed,) = await data_of(hub, SessionEventData, "session.closed")
    assert (closed.session.id, closed.reason) == (worker.id, "lost")
    assert closed.session.error == "its server was removed"
    # Its socket's end is no second offline: the server already is (removed).
    registry = hub.state.registry
    await wait_until(lambda: registry.get(f.daemon.server_id) is None, message="socket gone")
    await wait_dispatched(hub)
    offline = await data_of(hub, ServerEventData, "server.offline")
    assert [s.server.status for s in offline] == ["removed"]


async def test_auto_assignment_and_a_requeue_are_announced_by_the_hub(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    settings = await admin.patch(
        f"/api/v1/projects/{project_id}/task-settings", json={"auto_assign": True}
    )
    assert settings.status_code == 200, settings.text
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        task = await f.task("Placed by the hub")

        async def placed() -> list[TaskEventData] | None:
            found = await data_of(hub, TaskEventData, "task.assigned")
            return found or None

        (assigned,) = await wait_until(placed, message="an auto-assignment event")
        assert assigned.actor == "orchestratia" and assigned.task.id == task["id"]
        assert assigned.task.assigned_session_id == worker.id
        await f.daemon.closed(worker.id, exit_code=1)  # its task goes back to the queue

        async def requeued() -> TaskEventData | None:
            moves = await data_of(hub, TaskEventData, "task.status_changed")
            return next((m for m in moves if m.task.status == "pending"), None)

        back = await wait_until(requeued, message="the task requeued")
        assert back.previous_status == "assigned" and back.actor == "orchestratia"
        assert back.task.assigned_session_id is None and back.task.assigned_server_id is None
