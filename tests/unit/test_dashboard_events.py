"""``DashboardEvent``: every event type survives the wire unchanged, and each keeps the JSON the
dashboard scripts have always read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from orchestratia.protocol.dashboard_events import (
    DashboardEvent,
    ServerUpdate,
    SubscribedFrame,
    TaskEvent,
    dashboard_event_adapter,
    wire,
)
from orchestratia.protocol.rest import ServerPublic

WHEN = "2026-12-07T09:30:00Z"
SERVER = {
    "id": "srv-1",
    "project_id": "p-1",
    "name": "build-box",
    "hostname": "build-box.lan",
    "os": "linux",
    "ip": "10.0.0.7",
    "status": "online",
    "last_seen": WHEN,
    "system_info": {"cpus": 8},
    "capabilities": ["tmux"],
    "agent_version": "1.2.0",
    "repos": {"app": "/src/app"},
    "labels": ["gpu"],
    "created_at": WHEN,
}
SESSION = {
    "id": "s-1",
    "project_id": "p-1",
    "server_id": "srv-1",
    "name": "work",
    "working_directory": "/src/app",
    "command": None,
    "agent_type": "claude",
    "role": "worker",
    "status": "running",
    "exit_code": None,
    "error": None,
    "pid": 4242,
    "tmux_name": "orc-work",
    "cols": 120,
    "rows": 40,
    "output_offset": 1024,
    "created_at": WHEN,
    "started_at": WHEN,
    "ended_at": None,
}
TASK = {
    "id": "t-1",
    "project_id": "p-1",
    "pipeline_id": None,
    "title": "Fix the build",
    "spec": "It fails on main.",
    "structured_spec": None,
    "status": "assigned",
    "priority": "high",
    "type": "bugfix",
    "target_repo": None,
    "target_branch": None,
    "acceptance_criteria": ["green CI"],
    "labels": [],
    "external_ref": None,
    "assigned_session_id": "s-1",
    "target_session_name": None,
    "assigned_server_id": "srv-1",
    "assigned_server_name": "build-box",
    "source_session_id": None,
    "source_session_name": None,
    "session_lost": False,
    "lost_session_id": None,
    "lost_session_name": None,
    "created_by": "a@a.example",
    "require_plan": False,
    "plan": None,
    "plan_feedback": None,
    "result": None,
    "error": None,
    "resolved_inputs": {},
    "missing_contracts": [],
    "git_diff_stats": None,
    "assignment_reason": {"score": 3},
    "epoch": 1,
    "approval_status": "none",
    "pending_approval": False,
    "blocked": False,
    "blocked_by": [],
    "dependencies": [],
    "created_at": WHEN,
    "updated_at": WHEN,
    "assigned_at": WHEN,
    "started_at": None,
    "completed_at": None,
}
TIMELINE_ENTRY = {
    "id": "e-1",
    "task_id": "t-1",
    "project_id": "p-1",
    "kind": "assigned",
    "actor": "orchestratia",
    "summary": "assigned to work",
    "details": {"session_id": "s-1", "score": 3},
    "created_at": "2026-12-07T09:30:00.123456+00:00",
}
PERMISSION_ENTRY = {
    "id": "pe-1",
    "project_id": "p-1",
    "server_id": "srv-1",
    "server_name": "build-box",
    "session_id": "s-1",
    "session_name": "work",
    "agent": "claude",
    "tool": "Bash",
    "tool_input": {"command": "make test"},
    "decision": "allowed",
    "matched_rule_id": "r-1",
    "decided_by": "rule",
    "reason": None,
    "created_at": WHEN,
}
SAMPLES: list[dict[str, Any]] = [
    {"type": "server_update", "server": SERVER},
    {"type": "session_update", "session": SESSION},
    {"type": "task_update", "task": TASK},
    {"type": "task_event", "event": TIMELINE_ENTRY},
    {"type": "inbox_update"},
    {"type": "permission_decision", "entry": PERMISSION_ENTRY},
    {"type": "session_activity", "session_id": "s-1", "state": "waiting"},
    {"type": "session_screen", "session_id": "s-1", "lines": ["$ make", "ok"]},
    {
        "type": "assignment_pause",
        "pause": {
            "project_id": "p-1",
            "paused_at": WHEN,
            "paused_by": "alice@a.example",
            "reason": "runaway loop",
        },
    },
    {
        "type": "webhook_disabled",
        "endpoint_id": "we-1",
        "url": "https://hooks.example/orc",
        "reason": "no successful delivery since 2026-12-04T09:30:00+00:00",
    },
    {
        "type": "tunnel_update",
        "tunnel": {
            "id": "t-1",
            "project_id": "p-1",
            "name": "build box",
            "host": "10.0.0.7",
            "port": 22,
            "username": "ci",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0 orchestratia-build-box",
            "remote_port": 8765,
            "local_hub_url": "http://127.0.0.1:8765",
            "enabled": True,
            "status": "host_key_mismatch",
            "last_error": "the server presented a host key other than the pinned one",
            "host_key_fingerprint": "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "host_key_confirmed_at": WHEN,
            "offered_fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            "connected_at": None,
            "server_id": None,
            "created_at": WHEN,
        },
        "removed": False,
    },
]


def test_every_event_type_round_trips_through_the_adapter() -> None:
    members = get_args(get_args(DashboardEvent)[0])
    covered = {type(dashboard_event_adapter.validate_python(s)) for s in SAMPLES}
    assert covered == set(members)
    for sample in SAMPLES:
        event = dashboard_event_adapter.validate_python(sample)
        assert wire(event) == sample
        assert dashboard_event_adapter.validate_json(dashboard_event_adapter.dump_json(event)) == (
            event
        )


def test_events_keep_the_shape_the_dashboard_reads() -> None:
    # Built the way the hub built them before events were typed: the same keys, in order.
    server = ServerPublic.model_validate(SERVER)
    before = {"type": "server_update", "server": server.model_dump(mode="json")}
    after = wire(ServerUpdate(server=server))
    assert list(after) == list(before) and after == before
    assert list(after["server"]) == list(before["server"])
    # A timeline entry's time stays as ``isoformat`` wrote it (a datetime field would say "Z").
    stamp = datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC).isoformat()
    entry = {**TIMELINE_ENTRY, "created_at": stamp}
    event = dashboard_event_adapter.validate_python({"type": "task_event", "event": entry})
    assert isinstance(event, TaskEvent)
    assert wire(event) == {"type": "task_event", "event": entry}
    assert list(wire(event)["event"]) == list(entry)
    assert wire(SubscribedFrame(project_id="p-1")) == {"type": "subscribed", "project_id": "p-1"}
