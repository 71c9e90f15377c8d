"""Managing servers from the dashboard or the API: rename, relabel, remove, and the load
history the server page charts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from orchestratia.protocol.rest import NotBlank, StrictBody

ServerName = Annotated[str, Field(min_length=1, max_length=200), NotBlank]
# Labels are matched against task labels and languages by auto-assignment: one word each.
Label = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s,]+$")]


class ServerEdit(StrictBody):
    """``PATCH /api/v1/servers/{id}``: what to change; fields left out stay as they are."""

    name: ServerName | None = None
    labels: list[Label] | None = Field(default=None, max_length=50)

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None

    @model_validator(mode="after")
    def _something(self) -> ServerEdit:
        if self.name is None and self.labels is None:
            raise ValueError("give a name or labels to change")
        return self


class ServerSamplePublic(BaseModel):
    at: datetime
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    load1: float | None


class ServerSampleList(BaseModel):
    server_id: str
    samples: list[ServerSamplePublic]
