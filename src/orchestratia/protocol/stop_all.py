"""The kill switch: stopping every agent of a project (or of the tenant) and resuming.

``StopAllRequest`` is the body of ``POST /api/v1/projects/{id}/stop-all`` and of the tenant-wide
``POST /api/v1/stop-all``; ``StopAllResult`` is their answer, ``AssignmentPause`` is what
``POST .../resume`` answers and what the dashboard is told when a project pauses or resumes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

REASON_MAX = 500


class StopAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=REASON_MAX)


class AssignmentPause(BaseModel):
    """Whether a project's auto-assignment is paused, since when and by whom."""

    project_id: str
    paused_at: datetime | None
    paused_by: str | None = None  # the email (or key owner) who paused it
    reason: str | None = None


class StopAllResult(BaseModel):
    """Counts over every session that was live when the stop began.

    ``stopped``: ended after Ctrl-C within the grace; ``killed``: still running after the grace,
    their process tree killed; ``not_reached``: on servers not connected to the hub (they are
    left to the lost-session policy; nothing is promised about them); ``already_stopping``:
    being stopped by a stop-all still under way, not signalled twice."""

    projects: list[AssignmentPause]
    sessions: int
    stopped: int
    killed: int
    not_reached: int
    already_stopping: int
    grace_seconds: float
    not_reached_ids: list[str] = Field(default_factory=list)


class ResumeResult(BaseModel):
    projects: list[AssignmentPause]
