"""``orchestratia task …`` and the other agent commands, through the real CLI against a fake hub.

Every test asserts the exact requests sent (method, path, query, body) and what was printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from orchestratia.cli.agent_api import AgentOptions
from orchestratia.cli.main import app
from tests.unit.cli_fakes import (
    NOW,
    SERVER,
    SESSION,
    TASK_A,
    TASK_B,
    TASK_C,
    FakeHub,
    status_reply,
    task_public,
)

# The environment a daemon gives an agent session, as the CLI expects it.
pytestmark = pytest.mark.usefixtures("session_env")


LIST = {"tasks": [task_public(TASK_A), task_public(TASK_C, title="Docs")], "count": 2}


def run(hub: FakeHub, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        app, list(args), obj=AgentOptions(transport=hub.transport), input=stdin
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_check_asks_for_this_sessions_tasks() -> None:
    hub = FakeHub({("GET", "tasks/check"): LIST})
    out = ok(run(hub, "task", "check")).stdout
    assert hub.calls() == [("GET", "tasks/check")]
    assert dict(hub.requests[0].url.params) == {"session_id": "sess-1"}
    assert hub.requests[0].headers["X-API-Key"] == "orcs_token"
    assert "1a2b3c4d" in out and "Build the orders API" in out and "Docs" in out


def test_json_anywhere_prints_the_hubs_reply() -> None:
    for args in (
        ["task", "check", "--json"],
        ["--json", "task", "check"],
        ["task", "--json", "check"],
    ):
        hub = FakeHub({("GET", "tasks/check"): LIST})
        assert json.loads(ok(run(hub, *args)).stdout) == LIST


def test_view_resolves_a_prefix_then_fetches_the_full_id() -> None:
    full = task_public(
        TASK_C,
        title="Docs",
        blocked=True,
        blocked_by=[
            {"task_id": TASK_A, "title": "API", "status": "running", "dependency_type": "input"}
        ],
        resolved_inputs={"orders_api": {"type": "openapi", "base_url": "http://x"}},
        acceptance_criteria=["documented"],
    )
    hub = FakeHub({("GET", "tasks"): LIST, ("GET", f"tasks/{TASK_C}"): full})
    out = ok(run(hub, "task", "view", "5e6f")).stdout
    assert hub.calls() == [("GET", "tasks"), ("GET", f"tasks/{TASK_C}")]
    assert "blocked by: 1a2b3c4d 'API' (running)" in out
    assert "inputs from upstream tasks:" in out and '"base_url": "http://x"' in out
    assert "1. documented" in out


def test_list_passes_status_and_project() -> None:
    hub = FakeHub({("GET", "tasks"): {"tasks": [], "count": 0}})
    assert "no tasks" in ok(run(hub, "task", "list", "--status", "running,assigned")).stdout
    assert dict(hub.requests[0].url.params) == {
        "status": "running,assigned",
        "project_id": "proj-1",
    }


RESULT = {
    "summary": "Orders API done",
    "changes": {"files_modified": ["api/orders.py"]},
    "tests": {"passed": 3, "failed": 0, "skipped": 0},
    "contracts": {
        "orders_api": {"type": "openapi", "base_url": "http://localhost:8000", "paths": ["/orders"]}
    },
    "custom_key": [1, 2],
}


def test_complete_sends_a_structured_result_with_contracts_unchanged() -> None:
    done = task_public(status="done", result=RESULT)
    hub = FakeHub({("POST", f"tasks/{TASK_A}/complete"): done})
    out = ok(run(hub, "task", "complete", TASK_A, "--result", json.dumps(RESULT))).stdout
    assert hub.calls() == [("POST", f"tasks/{TASK_A}/complete")]
    assert hub.body() == {"result": RESULT}
    assert "published contracts: orders_api" in out


def test_complete_reads_the_result_from_a_file_or_stdin(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(RESULT, indent=2))
    hub = FakeHub({("POST", f"tasks/{TASK_A}/complete"): task_public(status="done")})
    ok(run(hub, "task", "complete", TASK_A, "--result-file", str(path), "--epoch", "3"))
    assert hub.body() == {"result": RESULT, "epoch": 3}
    ok(run(hub, "task", "complete", TASK_A, "--result-file", "-", stdin="all done\n"))
    assert hub.body() == {"result": "all done\n"}


@pytest.mark.parametrize("text", ["Fixed the bug", "[1, 2] were wrong", '"quoted"', "42"])
def test_complete_sends_anything_but_a_json_object_as_text(text: str) -> None:
    hub = FakeHub({("POST", f"tasks/{TASK_A}/complete"): task_public(status="done")})
    ok(run(hub, "task", "complete", TASK_A, "--result", text))
    assert hub.body() == {"result": text}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ('{"summary": "x", contracts: {}}', "--result starts with '{' but is not valid JSON"),
        (
            '{"contracts": {"orders_api": "http://x"}}',
            "contracts.orders_api: Input should be a valid dictionary",
        ),
        (
            '{"contracts": {"orders_api": {"base_url": "x"}}}',
            "contracts.orders_api.type: Field required",
        ),
        ('{"tests": {"passed": -1}}', "tests.passed: Input should be greater than or equal to 0"),
        ("   ", "--result is empty"),
    ],
)
def test_a_bad_result_is_refused_before_anything_is_sent(result: str, message: str) -> None:
    hub = FakeHub()
    res = run(hub, "task", "complete", TASK_A, "--result", result, "--json")
    assert res.exit_code == 1
    assert message in json.loads(res.stdout)["error"]
    assert hub.requests == []


def test_contract_errors_show_the_expected_shape() -> None:
    res = run(FakeHub(), "task", "complete", TASK_A, "--result", '{"contracts": ["a"]}')
    assert res.exit_code == 1
    assert 'contracts map each key to an object with a "type"' in res.stderr


def test_complete_needs_exactly_one_result_source(tmp_path: Path) -> None:
    for extra in ([], ["--result", "x", "--result-file", str(tmp_path / "r")]):
        res = run(FakeHub(), "task", "complete", TASK_A, *extra, "--json")
        assert res.exit_code == 1
        assert json.loads(res.stdout) == {"error": "give exactly one of --result or --result-file"}


def test_plan_text_becomes_a_summary_and_objects_pass_through() -> None:
    hub = FakeHub({("POST", f"tasks/{TASK_A}/plan"): task_public(status="plan_review")})
    ok(run(hub, "task", "plan", TASK_A, "--plan", "1. add model\n2. add route"))
    assert hub.body() == {"plan": {"summary": "1. add model\n2. add route"}}
    ok(run(hub, "task", "plan", TASK_A, "--plan", '{"steps": ["a"], "risk": "low"}'))
    assert hub.body() == {"plan": {"steps": ["a"], "risk": "low"}}


def test_start_fail_help_note_bodies() -> None:
    hub = FakeHub(
        {
            ("POST", f"tasks/{TASK_A}/start"): task_public(status="running"),
            ("POST", f"tasks/{TASK_A}/fail"): task_public(status="failed"),
            ("POST", f"tasks/{TASK_A}/help"): {
                "intervention_id": "int-1",
                "status": "pending",
                "task": task_public(status="needs_human"),
            },
            ("POST", f"tasks/{TASK_A}/notes"): {
                "id": "n1",
                "task_id": TASK_A,
                "author": "session:backend",
                "content": "halfway",
                "urgent": True,
                "created_at": NOW,
                "delivered_at": None,
            },
        }
    )
    ok(run(hub, "task", "start", TASK_A))
    assert hub.body() == {}
    ok(run(hub, "task", "start", TASK_A, "--epoch", "2"))
    assert hub.body() == {"epoch": 2}
    ok(run(hub, "task", "fail", TASK_A, "--error", "tests never pass"))
    assert hub.body() == {"error": "tests never pass"}
    out = ok(
        run(hub, "task", "help", TASK_A, "--question", "Which DB?", "--type", "question")
    ).stdout
    assert hub.body() == {"question": "Which DB?", "type": "question"}
    assert "intervention int-1 (pending)" in out
    ok(
        run(
            hub,
            "task",
            "help",
            TASK_A,
            "--question",
            "Ok?",
            "--context",
            "ctx",
            "--type",
            "approval",
        )
    )
    assert hub.body() == {"question": "Ok?", "context": "ctx", "type": "approval"}
    ok(run(hub, "task", "note", TASK_A, "--content", "halfway", "--urgent"))
    assert hub.body() == {"content": "halfway", "urgent": True}


def test_help_type_is_checked_locally() -> None:
    hub = FakeHub()
    res = run(hub, "task", "help", TASK_A, "--question", "q", "--type", "panic", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"].startswith("invalid input: type: Input should be 'help'")
    assert hub.requests == []


def test_notes_are_listed() -> None:
    notes = {
        "notes": [
            {
                "id": "n",
                "task_id": TASK_A,
                "author": "alice",
                "content": "use v2",
                "urgent": True,
                "created_at": NOW,
                "delivered_at": None,
            }
        ]
    }
    hub = FakeHub({("GET", f"tasks/{TASK_A}/notes"): notes})
    out = ok(run(hub, "task", "notes", TASK_A)).stdout
    assert "alice" in out and "use v2" in out


def test_create_with_dependencies_and_assignment() -> None:
    created = task_public(TASK_B, status="pending", target_session_name=None)
    hub = FakeHub(
        {
            ("GET", "tasks"): LIST,
            ("POST", "tasks"): httpx.Response(201, json=created),
            ("POST", f"tasks/{TASK_B}/assign"): task_public(TASK_B, target_session_name="web"),
        }
    )
    res = ok(
        run(
            hub,
            "task",
            "create",
            "--title",
            "UI",
            "--spec",
            "Build the page",
            "--priority",
            "high",
            "--repo",
            "web",
            "--branch",
            "main",
            "--acceptance-criteria",
            "renders",
            "--acceptance-criteria",
            "tested",
            "--depends-on",
            "1a2b3c",
            "--assign",
            "web",
            "--require-plan",
            "--json",
        )
    )
    assert hub.calls() == [("GET", "tasks"), ("POST", "tasks"), ("POST", f"tasks/{TASK_B}/assign")]
    assert hub.body(1) == {
        "title": "UI",
        "spec": "Build the page",
        "priority": "high",
        "target_repo": "web",
        "target_branch": "main",
        "acceptance_criteria": ["renders", "tested"],
        "require_plan": True,
        "project_id": "proj-1",
        "session_id": "sess-1",
        "dependencies": [{"depends_on_task_id": TASK_A}],
    }
    assert hub.body(2) == {"session_name": "web", "require_plan": True}
    assert json.loads(res.stdout)["target_session_name"] == "web"


def test_create_minimal_body_and_failed_assignment_names_the_new_task() -> None:
    hub = FakeHub(
        {
            ("POST", "tasks"): httpx.Response(201, json=task_public(TASK_B)),
            ("POST", f"tasks/{TASK_B}/assign"): httpx.Response(
                404, json={"detail": "no live session named 'ghost'"}
            ),
        }
    )
    res = run(hub, "task", "create", "--title", "T", "--spec", "S", "--assign", "ghost", "--json")
    assert res.exit_code == 1
    assert hub.body(0) == {
        "title": "T",
        "spec": "S",
        "project_id": "proj-1",
        "session_id": "sess-1",
    }
    assert json.loads(res.stdout) == {
        "error": f"task {TASK_B} was created, but assigning it failed: "
        "HTTP 404: no live session named 'ghost'"
    }


def test_assign_update_cancel() -> None:
    hub = FakeHub(
        {
            ("POST", f"tasks/{TASK_A}/assign"): task_public(),
            ("PUT", f"tasks/{TASK_A}"): task_public(priority="critical"),
            ("DELETE", f"tasks/{TASK_A}"): {
                "cancelled": True,
                "task_id": TASK_A,
                "task": task_public(status="cancelled"),
            },
        }
    )
    ok(run(hub, "task", "assign", TASK_A, "--session", "backend"))
    assert hub.body() == {"session_name": "backend"}
    ok(
        run(
            hub,
            "task",
            "update",
            TASK_A,
            "--priority",
            "critical",
            "--type",
            "bugfix",
            "--acceptance-criteria",
            "a",
        )
    )
    assert hub.body() == {"priority": "critical", "type": "bugfix", "acceptance_criteria": ["a"]}
    assert f"cancelled task {TASK_A}" in ok(run(hub, "task", "cancel", TASK_A)).stdout
    assert hub.calls()[-1] == ("DELETE", f"tasks/{TASK_A}")


def test_update_without_fields_sends_nothing() -> None:
    hub = FakeHub()
    res = run(hub, "task", "update", TASK_A)
    assert res.exit_code == 1 and "nothing to update" in res.stderr
    assert hub.requests == []


def test_deps_add_and_remove() -> None:
    dep = {
        "id": "d",
        "task_id": TASK_A,
        "depends_on_task_id": TASK_C,
        "dependency_type": "input",
        "contract_key": "orders_api",
        "resolved": False,
        "resolved_at": None,
    }
    hub = FakeHub(
        {
            ("POST", f"tasks/{TASK_A}/dependencies"): httpx.Response(201, json=dep),
            ("DELETE", f"tasks/{TASK_A}/dependencies/{TASK_C}"): httpx.Response(204),
        }
    )
    out = ok(
        run(
            hub,
            "task",
            "deps",
            "add",
            TASK_A,
            "--depends-on",
            TASK_C,
            "--type",
            "input",
            "--contract-key",
            "orders_api",
        )
    ).stdout
    assert hub.body() == {
        "depends_on_task_id": TASK_C,
        "dependency_type": "input",
        "contract_key": "orders_api",
    }
    assert "contract key orders_api" in out
    res = ok(run(hub, "task", "deps", "remove", TASK_A, "--depends-on", TASK_C, "--json"))
    assert json.loads(res.stdout) == {
        "removed": True,
        "task_id": TASK_A,
        "depends_on_task_id": TASK_C,
    }


def test_input_dependency_needs_a_contract_key_locally() -> None:
    hub = FakeHub()
    res = run(hub, "task", "deps", "add", TASK_A, "--depends-on", TASK_C, "--type", "input")
    assert res.exit_code == 1 and "contract_key is required" in res.stderr
    assert hub.requests == []


def test_hub_errors_in_json_and_human_mode() -> None:
    blocked = httpx.Response(409, json={"detail": "task is blocked by 1a2b3c4d (running)"})
    hub = FakeHub({("POST", f"tasks/{TASK_A}/start"): blocked})
    res = run(hub, "task", "start", TASK_A, "--json")
    assert (res.exit_code, res.stdout) == (
        1,
        '{"error": "HTTP 409: task is blocked by 1a2b3c4d (running)"}\n',
    )
    res = run(hub, "task", "start", TASK_A)
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr == "error: HTTP 409: task is blocked by 1a2b3c4d (running)\n"


def test_usage_errors_are_json_in_json_mode() -> None:
    res = run(FakeHub(), "task", "fail", TASK_A, "--json")
    assert res.exit_code == 2
    assert json.loads(res.stdout) == {"error": "Missing option '--error'."}


def test_explicit_options_override_the_environment() -> None:
    hub = FakeHub({("GET", "tasks/check"): LIST})
    ok(run(hub, "task", "--api-key", "other", "--session-id", "sess-9", "check"))
    assert hub.requests[0].headers["X-API-Key"] == "other"
    assert hub.requests[0].url.params["session_id"] == "sess-9"


def test_missing_configuration_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATIA_HUB_URL")
    res = run(FakeHub(), "task", "check", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"].startswith("no hub URL: set ORCHESTRATIA_HUB_URL")


def test_agent_status_keeps_its_own_json_option(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["agent", "status", "--config", str(tmp_path / "a.yaml"), "--json"]
    )
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"].startswith("no daemon state next to")


def test_listing_lazy_commands_matches_their_real_help() -> None:
    from orchestratia.cli import agent, hub, up
    from orchestratia.cli.main import LAZY_COMMANDS

    assert LAZY_COMMANDS["hub"][2] == hub.app.info.help
    assert LAZY_COMMANDS["agent"][2] == agent.app.info.help
    assert LAZY_COMMANDS["up"][2] == (up.up.__doc__ or "").splitlines()[0]


def test_agent_commands_do_not_load_the_hub_stack() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from orchestratia.cli.main import app\n"
        "CliRunner().invoke(app, ['task', 'complete', '--help'])\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "heavy = ('fastapi', 'sqlalchemy', 'uvicorn', 'orchestratia.hub')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- status, servers, sessions, pipelines, interventions ---------------------------------------


def test_status_shows_identity_and_tasks() -> None:
    status = status_reply([task_public()])
    hub = FakeHub({("GET", "status"): status})
    out = ok(run(hub, "status")).stdout
    assert dict(hub.requests[0].url.params) == {"session_id": "sess-1"}
    assert "session: backend (sess-1)  role: worker" in out
    assert "server:  devbox (srv-1)  online" in out and "Build the orders API" in out
    assert json.loads(ok(run(hub, "status", "--json")).stdout) == status
    ok(run(hub, "status", "--session-id", "other"))
    assert hub.requests[-1].url.params["session_id"] == "other"


def test_server_and_session_lists() -> None:
    servers = {"servers": [SERVER]}
    sessions = {"sessions": [SESSION]}
    hub = FakeHub({("GET", "servers"): servers, ("GET", "sessions"): sessions})
    assert "devbox" in ok(run(hub, "server", "list")).stdout
    out = ok(run(hub, "session", "list")).stdout
    assert "backend" in out and "claude" in out
    assert dict(hub.requests[-1].url.params) == {"project_id": "proj-1"}


def test_session_list_needs_a_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATIA_PROJECT_ID")
    hub = FakeHub()
    res = run(hub, "session", "list", "--json")
    assert res.exit_code == 1 and "needs a project" in json.loads(res.stdout)["error"]
    assert hub.requests == []


PIPELINE = {
    "name": "orders",
    "tasks": [
        {"id": "db", "title": "Schema", "spec": "tables"},
        {
            "id": "api",
            "title": "API",
            "spec": "routes",
            "depends_on": [{"task": "db", "type": "input", "contract_key": "schema"}],
            "assign": "backend",
        },
    ],
}


def test_pipeline_create_is_one_call_with_the_document_as_written(tmp_path: Path) -> None:
    reply = {
        "pipeline": True,
        "pipeline_id": "pl-1",
        "tasks_created": 2,
        "id_map": {"db": TASK_A, "api": TASK_C},
        "tasks": [task_public(TASK_A), task_public(TASK_C)],
    }
    hub = FakeHub({("POST", "pipelines"): httpx.Response(201, json=reply)})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PIPELINE))
    out = ok(run(hub, "pipeline", "create", "--file", str(path))).stdout
    assert hub.calls() == [("POST", "pipelines")]
    assert hub.body() == {**PIPELINE, "project_id": "proj-1"}
    assert "pipeline pl-1: 2 tasks created" in out and f"db -> {TASK_A}" in out
    inline = {**PIPELINE, "project_id": "proj-2"}
    ok(run(hub, "pipeline", "create", "--inline", json.dumps(inline), "--json"))
    assert hub.body() == inline


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --file or --inline"),
        (["--file", "/nonexistent/p.json"], "cannot read pipeline file /nonexistent/p.json"),
        (["--inline", "{tasks: []}"], "--inline is not valid JSON: Expecting property name"),
        (["--inline", "[]"], 'a pipeline is a JSON object with a non-empty "tasks" array'),
        (
            ["--inline", '{"tasks": []}'],
            'a pipeline is a JSON object with a non-empty "tasks" array',
        ),
        (["--inline", '{"tasks": [{"spec": "x"}]}'], "--inline: tasks.0.title: Field required"),
        (
            [
                "--inline",
                '{"tasks": [{"title": "a", "depends_on": [{"task": "b", "type": "input"}]}]}',
            ],
            "contract_key is required for an input dependency",
        ),
    ],
)
def test_pipeline_problems_are_caught_before_sending(args: list[str], message: str) -> None:
    hub = FakeHub()
    res = run(hub, "pipeline", "create", *args, "--json")
    assert res.exit_code == 1
    assert message in json.loads(res.stdout)["error"]
    assert hub.requests == []


INTERVENTION = {
    "id": "9f8e7d6c-0000-4000-8000-00000000000a",
    "task_id": TASK_A,
    "session_id": "sess-1",
    "project_id": "proj-1",
    "type": "question",
    "question": "Which DB?",
    "context": None,
    "urgency": "normal",
    "status": "pending",
    "response": None,
    "responder": None,
    "created_at": "2025-01-01T00:00:00+00:00",
    "responded_at": None,
}


def test_intervention_list_and_respond_by_prefix() -> None:
    answered = {**INTERVENTION, "status": "answered", "response": "Postgres"}
    hub = FakeHub(
        {
            ("GET", "tasks"): LIST,
            ("GET", "interventions"): {"interventions": [INTERVENTION]},
            ("POST", f"interventions/{INTERVENTION['id']}/respond"): answered,
        }
    )
    out = ok(run(hub, "intervention", "list", "--task-id", "1a2b3c", "--status", "pending")).stdout
    assert "Which DB?" in out
    assert dict(hub.requests[1].url.params) == {"task_id": TASK_A, "status": "pending"}
    out = ok(run(hub, "intervention", "respond", "9f8e", "--response", "Postgres")).stdout
    assert hub.calls()[-2:] == [
        ("GET", "interventions"),
        ("POST", f"interventions/{INTERVENTION['id']}/respond"),
    ]
    assert hub.body() == {"response": "Postgres"}
    assert f"answered intervention {INTERVENTION['id']}" in out


def test_a_reply_of_the_wrong_shape_is_one_line() -> None:
    hub = FakeHub({("GET", "tasks/check"): {"tasks": [{"id": TASK_A}], "count": 1}})
    res = run(hub, "task", "check")
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.startswith(
        "error: the hub's reply to GET tasks/check is not what this CLI expects: tasks.0."
    )
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    res = run(hub, "task", "check", "--json")
    assert res.exit_code == 1
    error = json.loads(res.stdout)["error"]
    assert "tasks.0.project_id: Field required" in error
    assert error.endswith(" more)") and error.count("Field required") == 3


def test_fields_a_newer_hub_adds_are_ignored_and_still_printed_in_json() -> None:
    newer: dict[str, Any] = {"tasks": [task_public(TASK_A)], "count": 1, "next_page": None}
    newer["tasks"][0]["shiny"] = True
    hub = FakeHub({("GET", "tasks/check"): newer})
    assert "Build the orders API" in ok(run(hub, "task", "check")).stdout
    assert json.loads(ok(run(hub, "task", "check", "--json")).stdout) == newer
