"""The task state machine of SPEC §3: which transitions exist and who may trigger each.

Pure: no I/O. ``check`` raises ``IllegalTransition`` (a 409 naming the current state) for a move
the table does not allow, and ``Forbidden`` when the caller's kind may not trigger it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestratia.hub.errors import Conflict, Forbidden
from orchestratia.protocol.tasks import TERMINAL_STATUSES

Trigger = Literal["user", "agent", "orchestrator", "system"]
Action = Literal[
    "assign",
    "request_plan",
    "submit_plan",
    "approve_plan",
    "revise_plan",
    "start",
    "ask_help",
    "respond",
    "complete",
    "fail",
    "cancel",
    "requeue",
]


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    triggers: frozenset[Trigger]


def _move(sources: set[str], target: str, *triggers: Trigger) -> Move:
    return Move(frozenset(sources), target, frozenset(triggers))


NON_TERMINAL = frozenset(
    {"pending", "assigned", "planning", "plan_review", "running", "needs_human"}
)

# Reassignment of work already handed out is how a human recovers a task whose session died or
# was partitioned; the new assignment's higher epoch makes the old holder's writes stale.
MOVES: dict[Action, Move] = {
    "assign": _move(
        {"pending", "assigned", "planning", "plan_review", "running", "needs_human"},
        "assigned",
        "user",
        "orchestrator",
        "agent",
        "system",
    ),
    "request_plan": _move({"assigned"}, "planning", "system"),
    "submit_plan": _move({"planning"}, "plan_review", "agent"),
    "approve_plan": _move({"plan_review"}, "running", "user", "orchestrator"),
    "revise_plan": _move({"plan_review"}, "planning", "user", "orchestrator"),
    "start": _move({"assigned"}, "running", "agent"),
    "ask_help": _move({"running"}, "needs_human", "agent"),
    "respond": _move({"needs_human"}, "running", "user", "orchestrator"),
    "complete": _move({"running"}, "done", "agent"),
    "fail": _move({"running", "needs_human", "planning", "plan_review"}, "failed", "agent"),
    "cancel": _move(set(NON_TERMINAL), "cancelled", "user", "orchestrator", "agent"),
    # The holding session exited or was lost (services/lost_sessions.py): back to the queue.
    "requeue": _move(set(NON_TERMINAL - {"pending"}), "pending", "system"),
}


class IllegalTransition(Conflict):
    def __init__(self, action: Action, current: str) -> None:
        move = MOVES[action]
        allowed = ", ".join(sorted(move.sources))
        if current in TERMINAL_STATUSES:
            detail = f"task is {current} (a final state); cannot {action.replace('_', ' ')}"
        else:
            detail = (
                f"task is {current}; cannot {action.replace('_', ' ')} (allowed from: {allowed})"
            )
        super().__init__(detail)
        self.current = current


def check(action: Action, current: str, trigger: Trigger) -> str:
    """The state ``action`` leads to from ``current``, if ``trigger`` may take it."""
    move = MOVES[action]
    if current not in move.sources:
        raise IllegalTransition(action, current)
    if trigger not in move.triggers:
        raise Forbidden(f"{action.replace('_', ' ')} cannot be done by a {trigger}")
    return move.target
