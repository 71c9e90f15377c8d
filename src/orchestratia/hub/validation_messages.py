"""A sentence for each request validation error, naming the field as a person reads it.

Pydantic's own text ("String should have at most 300 characters", with the field only in ``loc``)
is written for developers; the dashboard shows these sentences instead. The 422 body keeps ``loc``,
``msg`` and ``type`` for programs and adds ``message``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Where a field sits, not what it is called.
_CONTAINERS = frozenset(("body", "query", "path", "header", "cookie", "form"))
_VALUE_ERROR = "Value error, "
# Reasons worded to follow the field's name ("must not be blank"); others get a colon.
_PREDICATES = ("must ", "is ", "cannot ", "has ", "needs ")


def field_label(loc: Sequence[Any]) -> str:
    """The field a person reads, with where it sits when nested:
    ``["body", "title"]`` → ``Title``; ``["body", "acceptance_criteria", 2]`` →
    ``Acceptance criteria (item 3)``; ``["body", "tasks", 0, "title"]`` → ``Title in tasks.0``."""
    parts = [p for p in loc if not (isinstance(p, str) and p in _CONTAINERS)]
    named = [i for i, p in enumerate(parts) if isinstance(p, str)]
    if not named:
        return "The request"
    last = named[-1]
    label = str(parts[last]).replace("_", " ").capitalize()
    items = parts[last + 1 :]
    if items and isinstance(items[-1], int):
        label += f" (item {items[-1] + 1})"
    if last:
        label += " in " + ".".join(str(p) for p in parts[:last])
    return label


def human_message(error: Mapping[str, Any]) -> str:
    """One sentence for one pydantic error (``loc``, ``type``, ``msg``, ``ctx``)."""
    field = field_label(error.get("loc") or ())
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    msg = str(error.get("msg", ""))
    if kind == "missing":
        return f"{field} is required."
    if kind == "extra_forbidden":
        return f"{field} is not a field this form takes."
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        if least == 1:
            return f"{field} must not be empty."
        return f"{field} must be at least {least} characters long."
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters long."
    if kind == "too_long":
        return f"{field} has too many items (at most {ctx.get('max_length')})."
    if kind == "too_short":
        return f"{field} needs at least {ctx.get('min_length')} items."
    if kind == "string_pattern_mismatch":
        if "@" in str(ctx.get("pattern", "")):  # every address field's pattern needs an @
            return f"{field} must be an email address, like name@example.com."
        return f"{field} contains characters that are not allowed here."
    if kind in ("literal_error", "enum"):
        return f"{field} must be one of {ctx.get('expected')}."  # "'a', 'b' or 'c'"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{field} must be a whole number."
    if kind in ("greater_than_equal", "greater_than"):
        return f"{field} must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"{field} must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind in ("string_type", "string_unicode"):
        return f"{field} must be text."
    if kind in ("bool_parsing", "bool_type"):
        return f"{field} must be true or false."
    if kind in ("json_invalid", "model_attributes_type", "dict_type", "model_type"):
        return f"{field} is not valid JSON of the expected shape."
    reason = msg.removeprefix(_VALUE_ERROR).rstrip(".")
    if reason.startswith(_PREDICATES):
        return f"{field} {reason}."
    return f"{field}: {reason[:1].upper()}{reason[1:]}."
