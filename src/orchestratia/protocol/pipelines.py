"""Pipelines (SPEC §4): several dependent tasks created in one atomic call, and its reply."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import StrictBody
from orchestratia.protocol.task_documents import OptionalKey
from orchestratia.protocol.task_replies import TaskPublic
from orchestratia.protocol.tasks import DependencyType, TaskFields

# A temp id, an index into ``tasks`` or an existing task id: plain ASCII, so nothing odd reaches
# int() or the database.
PipelineRef = (
    Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
    | Annotated[int, Field(ge=0, le=10_000)]
)


class PipelineDependency(StrictBody):
    task: PipelineRef
    type: DependencyType = "blocks"
    contract_key: str | None = OptionalKey

    @model_validator(mode="after")
    def _key(self) -> PipelineDependency:
        if self.type == "input" and not self.contract_key:
            raise ValueError("contract_key is required for an input dependency")
        return self


class PipelineTask(TaskFields):
    """One task of a pipeline. ``depends_on`` entries are a temp id, an index into ``tasks``, an
    existing task id, or an object naming one of those with a dependency type and contract key."""

    model_config = ConfigDict(extra="ignore")
    id: str | None = Field(default=None, min_length=1, max_length=120)
    repo: str | None = Field(default=None, max_length=200)
    branch: str | None = Field(default=None, max_length=200)
    depends_on: list[PipelineRef | PipelineDependency] = Field(default_factory=list, max_length=100)
    assign: str | None = Field(default=None, max_length=120)


class PipelineCreate(StrictBody):
    model_config = ConfigDict(extra="ignore")
    project_id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    tasks: list[PipelineTask] = Field(min_length=1, max_length=200)


class PipelineResult(BaseModel):
    pipeline: Literal[True] = True
    pipeline_id: str
    tasks_created: NonNegInt32
    id_map: dict[str, str]
    tasks: list[TaskPublic]


PipelineState = Literal["pending", "running", "failed", "done", "cancelled"]


class PipelineSummary(BaseModel):
    """A pipeline as the project's list shows it: its tasks counted by state, and the state of
    the whole (failed if any task failed, done once all are, running once one has started)."""

    id: str
    project_id: str
    name: str | None
    created_by: str
    created_at: datetime
    state: PipelineState
    tasks: NonNegInt32
    counts: dict[str, NonNegInt32]


class PipelineList(BaseModel):
    pipelines: list[PipelineSummary]
