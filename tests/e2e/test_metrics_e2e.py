"""Acceptance 4 (the ``/metrics`` half): a real hub process, a real daemon with its local metrics
endpoint, a real tmux session. The hub's counters move as the session prints and as tasks move
(through the agent CLI, as an agent does), the inbox depth moves when the agent asks for help,
the daemon's own counters move too, and the hub's ``metrics_token`` is enforced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.metrics_support import agent_cli, listen_for_metrics, scrape, session_token
from tests.e2e.processes import HubProcess
from tests.e2e.terminal_support import Rig, make_rig
from tests.metrics_support import total, value
from tests.support import free_port, wait_sync

pytestmark = pytest.mark.e2e
TOKEN = "scrape-token-for-e2e-0123456789"
PRINTED = 20_000

PRINT_THEN_SWALLOW = """
import sys
sys.stdout.write("y" * int(sys.argv[1]))
sys.stdout.flush()
for _ in sys.stdin:  # swallow whatever is typed in (deliveries), forever
    pass
"""


def _hub(rig: Rig) -> str:
    return scrape(f"{rig.hub.url}/metrics", TOKEN)


def _task(rig: Rig, title: str, session_id: str) -> str:
    made = rig.api.post("/api/v1/tasks", json={"project_id": rig.project_id, "title": title})
    assert made.status_code == 201, made.text
    task_id = str(made.json()["id"])
    assigned = rig.api.post(f"/api/v1/tasks/{task_id}/assign", json={"session_id": session_id})
    assert assigned.status_code == 200, assigned.text
    return task_id


@pytest.mark.parametrize("hub_env", [{"ORCHESTRATIA_METRICS_TOKEN": TOKEN}], indirect=True)
def test_hub_and_daemon_metrics_move_with_real_work(
    hub_process: HubProcess, daemon_factory: Any, tmp_path: Path
) -> None:
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{hub_process.url}/metrics").status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert client.get(f"{hub_process.url}/metrics", headers=wrong).status_code == 401
    daemon = daemon_factory()
    port = free_port()

    def launch() -> None:
        listen_for_metrics(daemon, f"127.0.0.1:{port}")
        daemon.start()

    rig = make_rig(hub_process, daemon, tmp_path / "rig", launch)
    hub_process.closing.append(rig.api)
    local = f"http://127.0.0.1:{port}/metrics"
    wait_sync(lambda: value(_hub(rig), "orchestratia_connected_daemons") == 1, 10, "daemon")
    wait_sync(
        lambda: value(scrape(local), "orchestratia_agent_hub_link_state", state="connected") == 1,
        10,
        "the daemon's link state on its own /metrics",
    )
    with httpx.Client(timeout=5) as client:
        health = client.get(f"http://127.0.0.1:{port}/healthz")
    assert health.status_code == 200 and health.json()["hub_link"] == "connected"

    before, daemon_before = _hub(rig), scrape(local)
    script = rig.script("print.py", PRINT_THEN_SWALLOW)
    session = rig.start("printer", rig.python(script, PRINTED))
    wait_sync(lambda: rig.offset(session["id"]) >= PRINTED, 20, "the output recorded")
    after, daemon_after = _hub(rig), scrape(local)

    relayed = "orchestratia_terminal_output_bytes_total"
    assert total(after, relayed) - total(before, relayed) >= PRINTED
    frames = "orchestratia_terminal_output_frames_total"
    assert total(after, frames) > total(before, frames)
    writes = "orchestratia_recording_write_seconds_count"
    assert total(after, writes) > total(before, writes)
    read = "orchestratia_agent_pane_read_bytes_total"
    assert total(daemon_after, read) - total(daemon_before, read) >= PRINTED
    sent = "orchestratia_agent_frames_sent_total"
    assert total(daemon_after, sent, type="session_output") > total(
        daemon_before, sent, type="session_output"
    )
    assert value(daemon_after, "orchestratia_agent_sessions_running") == 1
    wait_sync(
        lambda: value(_hub(rig), "orchestratia_live_sessions", status="running") == 1,
        10,
        "the live session counted (figures are cached up to 5 s)",
    )

    # A task moves pending → assigned → running → done, the last two by the agent CLI.
    token = session_token(rig, session["tmux_name"])
    done = _task(rig, "metered task", session["id"])
    agent_cli(rig, session, token, "task", "start", done)
    agent_cli(rig, session, token, "task", "complete", done, "--result", "all good")
    moves = _hub(rig)
    transitions = "orchestratia_task_transitions_total"
    for old, new in (("pending", "assigned"), ("assigned", "running"), ("running", "done")):
        assert value(moves, transitions, from_status=old, to_status=new) == 1, (old, new)

    # An agent asking for help puts an intervention in the inbox.
    asking = _task(rig, "needs a human", session["id"])
    agent_cli(rig, session, token, "task", "start", asking)
    assert value(_hub(rig), "orchestratia_inbox_depth", kind="intervention") in (0, None)
    agent_cli(rig, session, token, "task", "help", asking, "--question", "which port?")
    wait_sync(
        lambda: value(_hub(rig), "orchestratia_inbox_depth", kind="intervention") == 1,
        10,
        "the intervention in the inbox depth",
    )

    # The assignments were typed into the session once it was quiet, and acknowledged.
    wait_sync(
        lambda: total(_hub(rig), "orchestratia_delivery_latency_seconds_count") >= 1,
        30,
        "an acknowledged delivery's latency",
    )
    acks = total(scrape(local), "orchestratia_agent_delivery_acks_total")
    assert acks >= 1
