"""Task request bodies (SPEC §3-4) for the dashboard, External and agent APIs, and the task
vocabulary (statuses, priorities, types) every task shape uses.

Bodies the dashboard and our CLI send are strict (unknown fields are a 422); the agent API's
``Agent*`` variants ignore unknown fields because the public CLI may send more than we know.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import JsonObject, NotBlank, StrictBody, TolerantBody
from orchestratia.protocol.task_documents import (
    OptionalKey,
    ShortList,
    StructuredSpec,
    TaskResult,
    no_nul_deep,
)

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

Title = Field(min_length=1, max_length=300)
TitleText = Annotated[str, Title, NotBlank]
SpecText = Field(default="", max_length=100_000)
Ident = Field(min_length=1, max_length=64)
TaskIdItem = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


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
        no_nul_deep(self.plan)
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
