"""What hub replicas tell one another over the cross-replica bus (``hub.bus``).

A daemon keeps one socket to one replica; everything another replica wants of it (a keystroke
from a browser there, a delivery of a task assigned there, a snapshot for a viewer there) travels
to the replica holding that socket as one of these messages, and the daemon's answers travel back
the same way. Terminal output does not: it goes as binary frames (``OutputMessage``), framed
once, so a replica following a session pays no JSON for its bytes.

Every message names the replica that sent it (``origin``), so a replica can tell its own
broadcasts from the others' where it matters (meter figures, a daemon it claimed itself). On
Redis each message is sealed as well (``hub.bus_envelope``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from orchestratia.protocol.base import Frame
from orchestratia.protocol.revocations import Revocation

Id = Annotated[str, Field(min_length=1, max_length=128)]


class _Message(Frame):
    origin: Id


class DaemonText(_Message):
    """Send ``text`` (one daemon frame, already serialized) to ``server_id``'s daemon."""

    type: Literal["daemon_text"] = "daemon_text"
    server_id: Id
    text: str


class DeliverPending(_Message):
    """Send these deliveries (rows already committed) to ``server_id``'s daemon."""

    type: Literal["deliver"] = "deliver"
    server_id: Id
    delivery_ids: list[Id] = Field(min_length=1)


class DaemonReply(_Message):
    """A daemon's answer to a request another replica may have made: a snapshot or a scrollback
    capture, as the daemon sent it (``frame``, validated again where it is used)."""

    type: Literal["daemon_reply"] = "daemon_reply"
    server_id: Id
    frame: str


class DaemonClaimed(_Message):
    """``origin`` now holds ``server_id``'s socket: any other replica still holding an older one
    retires it (without calling the server disconnected)."""

    type: Literal["daemon_claimed"] = "daemon_claimed"
    server_id: Id


class DisconnectDaemon(_Message):
    """Close ``server_id``'s socket wherever it is held (its key was revoked)."""

    type: Literal["disconnect_daemon"] = "disconnect_daemon"
    server_id: Id
    reason: str = Field(max_length=200)


class RulesChanged(_Message):
    """A tenant's approval rules changed (``tenant_id`` and its new version), or every tenant's
    (``tenant_id`` None): each replica pushes them to the daemons it holds."""

    type: Literal["rules_changed"] = "rules_changed"
    tenant_id: Id | None = None
    version: int | None = None


class ApprovalDecided(_Message):
    """A tool approval was decided: wake the long polls waiting on it."""

    type: Literal["approval_decided"] = "approval_decided"
    approval_id: Id


class SessionViewChanged(_Message):
    """A session's status or size changed: viewers on every replica hear of it."""

    type: Literal["session_view"] = "session_view"
    session_id: Id
    status: str = Field(max_length=32)
    exit_code: int | None = None
    cols: int = Field(ge=1, le=10_000)
    rows: int = Field(ge=1, le=10_000)


class DriverChanged(_Message):
    """Who drives a session's terminal now (a viewer id, or nobody)."""

    type: Literal["driver_changed"] = "driver_changed"
    session_id: Id
    driver: Id | None


class OutputCounted(_Message):
    """Bytes of output each project's sessions printed on ``origin`` lately (the overview's
    sparkline counts every replica's)."""

    type: Literal["output_counted"] = "output_counted"
    bytes_by_project: dict[Id, Annotated[int, Field(ge=0)]]


class RevocationMessage(_Message):
    type: Literal["revocation"] = "revocation"
    revocation: Revocation


ClusterMessage = Annotated[
    DaemonText
    | DeliverPending
    | DaemonReply
    | DaemonClaimed
    | DisconnectDaemon
    | RulesChanged
    | ApprovalDecided
    | SessionViewChanged
    | DriverChanged
    | OutputCounted
    | RevocationMessage,
    Field(discriminator="type"),
]
cluster_message_adapter: TypeAdapter[ClusterMessage] = TypeAdapter(ClusterMessage)

# --- terminal output between replicas ----------------------------------------------------------

_OUTPUT_HEADER = struct.Struct(">Q")  # absolute offset of the first byte


class OutputMessageError(ValueError):
    pass


@dataclass(frozen=True)
class OutputMessage:
    """Output of one session at ``offset``."""

    offset: int
    data: bytes | memoryview


def pack_output_message(offset: int, data: bytes | memoryview) -> bytes:
    return _OUTPUT_HEADER.pack(offset) + data


def unpack_output_message(raw: bytes) -> OutputMessage:
    if len(raw) < _OUTPUT_HEADER.size:
        raise OutputMessageError(f"output message of {len(raw)} bytes has no header")
    (offset,) = _OUTPUT_HEADER.unpack_from(raw)
    return OutputMessage(offset, memoryview(raw)[_OUTPUT_HEADER.size :])
