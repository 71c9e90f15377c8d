"""The one line the daemon types into a session for each delivery (SPEC §3 "Delivery to the agent").

The agent reads typed text like a user's prompt, so every line says what happened and what to
run next, in one line: a newline would submit half a message. Everything the hub supplies
(titles, notes, feedback, names, even ids) is text from users and other agents, so it goes
through ``clean`` first: control characters (C0 including ESC, DEL, C1), line and paragraph
separators, bidi overrides and lone surrogates become spaces, whitespace runs collapse to one
space, and each field is capped. What remains cannot move the cursor, press Enter or Ctrl-C,
start a bracketed paste or an escape sequence: it is printable text and nothing else.
"""

from __future__ import annotations

import re

from orchestratia.protocol.deliveries import (
    DeliveryMessage,
    InterventionResponseFrame,
    NoteForSessionFrame,
    PlanApprovedFrame,
    PlanRevisionFrame,
    TaskApprovedFrame,
    TaskAssignedFrame,
    TaskNoteFrame,
    TaskRejectedFrame,
    TaskStatusUpdateFrame,
    TaskUpdatedFrame,
)

PREFIX = "[orchestratia]"
MAX_LINE = 2000
TITLE_MAX = 200
NAME_MAX = 80
BODY_MAX = 1500  # notes, feedback, responses, reasons: the line stays under MAX_LINE
ID_CHARS = 8

# C0 (with ESC, CR, LF, TAB), DEL, C1, line/paragraph separators, bidi embeddings, overrides
# and isolates (they can make a line read differently from what it says), lone surrogates
# (which cannot even be encoded).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean(text: str, limit: int) -> str:
    """``text`` as one line of printable characters, at most ``limit`` long (ends in "…" if cut)."""
    flat = " ".join(_UNSAFE.sub(" ", text).split())
    if len(flat) <= limit:
        return flat
    return flat[: max(limit - 1, 0)].rstrip() + "…"


def short_id(value: str) -> str:
    """The id prefix shown to the agent (the CLI accepts unique prefixes)."""
    return clean(value, 64)[:ID_CHARS]


def render(frame: DeliveryMessage) -> str:
    """The line to type for ``frame``: one line, printable, at most ``MAX_LINE`` characters."""
    body = _body(frame)
    note = isinstance(frame, TaskNoteFrame | NoteForSessionFrame)  # says "URGENT note" itself
    urgent = "URGENT: " if frame.urgent and not note else ""
    return f"{PREFIX} {urgent}{body}"[:MAX_LINE]


def _quoted(title: str) -> str:
    text = clean(title, TITLE_MAX)
    return f' "{text}"' if text else ""


def _note(frame: TaskNoteFrame | NoteForSessionFrame) -> str:
    kind = "URGENT note" if frame.urgent else "Note"
    where = f" on task {short_id(frame.task_id)}" if isinstance(frame, TaskNoteFrame) else ""
    author = clean(frame.author, NAME_MAX)
    source = f" from {author}" if author else ""
    return f"{kind}{where}{source}: {clean(frame.content, BODY_MAX)}"


def _assigned(frame: TaskAssignedFrame) -> str:
    tid = short_id(frame.task_id)
    title = _quoted(frame.title)
    priority = clean(frame.priority, 20) or "normal"
    sender = clean(frame.from_session_name or "", NAME_MAX)
    by = f" by {sender}" if sender else ""
    if frame.reason == "unblocked":
        what = f"Task {tid}{title} is unblocked, its inputs are ready (priority {priority})."
    elif frame.reason == "approved":
        what = f"Task {tid}{title} was approved and is assigned to you (priority {priority})."
    else:
        what = f"Task {tid} assigned to you{by}:{title} (priority {priority})."
    if frame.pending_approval:
        return f"{what} It awaits approval: do not start it yet."
    if frame.require_plan:
        return (
            f"{what} Plan first: read it with orchestratia task view {tid}, then submit "
            f"orchestratia task plan {tid} --plan '...'"
        )
    return f"{what} Run: orchestratia task check"


def _body(frame: DeliveryMessage) -> str:
    if isinstance(frame, TaskAssignedFrame):
        return _assigned(frame)
    if isinstance(frame, TaskNoteFrame | NoteForSessionFrame):
        return _note(frame)
    if isinstance(frame, InterventionResponseFrame):
        on = f" on task {short_id(frame.task_id)}" if frame.task_id else ""
        return f"Response to your request{on}: {clean(frame.response, BODY_MAX)}"
    tid = short_id(frame.task_id)
    if isinstance(frame, TaskApprovedFrame):
        return f"Task {tid}{_quoted(frame.title)} was approved. Run: orchestratia task check"
    if isinstance(frame, TaskRejectedFrame):
        reason = clean(frame.reason, BODY_MAX)
        return f"Task {tid}{_quoted(frame.title)} was rejected" + (f": {reason}" if reason else ".")
    if isinstance(frame, TaskUpdatedFrame):
        changed = ", ".join(c for c in (clean(c, 40) for c in frame.changes[:10]) if c)
        what = f" ({changed})" if changed else ""
        return (
            f"Task {tid}{_quoted(frame.title)} was updated{what}. Run: orchestratia task view {tid}"
        )
    if isinstance(frame, TaskStatusUpdateFrame):
        status = clean(frame.status, 32)
        detail = clean(frame.detail, BODY_MAX)
        text = f"Task {tid} is now {status}" + (f": {detail}" if detail else ".")
        return text + (" Stop working on it." if status == "cancelled" else "")
    if isinstance(frame, PlanApprovedFrame):
        return (
            f"Plan approved for task {tid}: proceed with the work, then run "
            f"orchestratia task complete {tid} --result '...'"
        )
    if isinstance(frame, PlanRevisionFrame):
        return (
            f"Plan for task {tid} needs revision: {clean(frame.feedback, BODY_MAX)} "
            f"Revise it and resubmit: orchestratia task plan {tid} --plan '...'"
        )
    raise TypeError(f"no text for {type(frame).__name__}")  # pragma: no cover - exhaustive
