"""422 entries become sentences that name the field as a person reads it."""

from __future__ import annotations

import pytest

from orchestratia.hub.validation_messages import field_label, human_message


@pytest.mark.parametrize(
    ("loc", "label"),
    [
        (["body", "title"], "Title"),
        (["body", "acceptance_criteria", 2], "Acceptance criteria (item 3)"),
        (["body", "tasks", 0, "title"], "Title in tasks.0"),
        (["body", "structured_spec", "requirements", 0, "priority"],
         "Priority in structured_spec.requirements.0"),
        (["query", "offset"], "Offset"),
        (["body"], "The request"),
    ],
)  # fmt: skip
def test_field_label(loc: list[str | int], label: str) -> None:
    assert field_label(loc) == label


def test_reasons_follow_the_field_or_take_a_colon() -> None:
    blank = {
        "loc": ["body", "name"],
        "type": "value_error",
        "msg": "Value error, must not be blank",
    }
    assert human_message(blank) == "Name must not be blank."
    regex = {"loc": ["body", "param_pattern"], "type": "value_error", "msg": "Value error, not RE2"}
    assert human_message(regex) == "Param pattern: Not RE2."
    short = {"loc": ["body", "password"], "type": "string_too_short", "ctx": {"min_length": 8}}
    assert human_message(short) == "Password must be at least 8 characters long."
