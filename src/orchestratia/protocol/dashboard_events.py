"""What the dashboard channel (``/ws/dashboard``) sends a browser, discriminated on ``type``.

``DashboardEvent`` is every change the hub publishes to a project's dashboards (only after the
change committed); ``SubscribedFrame`` answers a ``subscribe``. The JSON of each is what the
dashboard scripts (``hub/web/static``) read, so fields and their order are part of the wire."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from orchestratia.protocol.approval_api import PermissionEntryPublic
from orchestratia.protocol.rest import JsonObject, ServerPublic, SessionPublic
from orchestratia.protocol.stop_all import AssignmentPause
from orchestratia.protocol.task_replies import TaskPublic
from orchestratia.protocol.tunnels import TunnelPublic


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerUpdate(_Event):
    """A server's current state (registered, connected, heartbeat news, gone)."""

    type: Literal["server_update"] = "server_update"
    server: ServerPublic


class SessionUpdate(_Event):
    """A terminal session's current state."""

    type: Literal["session_update"] = "session_update"
    session: SessionPublic


class TaskUpdate(_Event):
    """A task as it is now, dependencies and notes included."""

    type: Literal["task_update"] = "task_update"
    task: TaskPublic


class TimelineEntry(_Event):
    """One entry of a task's timeline (the project's activity feed)."""

    id: str
    task_id: str | None
    project_id: str
    kind: str
    actor: str
    summary: str
    details: JsonObject
    # ISO 8601 as ``datetime.isoformat`` writes it ("+00:00"), which is what the feed has
    # always carried; a datetime field would serialize as "Z".
    created_at: str


class TaskEvent(_Event):
    type: Literal["task_event"] = "task_event"
    event: TimelineEntry


class InboxUpdate(_Event):
    """Something joined or left the inbox: the dashboard re-fetches it."""

    type: Literal["inbox_update"] = "inbox_update"


class PermissionDecision(_Event):
    """A tool call a daemon decided (permission log)."""

    type: Literal["permission_decision"] = "permission_decision"
    entry: PermissionEntryPublic


ActivityState = Literal["working", "idle", "waiting", "exited", "lost"]


class SessionActivity(_Event):
    """A session's activity state changed: output flowing, quiet, waiting for a person, ended."""

    type: Literal["session_activity"] = "session_activity"
    session_id: str
    state: ActivityState


class SessionScreen(_Event):
    """The text of a session's screen, for the grid's miniature (sent only to grid pages, at
    most a few times a second per session and only when it changed)."""

    type: Literal["session_screen"] = "session_screen"
    session_id: str
    lines: list[str]


class AssignmentPauseUpdate(_Event):
    """A project's auto-assignment paused (stop all agents) or resumed."""

    type: Literal["assignment_pause"] = "assignment_pause"
    pause: AssignmentPause


class WebhookDisabled(_Event):
    """A webhook endpoint failed for too long and the hub stopped sending to it; its owner
    re-enables it once the receiver works again."""

    type: Literal["webhook_disabled"] = "webhook_disabled"
    endpoint_id: str
    url: str
    reason: str


class TunnelUpdate(_Event):
    """An SSH tunnel's current state (added, host key offered or pinned, up, down, gone)."""

    type: Literal["tunnel_update"] = "tunnel_update"
    tunnel: TunnelPublic
    removed: bool = False


DashboardEvent = Annotated[
    ServerUpdate
    | SessionUpdate
    | TaskUpdate
    | TaskEvent
    | InboxUpdate
    | PermissionDecision
    | SessionActivity
    | SessionScreen
    | AssignmentPauseUpdate
    | WebhookDisabled
    | TunnelUpdate,
    Field(discriminator="type"),
]
dashboard_event_adapter: TypeAdapter[DashboardEvent] = TypeAdapter(DashboardEvent)


class SubscribedFrame(_Event):
    """The reply to ``subscribe``: the project's events follow, after its servers' states."""

    type: Literal["subscribed"] = "subscribed"
    project_id: str


def wire(event: DashboardEvent | SubscribedFrame) -> dict[str, Any]:
    """The JSON object a browser receives for ``event``."""
    return event.model_dump(mode="json")
