"""``light_json`` gives what ``json`` gives: the same values, the same text, the same errors
(type and message), also in a ``python -I -S`` process that has never imported ``json``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestratia.agent.approvals import light_json
from orchestratia.cli.hook_entry import package_root
from tests.unit.hook_corpus import JSON_TEXTS, JSON_VALUES, hook_inputs, json_bytes


def pairs(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return items  # makes an object hook's reach visible: every object becomes a list of pairs


def refuse_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise KeyError("duplicate key")
    return dict(items)


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        return "value", repr(call(*args, **kwargs))
    except Exception as exc:
        return type(exc).__name__, str(exc)


INPUTS: list[str | bytes] = [*JSON_TEXTS, *json_bytes(), *(data for _, data in hook_inputs())]
HOOKS = [None, pairs, refuse_duplicates]


@pytest.mark.parametrize("hook", HOOKS)
def test_loads_matches_json(hook: Callable[[list[tuple[str, Any]]], Any] | None) -> None:
    for data in INPUTS:
        expected = outcome(json.loads, data, object_pairs_hook=hook)
        assert outcome(light_json.loads, data, object_pairs_hook=hook) == expected, data


CHILD = """
import ast, sys
sys.path.insert(0, {root!r})
from orchestratia.agent.approvals import light_json
def refuse_duplicates(items):
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise KeyError("duplicate key")
    return dict(items)
def outcome(data, hook):
    try:
        return "value", repr(light_json.loads(data, object_pairs_hook=hook))
    except Exception as exc:
        return type(exc).__name__, str(exc)
inputs = ast.literal_eval(open({corpus!r}, encoding="utf-8").read())
before = "json" in sys.modules
results = [outcome(d, h) for d in inputs for h in (None, refuse_duplicates)]
print(repr((before, results)))
"""


def test_loads_matches_json_where_json_was_never_imported(tmp_path: Path) -> None:
    """The scanner raises ``json``'s own error class, which it can only find once ``json``
    is loaded: the isolated hook process must still report exactly what ``json`` would."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(repr(INPUTS), encoding="utf-8")
    script = CHILD.format(root=package_root(), corpus=str(corpus))
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True,
                          check=True, timeout=60, env={})  # fmt: skip
    json_loaded_first, results = ast.literal_eval(done.stdout.decode())
    assert json_loaded_first is False
    expected = [
        outcome(json.loads, data, object_pairs_hook=hook)
        for data in INPUTS
        for hook in (None, refuse_duplicates)
    ]
    assert results == expected
    assert sum(kind == "value" for kind, _ in results) > 50  # both sides of the corpus count
    assert sum(kind == "JSONDecodeError" for kind, _ in results) > 20


def circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")])
@pytest.mark.parametrize("default", [None, str])
def test_dumps_matches_json(
    separators: tuple[str, str], default: Callable[[Any], Any] | None
) -> None:
    odd = object()
    for value in [*JSON_VALUES, {"odd": odd}, [odd], {odd: 1}, circular(), b"bytes"]:
        expected = outcome(json.dumps, value, separators=separators, default=default)
        got = outcome(light_json.dumps, value, separators=separators, default=default)
        assert got == expected, value
