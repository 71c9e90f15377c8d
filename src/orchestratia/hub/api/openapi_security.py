"""``/openapi.json`` with the hub's security schemes and, on every operation, what it needs.

Each operation gets ``security`` (the ways in, with the API-key scope it needs) and
``x-required-scope`` (the scope, or ``any``/``login``/``server``/``public``), both read from the
route's declaration (``hub.api.route_access``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from orchestratia.hub.api.deps import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from orchestratia.hub.api.route_access import RouteAccess, operations

SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "orck_…",
        "description": "A user API key (made at /api-keys or POST /api/v1/api-keys). It acts as "
        "its owner, limited to its scopes (listed on each operation) and its project, and never "
        "beyond the owner's current role.",
    },
    "loginToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "orcu_…",
        "description": "A login token from POST /api/v1/auth/login; it holds every scope.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The dashboard's login cookie; every scope. Changes also need the CSRF "
        "header.",
    },
    "csrfHeader": {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_HEADER,
        "description": "The csrf_token of the login, sent with the cookie on every change.",
    },
    "serverKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A registered server's key (orc_…) or a session token (orcs_…): "
        "the daemon and the agent CLI inside sessions.",
    },
}


def requirement(access: RouteAccess, method: str) -> list[dict[str, list[str]]]:
    """The OpenAPI security requirement of one operation: any one of the entries will do."""
    if access.kind == "public":
        return []
    if access.kind == "server":
        return [{"serverKey": []}]
    cookie: dict[str, list[str]] = {"sessionCookie": []}
    if method not in SAFE_METHODS:
        cookie["csrfHeader"] = []
    logins: list[dict[str, list[str]]] = [{"loginToken": []}, cookie]
    if access.kind == "login":
        return logins
    return [{"apiKey": [access.scope] if access.scope else []}, *logins]


def install(app: FastAPI) -> None:
    """Serve the annotated document (built once, on first request)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        doc.setdefault("components", {})["securitySchemes"] = SCHEMES
        for found in operations(app.routes):
            if found.access is None or not found.include_in_schema:
                continue
            documented = doc["paths"].get(found.path, {})
            for method in found.methods:
                operation = documented.get(method.lower())
                if operation is not None:
                    operation["security"] = requirement(found.access, method)
                    operation["x-required-scope"] = found.access.label
        app.openapi_schema = doc
        return doc

    app.openapi = document  # type: ignore[method-assign]
