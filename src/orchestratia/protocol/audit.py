"""The audit log as the REST API, the Audit page and the exports read it, and the project export
document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestratia.protocol.rest import JsonObject

PROJECT_EXPORT_FORMAT = "orchestratia.project-export"
PROJECT_EXPORT_VERSION = 1
ExportFormat = Literal["jsonl", "csv"]


class AuditFilters(BaseModel):
    """What to show. ``action`` ending in ``.`` is a prefix (``task.`` = every task action);
    times are ISO 8601, UTC when they name no zone. Blank fields (an empty form) mean "any"."""

    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(default=None, min_length=1, max_length=320)
    action: str | None = Field(default=None, min_length=1, max_length=64)
    target_type: str | None = Field(default=None, min_length=1, max_length=32)
    target_id: str | None = Field(default=None, min_length=1, max_length=64)
    project_id: str | None = Field(default=None, min_length=1, max_length=36)
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_any(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def key(self) -> str:
        """The filters as one canonical string: a cursor is bound to it."""
        return self.model_dump_json()


class AuditQuery(AuditFilters):
    """A page of the log: ``cursor`` is ``next_cursor`` of the previous page, with the same
    filters."""

    cursor: str | None = Field(default=None, min_length=1, max_length=200)
    limit: int = Field(default=100, ge=1, le=500)

    def filters(self) -> AuditFilters:
        return AuditFilters.model_validate(self.model_dump(exclude={"cursor", "limit"}))


class AuditExportQuery(AuditFilters):
    format: ExportFormat = "jsonl"

    def filters(self) -> AuditFilters:
        return AuditFilters.model_validate(self.model_dump(exclude={"format"}))


class AuditEventPublic(BaseModel):
    id: int
    created_at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    project_id: str | None
    ip: str | None
    request_id: str | None
    details: JsonObject
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """Newest first. ``next_cursor`` is None on the last page."""

    events: list[AuditEventPublic]
    next_cursor: str | None


class ProjectExport(BaseModel):
    """Everything a project holds of its work and its history, as one JSON document: the
    project, its tasks (with results, notes, dependencies and timeline) and its audit events.
    ``version`` changes whenever a field changes meaning or goes away."""

    format: str = PROJECT_EXPORT_FORMAT
    version: int = PROJECT_EXPORT_VERSION
    exported_at: datetime
    project: JsonObject
    tasks: list[JsonObject]
    audit_events: list[AuditEventPublic]
