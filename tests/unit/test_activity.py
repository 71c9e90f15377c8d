"""The activity rule the grid and the overview share: ended beats waiting beats working."""

from __future__ import annotations

import pytest

from orchestratia.hub.services.fleet.activity import OutputClock, state_of, states

IDLE_AFTER = 5.0


@pytest.mark.parametrize(
    ("status", "last_output", "waiting", "expected"),
    [
        ("running", 99.0, False, "working"),  # printed a second ago
        ("running", 95.0, False, "idle"),  # quiet for exactly the idle time
        ("running", None, False, "idle"),  # nothing since the hub started
        ("starting", None, False, "idle"),
        ("running", 99.0, True, "waiting"),  # output does not hide that a person is needed
        ("running", None, True, "waiting"),
        ("exited", 99.0, True, "exited"),  # an ended session waits for nobody
        ("lost", 99.0, True, "lost"),
    ],
)
def test_state_of(status: str, last_output: float | None, waiting: bool, expected: str) -> None:
    assert state_of(status, last_output, 100.0, IDLE_AFTER, waiting) == expected


def test_states_reads_the_clock_per_session() -> None:
    clock = OutputClock()
    clock.printed("busy", at=99.0)
    clock.printed("gone", at=99.0)
    clock.forget("gone")
    statuses = {"busy": "running", "gone": "running", "asks": "running"}
    assert states(statuses, {"asks"}, clock, IDLE_AFTER, now=100.0) == {
        "busy": "working",
        "gone": "idle",
        "asks": "waiting",
    }
