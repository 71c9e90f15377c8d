"""Human in the loop end to end on real processes: a hub, a daemon, and the stand-in agent in a
real tmux session, answered by the admin through the dashboard's inbox API.

Acceptance (issue 5): 1. the agent asks for help; the inbox shows it within 1 s; the answer
given in the inbox reaches the agent's terminal exactly once (even when the decision is sent
twice); the task goes ``needs_human`` → ``running`` → ``done``; both moves are audited and on
the timeline. 2. Plan mode round trip with one revision, the feedback reaching the agent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import ADMIN, HubProcess
from tests.e2e.task_support import StandIn, TaskRig, task_rig
from tests.support import wait_sync

pytestmark = pytest.mark.e2e

INBOX_LATENCY = 1.0  # seconds from the agent's `task help` to the inbox showing it


@pytest.fixture
def rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[TaskRig]:
    with task_rig(hub_process, daemon_factory, tmp_path, "hitl", {"alpha": True}) as rig:
        yield rig


def status_moves(rig: TaskRig, task_id: str) -> list[str]:
    return [e["summary"] for e in rig.events(task_id) if e["kind"] == "status"]


def delivered(rig: TaskRig, task_id: str, frame: str) -> list[dict[str, Any]]:
    return [
        e
        for e in rig.events(task_id)
        if e["kind"] == "delivery_delivered" and e["details"].get("frame") == frame
    ]


def finished(agent: StandIn, task_id: str) -> bool:
    return bool(agent.events("finished", task_id))


def decision(kind: str, item_id: str, action: str, **fields: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": item_id,
        "decision_id": uuid.uuid4().hex,
        "action": action,
        **fields,
    }


QUESTION = "Which store should the cache use?"
CONTEXT = "Redis and Postgres are both available"
ANSWER = "Use Redis, the ops team runs it (answer 7f3c9)"


def test_help_request_is_answered_from_the_inbox_exactly_once(rig: TaskRig) -> None:
    gate = rig.root / "cache-may-finish"
    agent = rig.start_agent(
        "worker",
        rig.servers["alpha"],
        {
            "tasks": {
                "Add a cache": {
                    "help": {"question": QUESTION, "context": CONTEXT, "type": "help"},
                    "wait_for": str(gate),  # holds the task in `running` after the answer
                    "result": {"summary": "cache added"},
                }
            }
        },
    )
    res = rig.api.post(
        "/api/v1/tasks",
        json={
            "project_id": rig.project_id,
            "title": "Add a cache",
            "spec": "cache the user lookups",
            "assign_session_name": "worker",
        },
    )
    assert res.status_code == 201, res.text
    task_id = str(res.json()["id"])

    # The dashboard polls the inbox while the agent gets its task, starts it and asks.
    def shown() -> tuple[float, dict[str, Any]] | None:
        items = rig.inbox(project_id=rig.project_id, kind="intervention")
        mine = [i for i in items if i["task_id"] == task_id]
        return (time.time(), mine[0]) if mine else None

    seen_at, item = wait_sync(shown, 20, "the help request in the inbox")
    asked = wait_sync(lambda: agent.commands("help"), 10, "the stand-in's `task help`")
    assert len(asked) == 1 and asked[0]["rc"] == 0, asked
    latency = seen_at - asked[0]["started"]
    assert 0 <= latency <= INBOX_LATENCY, f"inbox showed the request {latency:.3f}s after it"
    assert item["id"] == asked[0]["reply"]["intervention_id"]
    assert (item["kind"], item["type"], item["title"], item["detail"]) == (
        "intervention",
        "help",
        QUESTION,
        CONTEXT,
    )
    assert (item["session_id"], item["session_name"]) == (agent.id, "worker")
    assert item["server_id"] == rig.servers["alpha"].id
    assert rig.task(task_id)["status"] == "needs_human"

    # The admin answers; the request is sent twice at once (a double click, a retry racing the
    # first), and once more later, all under the same decision id: it applies exactly once.
    answer = decision("intervention", item["id"], "respond", response=ANSWER)
    with ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda d: rig.decide(d)[0], [answer, answer]))
    assert sorted(r["outcome"] for r in pair) == ["already_applied", "applied"], pair
    assert rig.decide(answer)[0]["outcome"] == "already_applied"
    second = decision("intervention", item["id"], "respond", response="a different answer")
    assert rig.decide(second)[0]["outcome"] == "conflict"
    assert rig.task(task_id)["status"] == "running"  # the agent holds it at the gate
    assert not [i for i in rig.inbox() if i["id"] == item["id"]]

    got = wait_sync(lambda: agent.events("response", task_id), 15, "the answer in the terminal")
    assert got[0]["response"] == ANSWER
    wait_sync(
        lambda: delivered(rig, task_id, "intervention_response"), 10, "the answer's delivery ack"
    )
    gate.touch()
    rig.wait_status(task_id, "done")
    wait_sync(lambda: finished(agent, task_id), 10, "the stand-in's transcript of its task")

    # Exactly once: one delivery stored and acknowledged, one line typed, one answer read.
    answers = [d for d in rig.deliveries(task_id) if d["kind"] == "intervention_response"]
    assert len(answers) == 1 and answers[0]["status"] == "delivered", answers
    assert len(delivered(rig, task_id, "intervention_response")) == 1
    responses = agent.events("response")
    assert [(r["task"], r["count"]) for r in responses] == [(task_id, 1)], responses
    screen = agent.screen()
    assert screen.count(ANSWER) == 1, screen
    assert screen.count("a different answer") == 0, screen
    line = f"[orchestratia] URGENT: Response to your request on task {task_id[:8]}: {ANSWER}"
    assert line in screen, screen
    completes = agent.commands("complete")
    assert len(completes) == 1 and completes[0]["rc"] == 0, completes
    assert completes[0]["started"] > got[0]["at"]  # it worked on only after the answer

    # Both transitions are on the timeline and in the audit log, with who made them.
    assert status_moves(rig, task_id) == [
        "pending → assigned",
        "assigned → running",
        "running → needs_human",
        "needs_human → running",
        "running → done",
    ]
    events = rig.events(task_id)
    kinds = [e["kind"] for e in events]
    assert kinds.count("help_requested") == 1 and kinds.count("help_answered") == 1, kinds
    moved = {e["details"]["action"]: e for e in events if e["kind"] == "status"}
    assert moved["ask_help"]["actor"] == "session:worker"
    assert moved["respond"]["actor"] == ADMIN
    assert moved["respond"]["details"]["intervention_id"] == item["id"]

    audit = rig.audit(task_id)
    asks = [a for a in audit if a["action"] == "task.ask_help"]
    answered = [a for a in audit if a["action"] == "task.respond"]
    assert len(asks) == 1 and len(answered) == 1, [a["action"] for a in audit]
    assert (asks[0]["actor_type"], asks[0]["actor_id"]) == ("session", "worker")
    assert (asks[0]["details"]["from"], asks[0]["details"]["to"]) == ("running", "needs_human")
    assert (answered[0]["actor_type"], answered[0]["actor_id"]) == ("user", ADMIN)
    assert (answered[0]["details"]["from"], answered[0]["details"]["to"]) == (
        "needs_human",
        "running",
    )
    decided = [a for a in rig.audit(item["id"]) if a["action"] == "inbox.decided"]
    assert len(decided) == 1, decided
    assert decided[0]["actor_id"] == ADMIN
    assert decided[0]["details"] == {"action": "respond", "decision_id": answer["decision_id"]}


FIRST_PLAN = "Add the column and backfill it in one statement"
REVISED_PLAN = "Add a nullable column, backfill in batches of 1000, then make it required"
FEEDBACK = "The table has 40M rows: backfill in batches (ref 5e1d)"


def test_plan_mode_round_trip_with_one_revision(rig: TaskRig) -> None:
    agent = rig.start_agent(
        "planner",
        rig.servers["alpha"],
        {
            "tasks": {
                "Migrate the users table": {
                    "plan": {"first": FIRST_PLAN, "revised": REVISED_PLAN},
                    "result": {"summary": "users table migrated"},
                }
            }
        },
    )
    res = rig.api.post(
        "/api/v1/tasks",
        json={
            "project_id": rig.project_id,
            "title": "Migrate the users table",
            "spec": "add users.locale",
        },
    )
    assert res.status_code == 201, res.text
    task_id = str(res.json()["id"])
    res = rig.api.post(
        f"/api/v1/tasks/{task_id}/assign", json={"session_name": "planner", "require_plan": True}
    )
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "planning" and res.json()["require_plan"] is True

    def review_item(plan: str) -> dict[str, Any] | None:
        items = rig.inbox(project_id=rig.project_id, kind="plan_review")
        mine = [i for i in items if i["task_id"] == task_id and i["detail"] == plan]
        return mine[0] if mine else None

    # The agent is told to plan first; its plan waits for review in the inbox.
    item = wait_sync(lambda: review_item(FIRST_PLAN), 20, "the first plan in the inbox")
    assert (item["kind"], item["id"], item["plan"]) == (
        "plan_review",
        task_id,
        {"summary": FIRST_PLAN},
    )
    assert item["session_name"] == "planner"
    assert rig.task(task_id)["status"] == "plan_review"

    # The admin asks for a revision; the feedback reaches the agent, which plans again.
    revise = decision("plan_review", task_id, "deny", feedback=FEEDBACK)
    assert rig.decide(revise)[0]["outcome"] == "applied"
    assert rig.decide(revise)[0]["outcome"] == "already_applied"
    heard = wait_sync(
        lambda: agent.events("plan_feedback", task_id), 15, "the feedback in the terminal"
    )
    assert heard[0]["feedback"] == FEEDBACK
    item = wait_sync(lambda: review_item(REVISED_PLAN), 15, "the revised plan in the inbox")
    assert item["plan"] == {"summary": REVISED_PLAN}
    assert rig.task(task_id)["status"] == "plan_review"

    # Approved: the agent is told to proceed, works the task (it is `running`) and completes it.
    approve = decision("plan_review", task_id, "approve")
    assert rig.decide(approve)[0]["outcome"] == "applied"
    assert rig.decide(approve)[0]["outcome"] == "already_applied"
    task = rig.wait_status(task_id, "done")
    wait_sync(lambda: finished(agent, task_id), 10, "the stand-in's transcript of its task")
    assert task["plan"] == {"summary": REVISED_PLAN}
    assert task["result"]["summary"] == "users table migrated"
    assert not [i for i in rig.inbox() if i["task_id"] == task_id]

    assert status_moves(rig, task_id) == [
        "pending → assigned",
        "assigned → planning",
        "planning → plan_review",
        "plan_review → planning",
        "planning → plan_review",
        "plan_review → running",
        "running → done",
    ]
    # The agent planned twice (the second time after the feedback), never ran `task start`.
    plans = agent.commands("plan")
    assert [(p["rc"], p["argv"][p["argv"].index("--plan") + 1]) for p in plans] == [
        (0, FIRST_PLAN),
        (0, REVISED_PLAN),
    ]
    assert plans[1]["started"] > heard[0]["at"]
    assert agent.commands("start") == []
    assert [(e["feedback"], e["count"]) for e in agent.events("plan_feedback")] == [(FEEDBACK, 1)]
    kinds = [d["kind"] for d in rig.deliveries(task_id)]
    assert kinds == ["task_assigned", "plan_revision", "plan_approved"], kinds
    for frame in kinds:
        wait_sync(partial(delivered, rig, task_id, frame), 10, f"{frame} acknowledged")
    screen = agent.screen()
    short = task_id[:8]
    assert f"Plan first: read it with orchestratia task view {short}" in screen, screen
    assert screen.count(FEEDBACK) == 1, screen
    assert f"Plan for task {short} needs revision: {FEEDBACK}" in screen, screen
    assert f"Plan approved for task {short}: proceed with the work" in screen, screen

    audit = [a for a in rig.audit(task_id) if a["action"].startswith("task.")]
    assert [a["action"] for a in audit] == [
        "task.created",
        "task.assign",
        "task.request_plan",
        "task.submit_plan",
        "task.revise_plan",
        "task.submit_plan",
        "task.approve_plan",
        "task.complete",
    ]
    revised = audit[4]
    assert (revised["actor_type"], revised["actor_id"]) == ("user", ADMIN)
    assert revised["details"]["feedback"] == FEEDBACK
    assert (audit[6]["actor_type"], audit[6]["actor_id"]) == ("user", ADMIN)
    assert (audit[3]["actor_type"], audit[3]["actor_id"]) == ("session", "planner")
