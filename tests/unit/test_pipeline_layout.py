"""The pipeline drawing: tasks in columns by dependency depth, edges from left to right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestratia.hub.web.pipeline_layout import NODE_W, layout
from orchestratia.protocol.task_replies import DependencyPublic, TaskPublic

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def task(tid: str, n: int, *deps: tuple[str, str, str | None]) -> TaskPublic:
    body: dict[str, Any] = {
        "id": tid, "project_id": "p", "pipeline_id": "pl", "title": f"task {tid}", "spec": "",
        "structured_spec": None, "status": "pending", "priority": "normal", "type": "feature",
        "target_repo": None, "target_branch": None, "acceptance_criteria": [], "labels": [],
        "external_ref": None, "assigned_session_id": None, "target_session_name": None,
        "assigned_server_id": None, "assigned_server_name": None, "source_session_id": None,
        "source_session_name": None, "created_by": "me", "require_plan": False, "plan": None,
        "plan_feedback": None, "result": None, "error": None, "resolved_inputs": {},
        "missing_contracts": [], "git_diff_stats": None, "assignment_reason": None, "epoch": 0,
        "approval_status": "none", "pending_approval": False, "blocked": False,
        "blocked_by": [], "created_at": T0 + timedelta(seconds=n),
        "updated_at": T0 + timedelta(seconds=n), "assigned_at": None, "started_at": None,
        "completed_at": None,
        "dependencies": [
            DependencyPublic(
                id=f"{tid}-{up}", task_id=tid, depends_on_task_id=up, dependency_type=kind,
                contract_key=key, resolved=False, resolved_at=None,
            )
            for up, kind, key in deps
        ],
    }  # fmt: skip
    return TaskPublic.model_validate(body)


def test_layers_follow_the_longest_chain_and_edges_run_rightwards() -> None:
    tasks = [
        task("a", 0),
        task("b", 1, ("a", "input", "schema")),
        task("c", 2, ("a", "blocks", None), ("b", "blocks", None)),
        task("d", 3, ("outside", "blocks", None)),
    ]
    drawn = layout(tasks)
    layers = {n.task.id: n.layer for n in drawn.nodes}
    assert layers == {"a": 0, "b": 1, "c": 2, "d": 0}
    assert [e.label for e in drawn.edges] == ["input: schema", "blocks", "blocks"]
    xs = {n.task.id: n.x for n in drawn.nodes}
    for edge in drawn.edges:
        assert xs[edge.source] + NODE_W <= xs[edge.target]
    assert [d.depends_on_task_id for d in drawn.external] == ["outside"]
    assert drawn.width >= max(xs.values()) + NODE_W
    assert drawn.height >= max(n.y for n in drawn.nodes)


def test_a_cycle_does_not_hang_the_page() -> None:
    drawn = layout([task("a", 0, ("b", "blocks", None)), task("b", 1, ("a", "blocks", None))])
    assert len(drawn.nodes) == 2 and len(drawn.edges) == 2
