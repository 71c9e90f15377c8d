"""Every JSON reply of the hub is described by a model in ``/openapi.json``, so clients (and the
public agent's readers) can rely on the schema: a route returning a bare ``dict`` or ``list`` of
dicts shows up as ``{}`` or an untyped object and fails here."""

from __future__ import annotations

from typing import Any

from orchestratia.hub.app import create_app
from orchestratia.hub.settings import HubSettings


def _openapi() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(HubSettings(database_url="sqlite+aiosqlite://")).openapi()
    return schema


def _names_a_model(schema: dict[str, Any]) -> bool:
    """A reference to a component, a list of them, or a choice between such."""
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return all(_names_a_model(choice) for choice in choices)
    if schema.get("type") == "array":
        return _names_a_model(schema.get("items") or {})
    return "$ref" in schema


def _untyped_replies(spec: dict[str, Any]) -> list[str]:
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, reply in operation.get("responses", {}).items():
                json_reply = reply.get("content", {}).get("application/json")
                schema = (json_reply or {}).get("schema") or {}
                if code.startswith("2") and json_reply is not None and not _names_a_model(schema):
                    found.append(f"{method.upper()} {path} {code}: {json_reply.get('schema')}")
    return found


def _components_are_objects(spec: dict[str, Any]) -> list[str]:
    """A component a reply names must list its fields, not be a free-form map."""
    bad = []
    for name, component in spec["components"]["schemas"].items():
        if component.get("type") == "object" and not component.get("properties"):
            bad.append(name)
    return bad


def test_every_json_reply_names_a_model() -> None:
    assert _untyped_replies(_openapi()) == []


def test_reply_models_list_their_fields() -> None:
    assert _components_are_objects(_openapi()) == []


def test_the_check_sees_an_untyped_reply() -> None:
    spec = {
        "paths": {
            "/a": {
                "get": {"responses": {"200": {"content": {"application/json": {"schema": {}}}}}}
            },
            "/b": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"type": "object"}}
                                }
                            }
                        }
                    }
                }
            },
            "/c": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/C"}}
                            }
                        },
                        "422": {"content": {"application/json": {"schema": {}}}},
                    }
                }
            },
        }
    }
    assert [line.split(":")[0] for line in _untyped_replies(spec)] == ["GET /a 200", "GET /b 200"]
