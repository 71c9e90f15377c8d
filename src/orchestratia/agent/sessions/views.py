"""What a session looks like right now: the screen snapshot and the scrollback text view.

Both are redacted like the stream, on logical lines: the text view comes with wrapped rows
joined; a snapshot's rows are joined where they wrap (and to the rows of history above them),
masked in place so every row keeps its cells, and cut back into rows.

A snapshot carries the stream offset it matches, so a viewer can draw it and continue with the
output from that offset. tmux cannot say which byte of the log its screen reflects, so the
offset is best effort: the log is left to settle first, and output still in flight between the
PTY and the log can make the offset a few bytes early (the viewer redraws bytes the screen
already shows), never late (which would lose them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel

from orchestratia.agent.redaction import Redactor
from orchestratia.agent.sessions.output_log import wait_settled
from orchestratia.agent.terminal.snapshot import Snapshot
from orchestratia.agent.terminal.tmux import TmuxServer
from orchestratia.protocol.base import b64encode
from orchestratia.protocol.sessions import (
    MAX_SCROLLBACK_CHARS,
    ScrollbackCapturedFrame,
    SessionSnapshotFrame,
)

if TYPE_CHECKING:
    from orchestratia.agent.sessions.supervisor import RunningSession

ViewMaker = Callable[[TmuxServer, "RunningSession", str, Sequence[str]], Awaitable[BaseModel]]


def redact_rows(rows: Sequence[str], wrapped: Sequence[bool], patterns: Sequence[str]) -> list[str]:
    """Screen rows with secrets masked across the rows they wrap over, cell for cell."""
    encoded = [row.encode("utf-8") for row in rows]
    ends = [b"" if wraps else b"\n" for wraps in wrapped]
    text = b"".join(row + end for row, end in zip(encoded, ends, strict=True))
    masked = Redactor(patterns, in_place=True).redact(text)  # as long as text: cut it the same
    out: list[str] = []
    start = 0
    for row, end in zip(encoded, ends, strict=True):
        out.append(masked[start : start + len(row)].decode("utf-8", "replace"))
        start += len(row) + len(end)
    return out


def redact_snapshot(snap: Snapshot, patterns: Sequence[str]) -> Snapshot:
    """The snapshot with secrets masked on logical lines; the history above is dropped."""
    rows = [*snap.above, *snap.normal_text.split("\n")]
    normal = "\n".join(redact_rows(rows, snap.wrapped, patterns)[len(snap.above) :])
    wrapped = snap.wrapped[len(snap.above) :]
    if not snap.alternate_on:
        return replace(snap, text=normal, above=(), wrapped=wrapped)
    alternate = "\n".join(redact_rows(snap.lines, snap.alternate_wrapped, patterns))
    return replace(snap, text=alternate, saved_text=normal, above=(), wrapped=wrapped)


async def snapshot_frame(
    tmux: TmuxServer, session: RunningSession, request_id: str, patterns: Sequence[str]
) -> SessionSnapshotFrame:
    """The screen with colours, cursor and modes; raises ``TmuxError`` if it is gone."""
    output = session.stream.log
    await wait_settled(output, stable=0.02, limit=0.15)
    raw = output.size()
    snap = await tmux.capture_snapshot(session.meta.tmux_name)
    return SessionSnapshotFrame(
        type="session_snapshot",
        session_id=session.id,
        request_id=request_id,
        offset=await session.stream.stream_offset_at(raw),
        screen=b64encode(redact_snapshot(snap, patterns).render()),
        cursor_x=snap.cursor_x,
        cursor_y=snap.cursor_y,
        cols=snap.cols,
        rows=snap.rows,
        alternate_screen=snap.alternate_on,
        cursor_visible=snap.cursor_visible,
    )


async def scrollback_frame(
    tmux: TmuxServer, session: RunningSession, request_id: str, patterns: Sequence[str]
) -> ScrollbackCapturedFrame:
    """The whole history as plain text (the newest part if huge); ``TmuxError`` if gone."""
    text = await tmux.capture_text(session.meta.tmux_name, history=True)
    clean = Redactor(patterns).redact(text.encode("utf-8")).decode("utf-8", "replace")
    return ScrollbackCapturedFrame(
        type="scrollback_captured",
        session_id=session.id,
        request_id=request_id,
        text=clean[-MAX_SCROLLBACK_CHARS:],
    )
