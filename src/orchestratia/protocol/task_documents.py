"""The task documents (SPEC §3-4): the structured spec ``orchestratia/task-spec/v1`` a task may
carry and the result ``orchestratia/task-result/v1`` an agent finishes it with."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestratia.protocol.numbers import NonNegInt32
from orchestratia.protocol.rest import JsonObject, StrictBody

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ContractKey = Field(min_length=1, max_length=120, pattern=KEY_PATTERN)
OptionalKey: Any = Field(default=None, min_length=1, max_length=120, pattern=KEY_PATTERN)
ShortList: Any = Field(default_factory=list, max_length=100)


def no_nul_deep(value: Any) -> Any:
    """PostgreSQL can hold no NUL in text or JSON: refuse it anywhere in a nested value."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            no_nul_deep(k)
            no_nul_deep(v)
    elif isinstance(value, list):
        for v in value:
            no_nul_deep(v)
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
        return no_nul_deep(value)

    @field_validator("contracts")
    @classmethod
    def _keys(cls, value: dict[str, Contract]) -> dict[str, Contract]:
        for key in value:
            if not key or len(key) > 120:
                raise ValueError(f"contract key {key[:40]!r} must be 1-120 characters")
        return value
