"""Frames of the per-session viewer channel ``/ws/sessions/{id}/view`` (see docs/protocol.md).

Control frames are JSON text. Output is a binary frame: 8-byte big-endian absolute offset of the
first byte, then the bytes, so the browser writes exactly what the session wrote, no base64.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, field_validator

from orchestratia.protocol.base import Frame
from orchestratia.protocol.numbers import ByteOffset, Int32, NonNegInt32
from orchestratia.protocol.rest import reject_nul
from orchestratia.protocol.sessions import MAX_COLS, MAX_ROWS

OFFSET_HEADER = struct.Struct(">Q")


def pack_output(offset: int, data: bytes | memoryview) -> bytes:
    return b"".join((OFFSET_HEADER.pack(offset), data))


def output_size(frame: bytes) -> int:
    """How many output bytes a packed frame carries."""
    return len(frame) - OFFSET_HEADER.size


def join_output(frames: Sequence[bytes]) -> bytes:
    """Packed frames of contiguous output (each starting where the one before ends) as one frame
    at the first one's offset; copies each frame's bytes once."""
    size = OFFSET_HEADER.size
    return b"".join([frames[0], *(memoryview(frame)[size:] for frame in frames[1:])])


def unpack_output(frame: bytes) -> tuple[int, bytes]:
    (offset,) = OFFSET_HEADER.unpack_from(frame)
    return offset, frame[OFFSET_HEADER.size :]


# --- browser -> hub ------------------------------------------------------------------------------


class JoinFrame(Frame):
    """First frame. ``resume_offset``: the viewer already holds every byte before it and wants
    the tail from there (no reset). Without it the viewer gets reset + snapshot + tail."""

    type: Literal["join"]
    resume_offset: ByteOffset | None = None


class InputFrame(Frame):
    """Keystrokes or paste; ``data`` is UTF-8 text exactly as xterm.js emits it."""

    type: Literal["input"]
    data: str = Field(min_length=1, max_length=1_000_000)
    # NUL is a real keystroke (Ctrl-@, Ctrl-Space) and input never reaches the database: only
    # ``type`` keeps the NUL check every frame inherits.
    _no_nul = field_validator("type")(reject_nul)


class ResizeFrame(Frame):
    type: Literal["resize"]
    cols: int = Field(ge=2, le=MAX_COLS)
    rows: int = Field(ge=2, le=MAX_ROWS)


class TakeControlFrame(Frame):
    type: Literal["take_control"]


class ReleaseControlFrame(Frame):
    type: Literal["release_control"]


ViewerClientFrame = Annotated[
    JoinFrame | InputFrame | ResizeFrame | TakeControlFrame | ReleaseControlFrame,
    Field(discriminator="type"),
]
viewer_client_adapter: TypeAdapter[ViewerClientFrame] = TypeAdapter(ViewerClientFrame)


# --- hub -> browser ------------------------------------------------------------------------------


class ResetFrame(Frame):
    """Clear the terminal: a snapshot follows."""

    type: Literal["reset"] = "reset"
    reason: str = "join"


class SnapshotFrame(Frame):
    """The screen as it was at ``offset``: write ``screen`` (escape sequences, base64), place the
    cursor, then apply binary output frames from ``offset`` on."""

    type: Literal["snapshot"] = "snapshot"
    offset: ByteOffset
    screen: str
    cursor_x: int = Field(ge=0, le=MAX_COLS)
    cursor_y: int = Field(ge=0, le=MAX_ROWS)
    cols: int = Field(ge=1, le=MAX_COLS)
    rows: int = Field(ge=1, le=MAX_ROWS)
    alternate_screen: bool = False
    cursor_visible: bool = True


class ControlFrame(Frame):
    """Who drives (holds input and resize). ``you`` tells this viewer whether it is the driver."""

    type: Literal["control"] = "control"
    driver: str | None
    you: bool
    viewer_id: str
    read_only: bool


class SessionStatusFrame(Frame):
    type: Literal["status"] = "status"
    status: str
    exit_code: Int32 | None = None
    cols: int = Field(ge=1, le=MAX_COLS)
    rows: int = Field(ge=1, le=MAX_ROWS)


class ViewersFrame(Frame):
    type: Literal["viewers"] = "viewers"
    count: NonNegInt32
