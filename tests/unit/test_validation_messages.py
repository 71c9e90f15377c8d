"""422 entries become sentences that name the field as a person reads it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestratia.hub.validation_messages import field_label, human_message
from orchestratia.protocol.invites import InviteCreate


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


def test_an_address_that_is_not_one_says_what_an_address_looks_like() -> None:
    with pytest.raises(ValidationError) as caught:
        InviteCreate.model_validate({"email": "not-an-email", "role": "member"})
    [error] = caught.value.errors()
    assert human_message(error) == "Email must be an email address, like name@example.com."
    other = {"loc": ["body", "name"], "type": "string_pattern_mismatch", "ctx": {"pattern": "^a"}}
    assert human_message(other) == "Name contains characters that are not allowed here."
