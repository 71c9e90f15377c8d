"""Auto-assignment scoring (SPEC §4): hard filters, then a 0-100 score per candidate session.

Pure, no I/O: the DB layer stores ``decide(...).as_reason()`` in ``Task.assignment_reason``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

# A server running this many tasks counts as fully loaded, whatever its CPU says: agents spend
# most of their time waiting on model APIs, so CPU alone under-reports how busy a server is.
TASKS_AT_FULL_LOAD = 4
# Used when the daemon reported nothing usable, so silent servers are neither favoured nor shunned.
UNKNOWN_SYSTEM_LOAD = 0.5
TOP_CANDIDATES = 5


@dataclass(frozen=True)
class TaskProfile:
    target_repo: str | None
    languages: tuple[str, ...]
    frameworks: tuple[str, ...]
    labels: tuple[str, ...]
    agent_type: str | None  # hard filter
    os: str | None  # hard filter, case-insensitive substring of the server's os string
    preferred_agent: str | None  # soft preference; None = no preference


@dataclass(frozen=True)
class Candidate:
    session_id: str
    session_name: str
    server_id: str
    server_name: str
    server_os: str
    agent_type: str | None
    repos: Mapping[str, str]
    labels: tuple[str, ...]
    capabilities: tuple[str, ...]
    system_info: Mapping[str, Any]
    running_tasks: int
    idle_seconds: float


@dataclass(frozen=True)
class Weights:
    repo: float = 40
    overlap: float = 20
    agent: float = 15
    capacity: float = 15
    idle: float = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"weight {f.name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    breakdown: dict[str, float]
    reasons: list[str]


@dataclass(frozen=True)
class Rejected:
    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class Decision:
    winner: Scored | None
    ranked: list[Scored]
    rejected: list[Rejected]
    threshold: float
    summary: str = ""

    def as_reason(self) -> dict[str, Any]:
        """A JSON-safe dict for ``Task.assignment_reason`` and the UI."""
        return {
            "mode": "auto",
            "winner": _scored_dict(self.winner) if self.winner else None,
            "candidates": [_scored_dict(s) for s in self.ranked[:TOP_CANDIDATES]],
            "rejected": [_who(r.candidate) | {"reason": r.reason} for r in self.rejected],
            "threshold": self.threshold,
            "summary": self.summary,
        }


def _who(c: Candidate) -> dict[str, Any]:
    return {
        "session_id": c.session_id,
        "session_name": c.session_name,
        "server_id": c.server_id,
        "server_name": c.server_name,
    }


def _scored_dict(s: Scored) -> dict[str, Any]:
    return _who(s.candidate) | {
        "score": s.score,
        "breakdown": dict(s.breakdown),
        "reasons": list(s.reasons),
    }


def _number(value: object) -> float | None:
    """A finite float from daemon-reported data, or None for anything unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _norm(value: str | None) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _has_repo(repos: Mapping[str, str], wanted: str) -> bool:
    """A repo matches by name key, or by its path's last component (``/srv/code/api/`` is api)."""
    if not isinstance(repos, Mapping):
        return False
    paths = [p.strip().rstrip("/\\") for p in repos.values() if isinstance(p, str)]
    basenames = {re.split(r"[/\\]", p)[-1].lower() for p in paths}
    return wanted in basenames or any(_norm(name) == wanted for name in repos)


def _rejection(task: TaskProfile, c: Candidate) -> str | None:
    problems: list[str] = []
    repo = _norm(task.target_repo)
    if repo and not _has_repo(c.repos, repo):
        problems.append(f"server lacks repo '{task.target_repo}'")
    agent = _norm(task.agent_type)
    if agent and _norm(c.agent_type) != agent:
        have = c.agent_type or "unknown"
        problems.append(f"session agent is {have}, task requires '{task.agent_type}'")
    os_name = _norm(task.os)
    if os_name and os_name not in _norm(c.server_os):
        problems.append(f"server OS '{c.server_os}' is not '{task.os}'")
    return "; ".join(problems) or None


def system_load(info: Mapping[str, Any]) -> tuple[float | None, str]:
    """The server's load in 0..1 and where it came from; None when nothing usable was reported.

    ``cpu_percent / 100`` is preferred because it is already normalised; otherwise
    ``load_avg[0] / cpu_count`` (the 1-minute load per core). Both are clamped to 0..1.
    """
    if not isinstance(info, Mapping):
        return None, "system load unknown"
    cpu = _number(info.get("cpu_percent"))
    if cpu is not None and cpu >= 0:
        return _clamp(cpu / 100), f"cpu {cpu:.0f}%"
    load_avg = info.get("load_avg")
    count = _number(info.get("cpu_count"))
    if isinstance(load_avg, list | tuple) and load_avg and count and count > 0:
        one_minute = _number(load_avg[0])
        if one_minute is not None and one_minute >= 0:
            return _clamp(one_minute / count), f"load avg {one_minute:g}/{count:g} cpus"
    return None, "system load unknown"


def combined_load(c: Candidate) -> tuple[float, str]:
    """Load in 0..1 from system load ``s`` and running tasks ``t = min(1, running / 4)``.

    ``load = 1 - (1 - s) * (1 - t)``: either a busy CPU or many running tasks alone can make a
    server full, and both together load it more than either. Unknown system load counts as 0.5.
    """
    system, source = system_load(c.system_info)
    if system is None:
        system, source = UNKNOWN_SYSTEM_LOAD, f"system load unknown, assumed {UNKNOWN_SYSTEM_LOAD}"
    running = c.running_tasks if isinstance(c.running_tasks, int) and c.running_tasks > 0 else 0
    tasks = min(1.0, running / TASKS_AT_FULL_LOAD)
    plural = "" if running == 1 else "s"
    return 1 - (1 - system) * (1 - tasks), f"{source}, {running} running task{plural}"


def _idle(c: Candidate) -> float:
    idle = _number(c.idle_seconds)
    return idle if idle is not None and idle > 0 else 0.0


def _shares(task: TaskProfile, c: Candidate, max_idle: float) -> dict[str, tuple[float, str]]:
    """Each criterion's share (0..1) of its weight, with the words that explain it."""
    shares: dict[str, tuple[float, str]] = {}
    # A task naming a repo only reaches scoring on servers that have it (hard filter).
    if _norm(task.target_repo):
        shares["repo"] = (1.0, f"repo '{task.target_repo}' on server")
    else:
        shares["repo"] = (0.5, "task names no repo: neutral")
    wanted = sorted({_norm(x) for x in (*task.languages, *task.frameworks, *task.labels)} - {""})
    have = {_norm(x) for x in (*c.labels, *c.capabilities)}
    found = [x for x in wanted if x in have]
    if wanted:
        words = f"matches {', '.join(found) or 'none'} ({len(found)}/{len(wanted)} wanted)"
        shares["overlap"] = (len(found) / len(wanted), words)
    else:
        shares["overlap"] = (0.5, "task wants no languages/frameworks/labels: neutral")
    preferred = _norm(task.preferred_agent)
    if not preferred:
        shares["agent"] = (0.5, "no agent preference: neutral")
    elif _norm(c.agent_type) == preferred:
        shares["agent"] = (1.0, f"preferred agent {c.agent_type}")
    else:
        shares["agent"] = (0.0, f"agent {c.agent_type or 'unknown'}, {preferred} preferred")
    load, detail = combined_load(c)
    shares["capacity"] = (1 - load, f"load {load:.2f} ({detail})")
    idle = _idle(c)
    # Relative to the most idle session; when nobody has idled, idle time decides nothing.
    share = idle / max_idle if max_idle > 0 else 0.0
    shares["idle"] = (share, f"idle {idle:.0f}s of {max_idle:.0f}s")
    return shares


def _score(task: TaskProfile, c: Candidate, w: Weights, max_idle: float) -> Scored:
    points: dict[str, float] = {}
    reasons: list[str] = []
    for key, (share, words) in _shares(task, c, max_idle).items():
        weight = float(getattr(w, key))
        points[key] = weight * share
        reasons.append(f"{words} → {key} {points[key]:.1f}/{weight:g}")
    breakdown = {k: round(v, 1) for k, v in points.items()}
    return Scored(c, round(sum(points.values()), 1), breakdown, reasons)


# Criteria that can differ between eligible candidates, with how a human would say "won on it".
_ADVANTAGES = (
    ("capacity", "lower load"),
    ("idle", "idle longer"),
    ("overlap", "better language/label match"),
    ("agent", "preferred agent"),
)


def _summary(task: TaskProfile, ranked: list[Scored], rejected: int, threshold: float) -> str:
    if not ranked:
        if not rejected:
            return "no candidate sessions available"
        return f"no eligible candidate: {rejected} rejected by hard filters"
    best = ranked[0]
    if best.score < threshold:
        best_at = f"{best.candidate.session_name} at {best.score:.1f}"
        return f"no candidate above threshold {threshold:g} (best: {best_at})"
    c = best.candidate
    parts = [f"has repo {task.target_repo}"] if _norm(task.target_repo) else []
    head = f"picked {c.session_name} on {c.server_name} (score {best.score:.1f}"
    if len(ranked) == 1:
        parts.append("only eligible candidate")
    else:
        other = ranked[1]
        head += f" vs {other.score:.1f} for {other.candidate.session_name}"
        if best.score == other.score:
            broken = "idle time" if _idle(c) != _idle(other.candidate) else "session name"
            parts.append(f"tie broken by {broken}")
        else:
            wins = [say for key, say in _ADVANTAGES if best.breakdown[key] > other.breakdown[key]]
            parts.extend(wins or ["higher total"])
    return f"{head}): {', '.join(parts)}"


def _rank_key(s: Scored) -> tuple[float, float, str, str]:
    return (-s.score, -_idle(s.candidate), s.candidate.session_name, s.candidate.session_id)


def decide(
    task: TaskProfile,
    candidates: Sequence[Candidate],
    weights: Weights = Weights(),
    threshold: float = 30.0,
) -> Decision:
    """Filter, score and rank ``candidates``; the best one scoring ``>= threshold`` wins.

    Ranking is deterministic: score, then longer idle, then session name, then session id.
    """
    verdicts = [(c, _rejection(task, c)) for c in candidates]
    eligible = [c for c, why in verdicts if not why]
    rejected = [Rejected(c, why) for c, why in verdicts if why]
    # Idle is relative to the most idle eligible session, so a rejected one cannot skew it.
    max_idle = max((_idle(c) for c in eligible), default=0.0)
    scored = [_score(task, c, weights, max_idle) for c in eligible]
    scored.sort(key=_rank_key)
    rejected.sort(key=lambda r: (r.candidate.session_name, r.candidate.session_id))
    winner = scored[0] if scored and scored[0].score >= threshold else None
    summary = _summary(task, scored, len(rejected), threshold)
    return Decision(winner, scored, rejected, threshold, summary)
