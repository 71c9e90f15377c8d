"""Replay the public agent's recorded HTTP calls (tests/fixtures/public_agent_v020/http/) and
check a reply against the fields that agent reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parents[1] / "fixtures" / "public_agent_v020" / "http"
TYPES: dict[str, type | None] = {"str": str, "int": int, "bool": bool, "null": None}


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


async def replay(hub_url: str, call: dict[str, Any], **values: str) -> httpx.Response:
    """Send the recorded request, placeholders (``{api_key}``, ``{session_id}``) filled in."""
    request = _fill(call["request"], values)
    async with httpx.AsyncClient(base_url=hub_url, timeout=10) as client:
        return await client.request(
            request["method"],
            request["path"],
            params=request["query"],
            headers=request["headers"],
            json=request["body"],
        )


def _type_ok(expected: str, value: Any) -> bool:
    for name in expected.split("|"):
        wanted = TYPES[name]
        if wanted is None and value is None:
            return True
        # bool is an int in Python; the agent's JSON readers tell them apart
        if wanted is int and isinstance(value, bool):
            continue
        if wanted is not None and isinstance(value, wanted):
            return True
    return False


def missing_reads(spec: Any, value: Any, where: str = "reply") -> list[str]:
    """Every place where ``value`` lacks a field ``spec`` says is read, or has the wrong type."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems: list[str] = []
        for key, inner in spec.items():
            if key not in value:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += missing_reads(inner, value[key], f"{where}.{key}")
        return problems
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            p for i, item in enumerate(value) for p in missing_reads(spec[0], item, f"{where}[{i}]")
        ]
    return [] if _type_ok(spec, value) else [f"{where}: {value!r} is not {spec}"]
