"""Tasks end to end on real processes: a hub, two daemons (two "servers") and stand-in agents in
real tmux sessions that hear their deliveries and work their tasks with the real agent CLI.

Acceptance: a pipeline of three tasks (schema → API → UI, ``input`` dependencies with contract
keys) assigned to three sessions spread over two servers runs to ``done`` by itself, and each
downstream task's ``resolved_inputs`` holds its upstream's contract. And: ``orchestratia task
start`` on a blocked task, run by the agent in its session, is refused naming the blocker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import HubProcess
from tests.e2e.task_support import STANDIN, StandIn, TaskRig, task_rig
from tests.support import wait_sync

pytestmark = pytest.mark.e2e

DB_SCHEMA = {
    "type": "db_schema",
    "description": "users and sessions tables",
    "tables": {"users": ["id", "email"], "sessions": ["id", "user_id", "expires_at"]},
}
API_SCHEMA = {
    "type": "api_schema",
    "description": "login endpoints",
    "endpoints": {"POST /login": {"body": ["email", "password"]}, "POST /logout": {}},
}
UI_COMPONENTS = {"type": "ui_components", "description": "login form", "components": ["LoginForm"]}


@pytest.fixture
def rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[TaskRig]:
    servers = {"alpha": True, "beta": False}  # one registered through the CLI, one through the API
    with task_rig(hub_process, daemon_factory, tmp_path, "pipeline", servers) as rig:
        yield rig


def delivered_assignments(rig: TaskRig, task_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in rig.events(task_id)
        if e["kind"] == "delivery_delivered" and e["details"].get("frame") == "task_assigned"
    ]


def refusals(agent: StandIn, task_id: str) -> list[dict[str, Any]]:
    return [e for e in agent.commands("start") if task_id in e["argv"] and e["rc"] != 0]


def finished(agent: StandIn, task_id: str) -> bool:
    return any(e["event"] == "finished" and e["task"] == task_id for e in agent.entries())


def test_pipeline_runs_to_done_across_two_servers(rig: TaskRig) -> None:
    alpha, beta = rig.servers["alpha"], rig.servers["beta"]
    assert alpha.id != beta.id
    gate = rig.root / "schema-may-finish"
    schema = rig.start_agent(
        "schema",
        alpha,
        {
            "tasks": {
                "Design the schema": {
                    "result": {"summary": "schema ready", "contracts": {"db_schema": DB_SCHEMA}},
                    "wait_for": str(gate),
                }
            }
        },
    )
    api = rig.start_agent(
        "api",
        beta,
        {
            "tasks": {
                "Build the API": {
                    "result": {"summary": "API ready", "contracts": {"api_schema": API_SCHEMA}},
                    "echo_inputs": True,
                }
            }
        },
    )
    ui = rig.start_agent(
        "ui",
        alpha,
        {
            "tasks": {
                "Build the UI": {
                    "result": {"summary": "UI ready", "contracts": {"ui": UI_COMPONENTS}},
                    "echo_inputs": True,
                    "delay": 0.2,
                }
            }
        },
    )

    res = rig.api.post(
        "/api/v1/pipelines",
        json={
            "project_id": rig.project_id,
            "name": "login feature",
            "tasks": [
                {
                    "id": "schema",
                    "title": "Design the schema",
                    "spec": "tables",
                    "assign": "schema",
                },
                {
                    "id": "api",
                    "title": "Build the API",
                    "spec": "endpoints",
                    "assign": "api",
                    "depends_on": [
                        {"task": "schema", "type": "input", "contract_key": "db_schema"}
                    ],
                },
                {
                    "id": "ui",
                    "title": "Build the UI",
                    "spec": "screens",
                    "assign": "ui",
                    "depends_on": [{"task": "api", "type": "input", "contract_key": "api_schema"}],
                },
            ],
        },
    )
    assert res.status_code == 201, res.text
    ids: dict[str, str] = res.json()["id_map"]
    assert {rig.task(ids[k])["assigned_server_id"] for k in ids} == {alpha.id, beta.id}

    # The schema agent was told and started; it holds its result until the gate opens.
    rig.wait_status(ids["schema"], "running")

    # Meanwhile the API agent is asked (by a person at its terminal) to check its tasks: its
    # task is blocked, and the real CLI's `task start` is refused naming the blocker.
    api.type_line("orchestratia task check")
    refused = wait_sync(lambda: refusals(api, ids["api"]), 20, "the API agent's refused start")[0]
    message = refused["reply"]["error"]
    assert "blocked" in message and '"Design the schema"' in message, message
    assert ids["schema"][:8] in message, message
    assert rig.task(ids["api"])["status"] == "assigned"

    gate.touch()
    for key in ("schema", "api", "ui"):
        rig.wait_status(ids[key], "done", timeout=30)

    tasks = {key: rig.task(ids[key]) for key in ids}
    assert tasks["schema"]["result"]["contracts"] == {"db_schema": DB_SCHEMA}
    assert tasks["api"]["resolved_inputs"] == {"db_schema": DB_SCHEMA}
    assert tasks["ui"]["resolved_inputs"] == {"api_schema": API_SCHEMA}
    # The agents saw those inputs through `task view` (they echo them into their results).
    assert tasks["api"]["result"]["received_inputs"] == {"db_schema": DB_SCHEMA}
    assert tasks["ui"]["result"]["received_inputs"] == {"api_schema": API_SCHEMA}
    assert tasks["ui"]["result"]["contracts"] == {"ui": UI_COMPONENTS}
    for key in ("api", "ui"):
        assert tasks[key]["dependencies"][0]["contract_status"] == "received"
        assert not tasks[key]["blocked"] and not tasks[key]["missing_contracts"]

    # Each assignment reached its session and was acknowledged exactly once.
    sessions = {"schema": schema.id, "api": api.id, "ui": ui.id}
    for key, task_id in ids.items():
        wait_sync(partial(delivered_assignments, rig, task_id), 10, f"{key}'s delivery acked")
        acked = delivered_assignments(rig, task_id)
        assert len(acked) == 1, (key, acked)
        assert acked[0]["details"]["session_id"] == sessions[key]
        moves = [e["summary"] for e in rig.events(task_id) if e["kind"] == "status"]
        assert moves == ["pending → assigned", "assigned → running", "running → done"], moves

    # Every agent did the work itself, once, with the CLI; a human watching saw each command.
    for key, agent in (("schema", schema), ("api", api), ("ui", ui)):
        task_id = ids[key]
        # The hub records the completion before the agent's CLI process has returned.
        wait_sync(partial(finished, agent, task_id), 10, f"{key} agent's transcript of its task")
        ok_starts = [e for e in agent.commands("start") if task_id in e["argv"] and e["rc"] == 0]
        completes = [e for e in agent.commands("complete") if task_id in e["argv"]]
        assert len(ok_starts) == 1 and len(completes) == 1, agent.entries()
        assert completes[0]["rc"] == 0 and completes[0]["reply"]["status"] == "done"
        screen = agent.screen()
        assert "[orchestratia] " in screen and "Run: orchestratia task check" in screen, screen
        for command in ("check", "view", "start", "complete"):
            shown = f"$ orchestratia task {command}" + ("" if command == "check" else f" {task_id}")
            assert shown in screen, (command, screen)
    api_screen = api.screen()
    assert f"$ orchestratia task start {ids['api']}" in api_screen
    assert "! refused (exit 1): HTTP 409: task" in api_screen, api_screen
    assert "is blocked by" in api_screen, api_screen
    assert "is unblocked, its inputs are ready" in api_screen, api_screen


FAKE_CLI = """
import json, sys
args = [a for a in sys.argv[1:] if a != "--json"]
with open(sys.argv[0] + ".calls", "a") as f:
    f.write(json.dumps(args) + "\\n")
command, ref = args[1], (args[2] if len(args) > 2 else None)
tasks = {
    "t-doomed": {"title": "Doomed", "epoch": 3},
    "t-blocked": {"title": "Blocked one", "epoch": 1},
}
if command == "check":
    print(json.dumps({"count": 2, "tasks": [{"id": k} for k in tasks]}))
elif command == "view":
    print(json.dumps({"id": ref, "status": "assigned", "resolved_inputs": {}, **tasks[ref]}))
elif command == "start" and ref == "t-blocked":
    print(json.dumps({"error": "HTTP 409: task t-blocked is blocked by \\"Other\\""}))
    sys.exit(1)
else:
    print(json.dumps({"id": ref, "status": {"start": "running", "fail": "failed"}[command]}))
"""


def test_standin_fails_tasks_as_scripted_and_survives_refusals(tmp_path: Path) -> None:
    """The stand-in on its own, against a fake CLI: the script's ``fail``, a refused start."""
    cli = tmp_path / "orchestratia"
    cli.write_text(f"#!{sys.executable}\n{FAKE_CLI}")
    cli.chmod(0o755)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"name": "t", "tasks": {"Doomed": {"fail": "disk full"}}}))
    transcript = tmp_path / "transcript.jsonl"
    argv = [sys.executable, str(STANDIN), "--script", str(script), "--cli", str(cli)]
    out = subprocess.run(
        [*argv, "--transcript", str(transcript)],
        input="hello\nplease run orchestratia task check now\nquit\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    calls = [
        json.loads(line) for line in (tmp_path / "orchestratia.calls").read_text().split("\n")[:-1]
    ]
    assert calls == [
        ["task", "check"],
        ["task", "view", "t-doomed"],
        ["task", "start", "t-doomed", "--epoch", "3"],
        ["task", "fail", "t-doomed", "--error", "disk full", "--epoch", "3"],
        ["task", "view", "t-blocked"],
        ["task", "start", "t-blocked", "--epoch", "1"],
    ]
    assert "(nothing to do for: hello)" in out
    assert "$ orchestratia task fail t-doomed --error 'disk full' --epoch 3 --json" in out
    assert '! refused (exit 1): HTTP 409: task t-blocked is blocked by "Other"' in out
    entries = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [e["task"] for e in entries if e["event"] == "finished"] == ["t-doomed"]
