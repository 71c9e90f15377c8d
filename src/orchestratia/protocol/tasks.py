"""Task shapes (SPEC §3-4): REST bodies for the dashboard, External and agent APIs, the
structured spec ``orchestratia/task-spec/v1`` and the result ``orchestratia/task-result/v1``.

Bodies the dashboard and our CLI send are strict (unknown fields are a 422); the agent API's
``Agent*`` variants ignore unknown fields because the public CLI may send more than we know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import JsonObject, NotBlank, StrictBody, TolerantBody

TaskStatus = Literal[
    "pending",
    "assigned",
    "planning",
    "plan_review",
    "running",
    "needs_human",
    "done",
    "failed",
    "cancelled",
]
TERMINAL_STATUSES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
ACTIVE_STATUSES: frozenset[str] = frozenset(
    {"assigned", "planning", "plan_review", "running", "needs_human"}
)
Priority = Literal["low", "normal", "high", "critical"]
TaskType = Literal["feature", "bugfix", "refactor", "chore", "docs"]
DependencyType = Literal["blocks", "input", "related"]
ApprovalStatus = Literal["none", "pending", "approved", "rejected"]

SPEC_SCHEMA = "orchestratia/task-spec/v1"
RESULT_SCHEMA = "orchestratia/task-result/v1"
MAX_JSON_BYTES = 256_000

Title = Field(min_length=1, max_length=300)
TitleText = Annotated[str, Title, NotBlank]
SpecText = Field(default="", max_length=100_000)
Name = Field(min_length=1, max_length=200)
Ident = Field(min_length=1, max_length=64)
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ContractKey = Field(min_length=1, max_length=120, pattern=KEY_PATTERN)
OptionalKey: Any = Field(default=None, min_length=1, max_length=120, pattern=KEY_PATTERN)
ShortList: Any = Field(default_factory=list, max_length=100)
TaskIdItem = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def _no_nul_deep(value: Any) -> Any:
    """PostgreSQL can hold no NUL in text or JSON: refuse it anywhere in a nested value."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul_deep(k)
            _no_nul_deep(v)
    elif isinstance(value, list):
        for v in value:
            _no_nul_deep(v)
    return value


# --- structured spec v1 --------------------------------------------------------------------------


class Requirement(StrictBody):
    description: str = Field(min_length=1, max_length=4000)
    priority: Literal["must", "should", "could", "wont"] = "must"
    category: str | None = Field(default=None, max_length=120)


class Reference(StrictBody):
    type: Literal["task", "url"]
    id: str | None = Field(default=None, max_length=64)
    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _target(self) -> Reference:
        if self.type == "task" and not self.id:
            raise ValueError("a task reference needs 'id'")
        if self.type == "url" and not self.url:
            raise ValueError("a url reference needs 'url'")
        return self


class InputContext(StrictBody):
    references: list[Reference] = ShortList


class Constraints(StrictBody):
    languages: list[str] = ShortList
    frameworks: list[str] = ShortList
    testing: str | None = Field(default=None, max_length=2000)
    no_breaking_changes: bool = False
    max_files_changed: int | None = Field(default=None, ge=1, le=100_000)
    custom: JsonObject = Field(default_factory=dict)
    # Hard filters for auto-assignment (SPEC §4: "required agent type / OS if the spec names one").
    agent_type: str | None = Field(default=None, max_length=64)
    os: str | None = Field(default=None, max_length=64)


class ExpectedOutput(StrictBody):
    key: str = ContractKey
    type: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=2000)


class StructuredSpec(StrictBody):
    """``orchestratia/task-spec/v1``; ``schema`` may name it and must then be exactly that."""

    schema_: Literal["orchestratia/task-spec/v1"] = Field(
        default="orchestratia/task-spec/v1", alias="schema"
    )
    requirements: list[Requirement] = ShortList
    input_context: InputContext = Field(default_factory=InputContext)
    constraints: Constraints = Field(default_factory=Constraints)
    expected_outputs: list[ExpectedOutput] = ShortList
    acceptance_criteria: list[str] = ShortList

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- result v1 -----------------------------------------------------------------------------------


class Contract(BaseModel):
    """A contract published for dependents: ``type`` and ``description`` plus any data."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=4000)


class Changes(StrictBody):
    files_modified: list[str] = Field(default_factory=list, max_length=10_000)
    files_created: list[str] = Field(default_factory=list, max_length=10_000)
    files_deleted: list[str] = Field(default_factory=list, max_length=10_000)


class TestCounts(StrictBody):
    __test__ = False  # not a pytest class, despite the name
    passed: NonNegInt32 = 0
    failed: NonNegInt32 = 0
    skipped: NonNegInt32 = 0


class TaskResult(BaseModel):
    """``orchestratia/task-result/v1``. Agents add their own keys; known ones are validated."""

    model_config = ConfigDict(extra="allow")
    summary: str | None = Field(default=None, max_length=100_000)
    changes: Changes | None = None
    contracts: dict[str, Contract] = Field(default_factory=dict, max_length=200)
    tests: TestCounts | None = None
    requirements_met: list[str] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _no_nul_deep(value)

    @field_validator("contracts")
    @classmethod
    def _keys(cls, value: dict[str, Contract]) -> dict[str, Contract]:
        for key in value:
            if not key or len(key) > 120:
                raise ValueError(f"contract key {key[:40]!r} must be 1-120 characters")
        return value


# --- requests ------------------------------------------------------------------------------------


class DependencySpec(StrictBody):
    depends_on_task_id: str = Ident
    dependency_type: DependencyType = "blocks"
    contract_key: str | None = OptionalKey

    @model_validator(mode="after")
    def _key(self) -> DependencySpec:
        if self.dependency_type == "input" and not self.contract_key:
            raise ValueError("contract_key is required for an input dependency")
        return self


class TaskFields(StrictBody):
    """Fields shared by creation and pipelines."""

    title: TitleText
    spec: str = SpecText
    structured_spec: StructuredSpec | None = None
    priority: Priority = "normal"
    type: TaskType = "feature"
    target_repo: str | None = Field(default=None, max_length=200)
    target_branch: str | None = Field(default=None, max_length=200)
    acceptance_criteria: list[str] = ShortList
    labels: list[str] = Field(default_factory=list, max_length=50)
    require_plan: bool = False


class TaskCreate(TaskFields):
    project_id: str | None = Field(default=None, max_length=64)
    external_ref: str | None = Field(default=None, min_length=1, max_length=200)
    dependencies: list[DependencySpec] = Field(default_factory=list, max_length=100)
    # The public CLI's spelling of blocking dependencies.
    dependency_ids: list[TaskIdItem] = Field(default_factory=list, max_length=100)
    session_id: str | None = Field(default=None, max_length=64)  # agent API: the creating session
    assign_session_name: str | None = Field(default=None, max_length=120)


class AgentTaskCreate(TaskCreate):
    model_config = ConfigDict(extra="ignore")


class TaskUpdate(StrictBody):
    title: TitleText | None = None
    spec: str | None = Field(default=None, max_length=100_000)
    structured_spec: StructuredSpec | None = None
    priority: Priority | None = None
    type: TaskType | None = None
    target_repo: str | None = Field(default=None, max_length=200)
    target_branch: str | None = Field(default=None, max_length=200)
    acceptance_criteria: list[str] | None = Field(default=None, max_length=100)
    labels: list[str] | None = Field(default=None, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # None here means "not given"; an explicit null for a required column is a client bug.
        if isinstance(data, dict):
            for key in ("title", "spec", "priority", "type", "acceptance_criteria", "labels"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} cannot be null; leave it out to keep it")
        return data


class AgentTaskUpdate(TaskUpdate):
    model_config = ConfigDict(extra="ignore")


class TaskAssign(StrictBody):
    session_id: str | None = Field(default=None, max_length=64)
    session_name: str | None = Field(default=None, max_length=120)
    require_plan: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> TaskAssign:
        if bool(self.session_id) == bool(self.session_name):
            raise ValueError("give exactly one of session_id or session_name")
        return self


class AgentTaskAssign(TaskAssign):
    model_config = ConfigDict(extra="ignore")


class EpochBody(TolerantBody):
    """Agent writes may name the assignment epoch they act on; a stale one is refused."""

    epoch: NonNegInt32 | None = None


def _text_or_object(value: Any) -> str:
    return "text" if isinstance(value, str) else "object"


# Tagged so that a bad object reports only the object's errors (``result.object.contracts...``)
# rather than also complaining that it is not a string.
ResultValue = Annotated[
    Annotated[str, Tag("text"), Field(max_length=100_000)] | Annotated[TaskResult, Tag("object")],
    Discriminator(_text_or_object),
]
PlanValue = Annotated[
    Annotated[str, Tag("text"), Field(min_length=1, max_length=100_000)]
    | Annotated[JsonObject, Tag("object")],
    Discriminator(_text_or_object),
]


class TaskComplete(EpochBody):
    result: ResultValue

    def stored_result(self) -> JsonObject:
        """Plain text is stored as ``{summary: text}`` (SPEC §4)."""
        if isinstance(self.result, str):
            return {"summary": self.result}
        return self.result.model_dump(mode="json", exclude_none=True)


class TaskFail(EpochBody):
    error: str = Field(min_length=1, max_length=20_000)


class TaskPlanSubmit(EpochBody):
    plan: PlanValue

    def stored_plan(self) -> JsonObject:
        if isinstance(self.plan, str):
            return {"summary": self.plan}
        _no_nul_deep(self.plan)
        return self.plan


class TaskHelpRequest(EpochBody):
    question: str = Field(min_length=1, max_length=20_000)
    context: str | None = Field(default=None, max_length=50_000)
    type: Literal["help", "question", "approval"] = "help"
    urgency: Literal["low", "normal", "high"] = "normal"


class PlanDecision(StrictBody):
    approve: bool
    feedback: str | None = Field(default=None, max_length=20_000)

    @model_validator(mode="after")
    def _feedback(self) -> PlanDecision:
        if not self.approve and not (self.feedback or "").strip():
            raise ValueError("a revision request needs feedback")
        return self


class ApprovalDecision(StrictBody):
    approve: bool
    reason: str | None = Field(default=None, max_length=4000)


class NoteCreate(StrictBody):
    content: str = Field(min_length=1, max_length=20_000)
    urgent: bool = False


class AgentNoteCreate(NoteCreate):
    model_config = ConfigDict(extra="ignore")


class DependencyCreate(DependencySpec):
    pass


class AgentDependencyCreate(DependencySpec):
    model_config = ConfigDict(extra="ignore")


LostSessionPolicy = Literal["requeue", "leave"]


class ProjectTaskSettings(StrictBody):
    auto_assign: bool | None = None
    require_task_approval: bool | None = None
    # A session that exits or is lost holding tasks: put them back to pending, or leave them
    # (flagged) for a person.
    lost_session_policy: LostSessionPolicy | None = None


# --- pipelines -----------------------------------------------------------------------------------

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


# --- responses -----------------------------------------------------------------------------------


class DependencyPublic(BaseModel):
    id: str
    task_id: str
    depends_on_task_id: str
    depends_on_title: str | None = None
    depends_on_status: str | None = None
    dependency_type: DependencyType
    contract_key: str | None
    resolved: bool
    resolved_at: datetime | None
    contract_status: Literal["none", "waiting", "received", "missing", "upstream_failed"] = "none"


class BlockerPublic(BaseModel):
    task_id: str
    title: str
    status: str
    dependency_type: DependencyType


class TaskPublic(BaseModel):
    """The task as every client reads it; field names follow the public CLI where it has one."""

    id: str
    project_id: str
    pipeline_id: str | None
    title: str
    spec: str
    structured_spec: JsonObject | None
    status: TaskStatus
    priority: Priority
    type: TaskType
    target_repo: str | None
    target_branch: str | None
    acceptance_criteria: list[str]
    labels: list[str]
    external_ref: str | None
    assigned_session_id: str | None
    target_session_name: str | None
    assigned_server_id: str | None
    assigned_server_name: str | None
    source_session_id: str | None
    source_session_name: str | None
    # The session that exited or was lost holding this task; set until it is assigned again.
    session_lost: bool = False
    lost_session_id: str | None = None
    lost_session_name: str | None = None
    created_by: str | None
    require_plan: bool
    plan: JsonObject | None
    plan_feedback: str | None
    result: JsonObject | None
    error: str | None
    resolved_inputs: JsonObject
    missing_contracts: list[str]
    git_diff_stats: JsonObject | None
    assignment_reason: JsonObject | None
    epoch: NonNegInt32
    approval_status: ApprovalStatus
    pending_approval: bool
    blocked: bool
    blocked_by: list[BlockerPublic]
    dependencies: list[DependencyPublic]
    created_at: datetime
    updated_at: datetime
    assigned_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None


class TaskList(BaseModel):
    tasks: list[TaskPublic]
    count: NonNegInt32


class NotePublic(BaseModel):
    id: str
    task_id: str
    author: str
    content: str
    urgent: bool
    created_at: datetime
    delivered_at: datetime | None


class NoteList(BaseModel):
    notes: list[NotePublic]


class TaskEventPublic(BaseModel):
    id: str
    task_id: str | None
    project_id: str
    kind: str
    actor: str
    summary: str
    details: JsonObject
    created_at: datetime


class TaskEventList(BaseModel):
    events: list[TaskEventPublic]


class HelpResponse(BaseModel):
    intervention_id: str
    status: str
    task: TaskPublic


class PipelineResult(BaseModel):
    pipeline: Literal[True] = True
    pipeline_id: str
    tasks_created: NonNegInt32
    id_map: dict[str, str]
    tasks: list[TaskPublic]


class CancelResponse(BaseModel):
    cancelled: bool
    task_id: str
    task: TaskPublic
