"""``GET /api/v1/overview``: the numbers of the dashboard's home page, for one project or for
every project the caller sees."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FleetHealth(BaseModel):
    online: int
    offline: int
    oldest_heartbeat_seconds: float | None = Field(
        description="Age of the stalest heartbeat among online servers; None with none online."
    )


class SessionCounts(BaseModel):
    """Live sessions by activity state (as the sessions grid shows them), ended ones by day."""

    running: int = Field(description="Starting or running now: working + idle + waiting.")
    working: int = Field(description="Printed output within the idle threshold.")
    idle: int = Field(description="Quiet for longer than the idle threshold.")
    waiting: int = Field(description="An inbox item waits for a person about the session.")
    exited_today: int = Field(description="Ended normally since midnight UTC.")
    lost_today: int = Field(description="Lost since midnight UTC (server gone or tmux gone).")


class RunningTask(BaseModel):
    id: str
    project_id: str
    title: str
    started_at: datetime | None
    running_seconds: float | None


class TaskCounts(BaseModel):
    running: int
    active: int = Field(description="Assigned, planning, in plan review, running or needing help.")
    pending: int
    done_today: int = Field(description="Finished since midnight UTC.")
    failed_today: int = Field(description="Failed since midnight UTC.")
    longest_running: list[RunningTask] = Field(description="The longest-running few, oldest first.")


class InboxSummary(BaseModel):
    waiting: int
    oldest_seconds: float | None


class RecentEvent(BaseModel):
    id: str
    project_id: str
    task_id: str | None
    task_title: str | None
    kind: str
    actor: str
    summary: str
    created_at: datetime


class Throughput(BaseModel):
    bucket_seconds: int
    buckets: list[int] = Field(description="Terminal output bytes per bucket, oldest first.")

    @property
    def peak_rate(self) -> float:
        return max(self.buckets, default=0) / self.bucket_seconds

    @property
    def last_rate(self) -> float:
        return (self.buckets[-1] if self.buckets else 0) / self.bucket_seconds


class Overview(BaseModel):
    project_id: str | None = Field(description="None: every project the caller sees.")
    projects: int
    generated_at: datetime
    servers: FleetHealth
    sessions: SessionCounts
    tasks: TaskCounts
    inbox: InboxSummary
    recent: list[RecentEvent]
    throughput: Throughput
