from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

import pytest

from orchestratia.hub.services.tasks.assignment_scoring import (
    Candidate,
    TaskProfile,
    Weights,
    combined_load,
    decide,
)


def task(**changes: Any) -> TaskProfile:
    base = TaskProfile(
        target_repo="api",
        languages=(),
        frameworks=(),
        labels=(),
        agent_type=None,
        os=None,
        preferred_agent=None,
    )
    return replace(base, **changes)


def cand(name: str, server: str, **changes: Any) -> Candidate:
    base = Candidate(
        session_id=f"id-{name}",
        session_name=name,
        server_id=f"id-{server}",
        server_name=server,
        server_os="Linux 6.1 (Debian 12)",
        agent_type="claude",
        repos={"api": "/srv/api"},
        labels=(),
        capabilities=("claude",),
        system_info={"cpu_percent": 10.0},
        running_tasks=0,
        idle_seconds=60.0,
    )
    return replace(base, **changes)


def test_picks_session_whose_server_has_target_repo_and_lower_load() -> None:
    busy = cand("worker-1", "srv-a", system_info={"cpu_percent": 90.0}, running_tasks=1)
    # Matched by the path's basename, not the key.
    quiet = cand("worker-2", "srv-b", repos={"backend": "/home/dev/code/api/"})
    missing = cand("worker-3", "srv-c", repos={"web": "/srv/web"}, system_info={})

    decision = decide(task(), [busy, missing, quiet])

    assert decision.winner is not None
    assert decision.winner.candidate.session_name == "worker-2"
    assert [s.candidate.session_name for s in decision.ranked] == ["worker-2", "worker-1"]
    assert decision.winner.breakdown["repo"] == 40
    assert decision.winner.breakdown["capacity"] > decision.ranked[1].breakdown["capacity"]
    assert [(r.candidate.session_name, r.reason) for r in decision.rejected] == [
        ("worker-3", "server lacks repo 'api'")
    ]
    assert "repo 'api' on server → repo 40.0/40" in decision.winner.reasons
    assert any(r.startswith("load 0.10 (cpu 10%") for r in decision.winner.reasons)
    assert decision.summary.startswith("picked worker-2 on srv-b (score ")
    assert "has repo api" in decision.summary
    assert "lower load" in decision.summary


@pytest.mark.parametrize(
    ("repos", "ok"),
    [
        ({"API": "/x/whatever"}, True),
        ({"svc": "C:\\code\\Api"}, True),
        ({"svc": "/srv/api-v2"}, False),
        ({}, False),
    ],
)
def test_repo_filter_matches_key_or_path_basename(repos: dict[str, str], ok: bool) -> None:
    decision = decide(task(), [cand("w", "s", repos=repos)])
    assert (decision.winner is not None) is ok
    assert bool(decision.rejected) is not ok


def test_no_target_repo_gives_neutral_half() -> None:
    decision = decide(task(target_repo=None), [cand("w", "s", repos={})])
    assert decision.winner is not None
    assert decision.winner.breakdown["repo"] == 20
    assert any("task names no repo" in r for r in decision.winner.reasons)
    assert "has repo" not in decision.summary


def test_hard_filters_agent_type_and_os() -> None:
    profile = task(agent_type="Claude", os="linux")
    good = cand("good", "s1")
    wrong_agent = cand("gem", "s2", agent_type="gemini")
    no_agent = cand("none", "s3", agent_type=None)
    mac = cand("mac", "s4", server_os="Darwin 23.1 (macOS 14)")
    both = cand("both", "s5", agent_type="codex", server_os="Windows 11", repos={})

    decision = decide(profile, [mac, both, wrong_agent, good, no_agent])

    assert [s.candidate.session_name for s in decision.ranked] == ["good"]
    reasons = {r.candidate.session_name: r.reason for r in decision.rejected}
    assert reasons["gem"] == "session agent is gemini, task requires 'Claude'"
    assert reasons["none"] == "session agent is unknown, task requires 'Claude'"
    assert reasons["mac"] == "server OS 'Darwin 23.1 (macOS 14)' is not 'linux'"
    assert reasons["both"].split("; ") == [
        "server lacks repo 'api'",
        "session agent is codex, task requires 'Claude'",
        "server OS 'Windows 11' is not 'linux'",
    ]


def test_below_threshold_has_no_winner() -> None:
    decision = decide(task(), [cand("w", "s")], threshold=101)
    assert decision.winner is None
    assert len(decision.ranked) == 1
    assert decision.summary.startswith("no candidate above threshold 101 (best: w at ")
    assert decision.as_reason()["winner"] is None


def test_threshold_is_inclusive() -> None:
    decision = decide(task(), [cand("w", "s")])
    assert decision.winner is not None
    exact = decide(task(), [cand("w", "s")], threshold=decision.winner.score)
    assert exact.winner is not None


def test_no_candidates_and_all_rejected() -> None:
    assert decide(task(), []).summary == "no candidate sessions available"
    decision = decide(task(), [cand("w", "s", repos={})])
    assert decision.winner is None
    assert decision.summary == "no eligible candidate: 1 rejected by hard filters"


def test_perfect_candidate_scores_100() -> None:
    profile = task(languages=("Python",), labels=("gpu",), preferred_agent="claude")
    best = cand("w", "s", labels=("python", "GPU"), system_info={"cpu_percent": 0})
    decision = decide(profile, [best])
    assert decision.winner is not None
    assert decision.winner.score == 100.0
    assert decision.winner.breakdown == {
        "repo": 40,
        "overlap": 20,
        "agent": 15,
        "capacity": 15,
        "idle": 10,
    }


def test_overlap_fraction_and_neutral() -> None:
    profile = task(languages=("python",), frameworks=("FastAPI",), labels=("gpu",))
    c = cand("w", "s", labels=("fastapi", "arm"), capabilities=("claude", "python"))
    scored = decide(profile, [c]).ranked[0]
    assert scored.breakdown["overlap"] == 13.3
    assert "matches fastapi, python (2/3 wanted) → overlap 13.3/20" in scored.reasons
    assert decide(task(), [c]).ranked[0].breakdown["overlap"] == 10


@pytest.mark.parametrize(("preferred", "points"), [("CLAUDE", 15), ("gemini", 0), (None, 7.5)])
def test_agent_preference(preferred: str | None, points: float) -> None:
    scored = decide(task(preferred_agent=preferred), [cand("w", "s")]).ranked[0]
    assert scored.breakdown["agent"] == points


@pytest.mark.parametrize(
    ("info", "running", "load"),
    [
        ({"cpu_percent": 50.0}, 0, 0.5),
        ({"cpu_percent": 0.0}, 2, 0.5),
        ({"cpu_percent": 50.0}, 2, 0.75),
        ({"cpu_percent": 250.0}, 0, 1.0),
        ({"cpu_percent": 0.0}, 9, 1.0),
        ({"load_avg": [2.0, 1.0, 1.0], "cpu_count": 8}, 0, 0.25),
        ({"cpu_percent": "nan", "load_avg": (1.0,), "cpu_count": "4"}, 0, 0.25),
    ],
)
def test_combined_load(info: dict[str, Any], running: int, load: float) -> None:
    value, _ = combined_load(cand("w", "s", system_info=info, running_tasks=running))
    assert value == pytest.approx(load)


@pytest.mark.parametrize(
    "info",
    [
        {},
        {"cpu_percent": "abc"},
        {"cpu_percent": float("nan"), "load_avg": "high"},
        {"cpu_percent": float("inf")},
        {"cpu_percent": True},
        {"cpu_percent": None, "load_avg": [], "cpu_count": 4},
        {"cpu_percent": -5, "load_avg": [1.0], "cpu_count": 0},
        {"load_avg": [None, 1.0], "cpu_count": 4},
        {"load_avg": [10**400], "cpu_count": 4},
        {"cpu_percent": {"nested": 1}, "memory_percent": "x"},
        cast(Mapping[str, Any], ["not", "a", "mapping"]),
    ],
)
def test_garbage_system_info_counts_as_unknown(info: Mapping[str, Any]) -> None:
    c = cand("w", "s", system_info=info, running_tasks=-3, idle_seconds=float("nan"))
    scored = decide(task(), [c]).ranked[0]
    assert scored.breakdown["capacity"] == 7.5  # unknown system load is assumed 0.5
    assert scored.breakdown["idle"] == 0
    assert any("system load unknown" in r for r in scored.reasons)
    json.dumps(decide(task(), [c]).as_reason(), allow_nan=False)


def test_idle_is_relative_to_most_idle_eligible() -> None:
    a = cand("a", "s", idle_seconds=100)
    b = cand("b", "s", idle_seconds=50)
    # A rejected session idle for longer must not shrink the eligible ones' idle points.
    gone = cand("gone", "s", idle_seconds=10_000, repos={})
    points = {
        s.candidate.session_name: s.breakdown["idle"] for s in decide(task(), [a, b, gone]).ranked
    }
    assert points == {"a": 10, "b": 5}
    zero = decide(task(), [replace(a, idle_seconds=0), replace(b, idle_seconds=0)])
    assert [s.breakdown["idle"] for s in zero.ranked] == [0, 0]


def test_ties_broken_by_idle_then_name_regardless_of_input_order() -> None:
    no_idle_points = Weights(idle=0)
    pool = [
        cand("zeta", "s1", idle_seconds=300),
        cand("beta", "s2", idle_seconds=30),
        cand("alpha", "s3", idle_seconds=30),
    ]
    orders = set()
    for perm in itertools.permutations(pool):
        decision = decide(task(), perm, weights=no_idle_points)
        orders.add(tuple(s.candidate.session_name for s in decision.ranked))
    assert orders == {("zeta", "alpha", "beta")}
    decision = decide(task(), pool, weights=no_idle_points)
    assert "tie broken by idle time" in decision.summary
    by_name = decide(task(), pool[1:], weights=no_idle_points)
    assert by_name.winner is not None
    assert by_name.winner.candidate.session_name == "alpha"
    assert "tie broken by session name" in by_name.summary


def test_as_reason_is_json_and_explains() -> None:
    pool = [cand(f"w{i}", f"s{i}", system_info={"cpu_percent": i * 10}) for i in range(7)]
    pool.append(cand("x", "sx", repos={}))
    reason = json.loads(json.dumps(decide(task(), pool).as_reason(), allow_nan=False))

    assert reason["mode"] == "auto"
    assert reason["threshold"] == 30.0
    assert reason["winner"]["session_name"] == "w0"
    assert reason["winner"]["server_name"] == "s0"
    assert set(reason["winner"]["breakdown"]) == {"repo", "overlap", "agent", "capacity", "idle"}
    assert reason["winner"]["reasons"]
    assert [c["session_name"] for c in reason["candidates"]] == ["w0", "w1", "w2", "w3", "w4"]
    assert reason["rejected"] == [
        {
            "session_id": "id-x",
            "session_name": "x",
            "server_id": "id-sx",
            "server_name": "sx",
            "reason": "server lacks repo 'api'",
        }
    ]
    assert reason["summary"].startswith("picked w0 on s0 (score ")
    assert "lower load" in reason["summary"]


def test_single_candidate_summary() -> None:
    assert "only eligible candidate" in decide(task(), [cand("w", "s")]).summary


def test_weights_reject_negative_or_nan() -> None:
    with pytest.raises(ValueError, match="repo"):
        Weights(repo=-1)
    with pytest.raises(ValueError, match="idle"):
        Weights(idle=float("nan"))
