"""Binary output frames on the daemon channel (protocol 3, capability ``binary_output``).

A daemon that announced ``binary_output`` in ``auth`` and got ``auth_ok`` with ``protocol >= 3``
sends terminal output as WebSocket *binary* messages instead of base64 ``session_output`` JSON:

    offset 0  u8   kind        1 = session output
           1  u8   id_len      length of the session id, 1..64
           2  u16  meta_len    length of the JSON meta object, 0..4096 (0: none)
           4  u64  offset      absolute offset of the first data byte in the redacted stream
          12  id_len bytes     the session id (UTF-8)
              meta_len bytes   ``{"redactions": {"<kind>": n, ...}}`` when secrets were masked
              the rest         the output bytes, as they are

All integers are big-endian. Everything else (acks included) stays JSON text. Parsing never
copies the data: ``OutputFrame.data`` is a view into the received message.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestratia.protocol.numbers import OFFSET_MAX, NonNegInt32

BINARY_OUTPUT = "binary_output"  # the capability, in ``auth.capabilities``
BINARY_PROTOCOL = 3  # the protocol version from which a hub accepts binary output frames
KIND_OUTPUT = 1
HEADER = struct.Struct(">BBHQ")
MAX_SESSION_ID = 64
MAX_META = 4096


class OutputFrameError(ValueError):
    """A binary frame that is not a well-formed output frame; the message says what is wrong."""


class OutputMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    redactions: dict[str, NonNegInt32] | None = Field(default=None, max_length=64)


@dataclass(frozen=True, slots=True)
class OutputFrame:
    session_id: str
    offset: int
    data: memoryview
    redactions: Mapping[str, int] | None = None


def pack_session_output(
    session_id: str, offset: int, data: bytes, redactions: Mapping[str, int] | None = None
) -> bytes:
    """One binary output frame (one copy of ``data``); ``OutputFrameError`` for what
    ``unpack_session_output`` would refuse, in its words."""
    sid = session_id.encode()
    if not 0 < len(sid) <= MAX_SESSION_ID:
        raise OutputFrameError(f"session id length {len(sid)} not in 1..{MAX_SESSION_ID}")
    if not 0 <= offset <= OFFSET_MAX:
        raise OutputFrameError(f"offset {offset} not in 0..{OFFSET_MAX}")
    try:
        meta = (
            OutputMeta(redactions=dict(redactions)).model_dump_json().encode()
            if redactions
            else b""
        )
    except ValidationError as exc:
        raise OutputFrameError(f"bad meta: {_first_error(exc)}") from None
    if len(meta) > MAX_META:
        raise OutputFrameError(f"meta length {len(meta)} over {MAX_META}")
    return b"".join((HEADER.pack(KIND_OUTPUT, len(sid), len(meta), offset), sid, meta, data))


def unpack_session_output(message: bytes) -> OutputFrame:
    """Parse a binary output frame; ``OutputFrameError`` says precisely what is malformed."""
    if len(message) < HEADER.size:
        raise OutputFrameError(f"binary frame shorter than its {HEADER.size}-byte header")
    kind, id_len, meta_len, offset = HEADER.unpack_from(message)
    if kind != KIND_OUTPUT:
        raise OutputFrameError(f"unknown binary frame kind {kind}")
    if not 0 < id_len <= MAX_SESSION_ID:
        raise OutputFrameError(f"session id length {id_len} not in 1..{MAX_SESSION_ID}")
    if meta_len > MAX_META:
        raise OutputFrameError(f"meta length {meta_len} over {MAX_META}")
    if offset > OFFSET_MAX:
        raise OutputFrameError(f"offset {offset} over {OFFSET_MAX}")
    body = HEADER.size + id_len + meta_len
    if len(message) < body:
        raise OutputFrameError("binary frame shorter than its header says")
    view = memoryview(message)
    try:
        session_id = bytes(view[HEADER.size : HEADER.size + id_len]).decode()
    except UnicodeDecodeError:
        raise OutputFrameError("session id is not UTF-8") from None
    redactions = None
    if meta_len:
        try:
            meta = OutputMeta.model_validate_json(bytes(view[HEADER.size + id_len : body]))
        except ValidationError as exc:
            raise OutputFrameError(f"bad meta: {_first_error(exc)}") from None
        redactions = meta.redactions
    return OutputFrame(session_id, offset, view[body:], redactions)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else error["msg"]
