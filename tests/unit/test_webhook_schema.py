"""The published webhook documentation stays true to the payload models: the JSON Schema file
is what ``scripts/webhook_schema.py`` generates now, and every example in docs/webhooks.md is a
valid body of its event type."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestratia.protocol.integration_events import EVENT_TYPES, WebhookPayload

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _generated() -> str:
    spec = importlib.util.spec_from_file_location(
        "webhook_schema", ROOT / "scripts/webhook_schema.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered: str = module.render()
    return rendered


def _examples() -> list[dict[str, Any]]:
    text = (DOCS / "webhooks.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.S)]


def test_the_schema_file_is_current() -> None:
    stale = (DOCS / "webhook-events.schema.json").read_text() != _generated()
    assert not stale, "docs/webhook-events.schema.json is stale: run scripts/webhook_schema.py"


def test_the_schema_has_one_variant_per_event_type() -> None:
    schema = json.loads((DOCS / "webhook-events.schema.json").read_text())
    consts = [v["properties"]["type"]["const"] for v in schema["oneOf"]]
    assert consts == list(EVENT_TYPES)
    for variant in schema["oneOf"]:
        name = variant["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        assert name in schema["$defs"]


def test_every_event_type_has_one_valid_example() -> None:
    examples = _examples()
    assert [e["type"] for e in examples] == list(EVENT_TYPES)
    for example in examples:
        WebhookPayload.model_validate(example)


def test_a_payload_must_carry_the_data_of_its_type() -> None:
    server_body = next(e for e in _examples() if e["type"] == "server.online")
    with pytest.raises(ValidationError, match=r"task\.created carries TaskEventData"):
        WebhookPayload.model_validate(server_body | {"type": "task.created"})
    with pytest.raises(ValidationError):
        WebhookPayload.model_validate(server_body | {"data": {"server": {"id": "x"}}})
