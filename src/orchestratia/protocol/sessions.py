"""Terminal-session frames on the daemon channel (``/ws/server``), SPEC §5 plus our extensions.

Output bytes travel base64-encoded in ``data``. ``offset`` (protocol 2) is the absolute byte
offset of ``data`` in the session's output stream *after* secret redaction; the hub acknowledges
the highest contiguous offset it has stored and the daemon resends from there after a reconnect.
Legacy (public agent) frames carry no offset and are appended in arrival order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from orchestratia.protocol.base import Frame, b64decode
from orchestratia.protocol.numbers import ByteOffset, Int32, NonNegInt32

SessionId = Field(min_length=1, max_length=64)
MAX_COLS = 1000
MAX_ROWS = 500
MAX_SCROLLBACK_CHARS = 16_000_000


def _valid_b64(value: str) -> str:
    b64decode(value)
    return value


# --- hub -> daemon -------------------------------------------------------------------------------


class SessionStartFrame(Frame):
    type: Literal["session_start"] = "session_start"
    session_id: str = SessionId
    working_directory: str = Field(max_length=4096)
    cols: int = Field(default=120, ge=2, le=MAX_COLS)
    rows: int = Field(default=40, ge=2, le=MAX_ROWS)
    project_id: str = Field(max_length=64)
    agent_type: str | None = Field(default=None, max_length=64)
    role: Literal["worker", "orchestrator"] = "worker"
    # Extensions: the program to run (None: the user's login shell) and the per-session token
    # that becomes ORCHESTRATIA_API_KEY inside the session.
    command: str | None = Field(default=None, max_length=8192)
    session_token: str | None = Field(default=None, max_length=256)
    name: str | None = Field(default=None, max_length=120)


class SessionInputFrame(Frame):
    type: Literal["session_input"] = "session_input"
    session_id: str = SessionId
    data: str = Field(max_length=1_400_000)
    _b64 = field_validator("data")(_valid_b64)


class SessionResizeFrame(Frame):
    type: Literal["session_resize"] = "session_resize"
    session_id: str = SessionId
    cols: int = Field(ge=2, le=MAX_COLS)
    rows: int = Field(ge=2, le=MAX_ROWS)


class SessionCloseFrame(Frame):
    type: Literal["session_close"] = "session_close"
    session_id: str = SessionId


class SessionKillFrame(Frame):
    type: Literal["session_kill"] = "session_kill"
    session_id: str = SessionId


class SessionOutputAckFrame(Frame):
    type: Literal["session_output_ack"] = "session_output_ack"
    session_id: str = SessionId
    offset: ByteOffset


class SnapshotRequestFrame(Frame):
    """Ask for the current screen (capture-pane with escapes) and the output offset it matches."""

    type: Literal["snapshot_request"] = "snapshot_request"
    session_id: str = SessionId
    request_id: str = Field(min_length=1, max_length=64)


class CaptureScrollbackFrame(Frame):
    type: Literal["capture_scrollback"] = "capture_scrollback"
    session_id: str = SessionId
    request_id: str = Field(min_length=1, max_length=64)


class SessionRecoveredAckFrame(Frame):
    """Legacy: maps a public agent's orphaned tmux session back to its session id."""

    type: Literal["session_recovered_ack"] = "session_recovered_ack"
    tmux_name: str = Field(max_length=200)
    session_id: str = SessionId


# --- daemon -> hub -------------------------------------------------------------------------------


class SessionStartedFrame(Frame):
    type: Literal["session_started"]
    session_id: str = SessionId
    pid: NonNegInt32 | None = None
    tmux_name: str | None = Field(default=None, max_length=200)
    working_dir: str | None = Field(default=None, max_length=4096)
    recovered: bool = False


class SessionErrorFrame(Frame):
    type: Literal["session_error"]
    session_id: str = SessionId
    error: str = Field(max_length=4000)


class SessionOutputFrame(Frame):
    type: Literal["session_output"]
    session_id: str = SessionId
    data: str = Field(max_length=4_000_000)
    offset: ByteOffset | None = None
    # Extension: secrets masked in this chunk, by kind, for the audit log.
    redactions: dict[str, NonNegInt32] | None = Field(default=None, max_length=64)
    _b64 = field_validator("data")(_valid_b64)


class SessionClosedFrame(Frame):
    type: Literal["session_closed"]
    session_id: str = SessionId
    exit_code: Int32 | None = None
    # Extension: total bytes the session wrote, so the hub knows when the recording is complete.
    final_offset: ByteOffset | None = None


class SessionRecoveredFrame(Frame):
    """Legacy public agent: an orphaned tmux session found after a daemon restart."""

    type: Literal["session_recovered"]
    tmux_name: str = Field(max_length=200)
    pid: NonNegInt32 | None = None
    working_dir: str | None = Field(default=None, max_length=4096)


class SessionScreenFrame(Frame):
    """Legacy public agent: periodic plain-text screen lines (we snapshot on demand instead)."""

    type: Literal["session_screen"]
    session_id: str = SessionId
    lines: list[str] = Field(default_factory=list, max_length=1000)


class SessionModeFrame(Frame):
    type: Literal["session_mode"]
    session_id: str = SessionId
    alt_screen: bool = False


class SessionSnapshotFrame(Frame):
    type: Literal["session_snapshot"]
    session_id: str = SessionId
    request_id: str = Field(max_length=64)
    offset: ByteOffset
    screen: str = Field(max_length=4_000_000)  # base64 of capture-pane -e output
    cursor_x: int = Field(ge=0, le=MAX_COLS)
    cursor_y: int = Field(ge=0, le=MAX_ROWS)
    cols: int = Field(ge=1, le=MAX_COLS)
    rows: int = Field(ge=1, le=MAX_ROWS)
    alternate_screen: bool = False
    cursor_visible: bool = True
    _b64 = field_validator("screen")(_valid_b64)


class ScrollbackCapturedFrame(Frame):
    """The text view. Ours carries ``text`` and echoes ``request_id``; the public agent sends
    ``lines`` (and ``error`` when tmux failed) and no request id."""

    type: Literal["scrollback_captured"]
    session_id: str = SessionId
    request_id: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, max_length=MAX_SCROLLBACK_CHARS)
    lines: list[str] | None = Field(default=None, max_length=1_000_000)
    error: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _one_shape(self) -> ScrollbackCapturedFrame:
        if (self.text is None) == (self.lines is None):
            raise ValueError("exactly one of text and lines is required")
        return self

    @property
    def content(self) -> str:
        """The captured text, whichever shape carried it."""
        return self.text if self.text is not None else "\n".join(self.lines or ())


class SessionGapFrame(Frame):
    """Output capture failed for a while and was repaired; bytes in the gap were never seen."""

    type: Literal["session_gap"]
    session_id: str = SessionId
    offset: ByteOffset
    reason: str = Field(max_length=1000)


class LiveSession(Frame):
    """A session the daemon is running, as announced in ``hello`` after (re)connecting."""

    session_id: str = SessionId
    offset: ByteOffset
    pid: NonNegInt32 | None = None
    tmux_name: str | None = Field(default=None, max_length=200)
    alive: bool = True
    exit_code: Int32 | None = None
