"""WebSocket frames, discriminated on ``type``.

Daemon channel (``/ws/server``): the first frame must be ``auth``. Frames we author forbid unknown
fields so that a confused peer gets a precise ``error`` frame instead of silent misbehaviour.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from orchestratia.protocol.approvals import ApprovalRulesUpdatedFrame
from orchestratia.protocol.base import Frame, as_dict, dump
from orchestratia.protocol.deliveries import (
    DeliveryAckFrame,
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
from orchestratia.protocol.rest import JsonObject
from orchestratia.protocol.sessions import (
    CaptureScrollbackFrame,
    LiveSession,
    ScrollbackCapturedFrame,
    SessionClosedFrame,
    SessionCloseFrame,
    SessionErrorFrame,
    SessionGapFrame,
    SessionInputFrame,
    SessionKillFrame,
    SessionModeFrame,
    SessionOutputAckFrame,
    SessionOutputFrame,
    SessionRecoveredAckFrame,
    SessionRecoveredFrame,
    SessionResizeFrame,
    SessionScreenFrame,
    SessionSnapshotFrame,
    SessionStartedFrame,
    SessionStartFrame,
    SnapshotRequestFrame,
)

__all__ = ["Frame", "as_dict", "dump"]


# --- daemon -> hub -------------------------------------------------------------------------------


class AuthFrame(Frame):
    type: Literal["auth"]
    api_key: str = Field(min_length=1, max_length=512)
    protocol: int | None = Field(default=None, ge=1, le=100)
    capabilities: list[str] = Field(default_factory=list, max_length=64)


class HelloFrame(Frame):
    type: Literal["hello"]
    version: str = Field(max_length=64)
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    system_info: JsonObject = Field(default_factory=dict)
    repos: dict[str, str] = Field(default_factory=dict)
    sessions: list[LiveSession] = Field(default_factory=list, max_length=10_000)


class HeartbeatFrame(Frame):
    type: Literal["heartbeat"]
    system_info: JsonObject = Field(default_factory=dict)


class PingFrame(Frame):
    type: Literal["ping"]


DaemonFrame = Annotated[
    HelloFrame
    | HeartbeatFrame
    | PingFrame
    | SessionStartedFrame
    | SessionErrorFrame
    | SessionOutputFrame
    | SessionClosedFrame
    | SessionRecoveredFrame
    | SessionScreenFrame
    | SessionModeFrame
    | SessionSnapshotFrame
    | ScrollbackCapturedFrame
    | SessionGapFrame
    | DeliveryAckFrame,
    Field(discriminator="type"),
]
daemon_frame_adapter: TypeAdapter[DaemonFrame] = TypeAdapter(DaemonFrame)
auth_frame_adapter: TypeAdapter[AuthFrame] = TypeAdapter(AuthFrame)


# --- hub -> daemon -------------------------------------------------------------------------------


class AuthOkFrame(Frame):
    type: Literal["auth_ok"] = "auth_ok"
    server_id: str
    protocol: int = Field(ge=1, le=100)
    heartbeat_interval: float


class HeartbeatAckFrame(Frame):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"


class PongFrame(Frame):
    type: Literal["pong"] = "pong"


class ErrorFrame(Frame):
    """A protocol error. ``fatal`` tells the peer the hub will close the socket next."""

    type: Literal["error"] = "error"
    code: str
    message: str
    fatal: bool = False


HubFrame = Annotated[
    AuthOkFrame
    | HeartbeatAckFrame
    | PongFrame
    | ErrorFrame
    | SessionStartFrame
    | SessionInputFrame
    | SessionResizeFrame
    | SessionCloseFrame
    | SessionKillFrame
    | SessionOutputAckFrame
    | SnapshotRequestFrame
    | CaptureScrollbackFrame
    | SessionRecoveredAckFrame
    | TaskAssignedFrame
    | TaskApprovedFrame
    | TaskRejectedFrame
    | TaskUpdatedFrame
    | TaskStatusUpdateFrame
    | TaskNoteFrame
    | NoteForSessionFrame
    | InterventionResponseFrame
    | PlanApprovedFrame
    | PlanRevisionFrame
    | ApprovalRulesUpdatedFrame,
    Field(discriminator="type"),
]
hub_frame_adapter: TypeAdapter[HubFrame] = TypeAdapter(HubFrame)


# --- dashboard channel ---------------------------------------------------------------------------


class SubscribeFrame(Frame):
    type: Literal["subscribe"]
    project_id: str = Field(min_length=1, max_length=64)
    # The sessions grid: also send the text of each live session's screen as it changes.
    screens: bool = False


dashboard_client_adapter: TypeAdapter[SubscribeFrame] = TypeAdapter(SubscribeFrame)
