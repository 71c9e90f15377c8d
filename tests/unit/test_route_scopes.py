"""Every REST route says what it needs from its caller, and /openapi.json shows it: a route
added without a declaration fails here (and takes logins only until it has one)."""

from __future__ import annotations

from pathlib import Path

from orchestratia.hub.api.route_access import operations
from orchestratia.hub.app import create_app
from orchestratia.hub.settings import HubSettings
from orchestratia.protocol.api_keys import API_SCOPES

# Routes anyone may call: each one is a decision, so the list is short and explicit.
PUBLIC = {
    "/api/v1/auth/login",
    "/api/v1/auth/login/second-factor",
    "/api/v1/health",
    "/api/v1/servers/register",
    # Telegram's webhook delivery: the bot's secret token in a header authenticates it.
    "/api/v1/telegram/webhook/{bot_id}",
}
# Liveness and readiness probes, outside /api/.
PROBES = {"/healthz", "/readyz"}
# Daemon routes outside /api/v1/server/ (which is the daemon's altogether).
DAEMON = {"/api/v1/servers/heartbeat"}


def _app_operations(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    app = create_app(HubSettings(data_dir=tmp_path))
    return [
        (op.path, method, op.access.label if op.access else None)
        for op in operations(app.routes)
        if op.path.startswith("/api/")
        for method in sorted(op.methods)
    ]


def test_every_api_route_declares_what_it_needs(tmp_path: Path) -> None:
    found = _app_operations(tmp_path)
    assert len(found) > 50
    undeclared = [f"{method} {path}" for path, method, label in found if label is None]
    assert undeclared == [], "declare a scope (hub.api.scopes) on: " + ", ".join(undeclared)


def test_public_and_daemon_routes_are_only_the_known_ones(tmp_path: Path) -> None:
    for path, method, label in _app_operations(tmp_path):
        if label == "public":
            assert path in PUBLIC or path.startswith("/api/v1/invites/"), f"{method} {path}"
        elif label == "server":
            assert path.startswith("/api/v1/server/") or path in DAEMON, f"{method} {path}"
        elif path.startswith("/api/v1/server/"):
            raise AssertionError(f"{method} {path} is a daemon route without SERVER_KEY")
        else:
            assert label in (*API_SCOPES, "any", "login"), f"{method} {path}: {label}"


def test_openapi_shows_schemes_and_every_operations_requirement(tmp_path: Path) -> None:
    doc = create_app(HubSettings(data_dir=tmp_path)).openapi()
    schemes = doc["components"]["securitySchemes"]
    assert {"apiKey", "loginToken", "sessionCookie", "csrfHeader", "serverKey"} <= set(schemes)
    create_task = doc["paths"]["/api/v1/tasks"]["post"]
    assert create_task["x-required-scope"] == "tasks:write"
    assert {"apiKey": ["tasks:write"]} in create_task["security"]
    assert {"sessionCookie": [], "csrfHeader": []} in create_task["security"]
    assert doc["paths"]["/api/v1/server/tasks"]["get"]["security"] == [{"serverKey": []}]
    assert doc["paths"]["/api/v1/health"]["get"]["security"] == []
    for path, operations_ in doc["paths"].items():
        for method, operation in operations_.items():
            assert "x-required-scope" in operation, f"{method} {path}"


def test_metrics_route_declares_its_scraper_access(tmp_path: Path) -> None:
    # Outside /api/ and the schema, but declared like every route: public unless the operator
    # sets ``metrics_token`` (tests/integration/test_metrics.py checks the token).
    found = {
        op.path: op.access for op in operations(create_app(HubSettings(data_dir=tmp_path)).routes)
    }
    access = found["/metrics"]
    assert access is not None and access.label == "public"
    assert type(access).__name__ == "_Scraper"


def test_probes_are_public(tmp_path: Path) -> None:
    # Load balancers and orchestrators call them without credentials.
    app = create_app(HubSettings(data_dir=tmp_path))
    probes = {op.path: op.access for op in operations(app.routes) if op.path in PROBES}
    assert set(probes) == PROBES
    assert all(access is not None and access.label == "public" for access in probes.values())
