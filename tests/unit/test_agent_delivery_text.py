"""The line typed for each delivery: what it says, and that hub text cannot smuggle in keys."""

from __future__ import annotations

from typing import Any

import pytest

from orchestratia.agent.delivery.text import BODY_MAX, MAX_LINE, TITLE_MAX, clean, render
from orchestratia.protocol.deliveries import DeliveryMessage, delivery_adapter

TASK = "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"


def frame(kind: str, **fields: Any) -> DeliveryMessage:
    return delivery_adapter.validate_python(
        {"type": kind, "session_id": "s1", "delivery_id": "d1", **fields}
    )


def assert_one_safe_line(text: str) -> None:
    assert text.startswith("[orchestratia] ")
    assert len(text) <= MAX_LINE
    assert all(ch.isprintable() for ch in text), repr(text)
    text.encode("utf-8")  # no lone surrogates


def test_task_assigned() -> None:
    text = render(frame("task_assigned", task_id=TASK, title="Fix login", priority="high"))
    assert text == (
        '[orchestratia] Task 1a2b3c4d assigned to you: "Fix login" (priority high).'
        " Run: orchestratia task check"
    )


def test_task_assigned_by_another_session() -> None:
    text = render(frame("task_assigned", task_id=TASK, title="T", from_session_name="planner"))
    assert 'assigned to you by planner: "T" (priority normal)' in text


def test_task_assigned_with_a_plan_first() -> None:
    text = render(frame("task_assigned", task_id=TASK, title="Fix", require_plan=True))
    assert "Plan first" in text
    assert "orchestratia task view 1a2b3c4d" in text
    assert "orchestratia task plan 1a2b3c4d --plan '...'" in text
    assert "task check" not in text


def test_task_unblocked_and_approved() -> None:
    unblocked = render(frame("task_assigned", task_id=TASK, title="Fix", reason="unblocked"))
    assert "its inputs are ready" in unblocked and unblocked.endswith("orchestratia task check")
    approved = render(frame("task_assigned", task_id=TASK, title="Fix", reason="approved"))
    assert "was approved" in approved and approved.endswith("orchestratia task check")


def test_task_pending_approval_says_wait() -> None:
    text = render(frame("task_assigned", task_id=TASK, title="Fix", pending_approval=True))
    assert "do not start it yet" in text and "task check" not in text


def test_task_approved_and_rejected() -> None:
    approved = render(frame("task_approved", task_id=TASK, title="Fix"))
    assert approved == (
        '[orchestratia] Task 1a2b3c4d "Fix" was approved. Run: orchestratia task check'
    )
    rejected = render(frame("task_rejected", task_id=TASK, title="Fix", reason="duplicate"))
    assert rejected == '[orchestratia] Task 1a2b3c4d "Fix" was rejected: duplicate'
    assert render(frame("task_rejected", task_id=TASK)).endswith("Task 1a2b3c4d was rejected.")


def test_task_updated() -> None:
    text = render(frame("task_updated", task_id=TASK, title="Fix", changes=["spec", "priority"]))
    assert text == (
        '[orchestratia] Task 1a2b3c4d "Fix" was updated (spec, priority).'
        " Run: orchestratia task view 1a2b3c4d"
    )


def test_task_status_update() -> None:
    text = render(frame("task_status_update", task_id=TASK, status="cancelled", detail="moot"))
    assert text == "[orchestratia] Task 1a2b3c4d is now cancelled: moot Stop working on it."


def test_notes() -> None:
    note = render(frame("task_note", task_id=TASK, content="use v2", author="ana@x.io"))
    assert note == "[orchestratia] Note on task 1a2b3c4d from ana@x.io: use v2"
    urgent = render(frame("task_note", task_id=TASK, content="stop", urgent=True))
    assert urgent == "[orchestratia] URGENT note on task 1a2b3c4d: stop"
    session = render(frame("note_for_session", content="hello", author="bob"))
    assert session == "[orchestratia] Note from bob: hello"


def test_intervention_response() -> None:
    text = render(frame("intervention_response", task_id=TASK, response="yes, go ahead"))
    assert text == "[orchestratia] Response to your request on task 1a2b3c4d: yes, go ahead"
    assert render(frame("intervention_response", response="ok")).endswith("request: ok")


def test_plan_decisions() -> None:
    approved = render(frame("plan_approved", task_id=TASK))
    assert approved == (
        "[orchestratia] Plan approved for task 1a2b3c4d: proceed with the work, then run"
        " orchestratia task complete 1a2b3c4d --result '...'"
    )
    revision = render(frame("plan_revision", task_id=TASK, feedback="add tests."))
    assert "needs revision: add tests." in revision
    assert revision.endswith("orchestratia task plan 1a2b3c4d --plan '...'")


def test_urgent_marks_other_messages() -> None:
    assert render(frame("plan_approved", task_id=TASK, urgent=True)).startswith(
        "[orchestratia] URGENT: Plan approved"
    )


HOSTILE = [
    "\x1b[2J\x1b[Hwiped",  # ESC sequences
    "line one\r\nline two\rthree\n",  # Enter in any spelling
    "stop\x03\x04\x15\x17\x1a",  # Ctrl-C, Ctrl-D, Ctrl-U, Ctrl-W, Ctrl-Z
    "\x1b[200~pasted\x1b[201~",  # bracketed-paste markers
    "\x9b31m C1 CSI \x9d OSC \x85 NEL \x7f DEL",
    "tab\there\x0bvt\x0cff",
    "\u2028sep\u2029para \u202eevil\u202c \u2066iso\u2069",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_becomes_plain_printable_text(text: str) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("task_note", {"task_id": TASK, "content": text, "author": text}),
        ("task_assigned", {"task_id": TASK, "title": text, "from_session_name": text}),
        ("plan_revision", {"task_id": text, "feedback": text}),
        ("intervention_response", {"response": text}),
        ("task_updated", {"task_id": TASK, "title": text, "changes": [text, text]}),
        ("task_status_update", {"task_id": TASK, "status": text[:32], "detail": text}),
    ]
    for kind, fields in cases:
        line = render(frame(kind, **fields))
        assert_one_safe_line(line)
        assert "\x1b" not in line and "\r" not in line and "\n" not in line


def test_clean_collapses_and_keeps_words() -> None:
    assert clean("a\r\n\tb \x1b[31mc\x00d", 100) == "a b [31mc d"
    assert clean("  spaced   out  ", 100) == "spaced out"
    assert clean("héllo wörld ✓", 100) == "héllo wörld ✓"
    # pydantic refuses these in frames already; clean() must not pass them on either
    assert clean("lone \ud800 surrogate\x00", 100) == "lone surrogate"


def test_long_text_is_capped() -> None:
    huge = "x" * 20_000
    note = render(frame("task_note", task_id=TASK, content=huge, author="a" * 320))
    assert_one_safe_line(note)
    assert note.endswith("…") and note.count("x") == BODY_MAX - 1
    title = render(frame("task_assigned", task_id=TASK, title="t" * 300))
    assert f'"{"t" * (TITLE_MAX - 1)}…"' in title
    assert clean("abcdef", 4) == "abc…"
