"""Bad input anywhere gets a precise 4xx, never a 500, and never an echoed password (SPEC §10)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from orchestratia.hub.app import create_app
from orchestratia.hub.settings import HubSettings
from tests.integration.running_hub import RunningHub

MAX_BODY = 64 * 1024
SECRET = "hunter2-Sup3r-SECRET-pw"
PID = "{project_id}"  # replaced by the real project id at run time


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"max_body_bytes": MAX_BODY}


@dataclass(frozen=True)
class Case:
    """One bad request and what the hub must answer. ``body`` dicts are sent as JSON, bytes raw."""

    name: str
    method: str
    path: str
    body: Any = None
    status: int = 422
    mentions: str | None = None  # the 422 detail must name this field
    headers: dict[str, str | bytes] = field(default_factory=dict)


def _login(**fields: Any) -> dict[str, Any]:
    return {"email": "alice@a.example", "password": SECRET, **fields}


CASES = [
    # --- login (strict body, public) ---
    Case("login-malformed-json", "POST", "/api/v1/auth/login", b'{"email": "a@b.c", "pass'),
    Case("login-not-an-object", "POST", "/api/v1/auth/login", [SECRET]),
    Case("login-null", "POST", "/api/v1/auth/login", b"null"),
    Case("login-empty-body", "POST", "/api/v1/auth/login", b""),
    Case(
        "login-missing-password",
        "POST",
        "/api/v1/auth/login",
        {"email": "a@b.c"},
        mentions="password",
    ),
    Case(
        "login-missing-email", "POST", "/api/v1/auth/login", {"password": SECRET}, mentions="email"
    ),
    Case("login-email-type", "POST", "/api/v1/auth/login", _login(email=12345), mentions="email"),
    Case(
        "login-password-type",
        "POST",
        "/api/v1/auth/login",
        _login(password=[SECRET]),
        mentions="password",
    ),
    Case(
        "login-unknown-field",
        "POST",
        "/api/v1/auth/login",
        _login(remember_me=True),
        mentions="remember_me",
    ),
    Case(
        "login-huge-email",
        "POST",
        "/api/v1/auth/login",
        _login(email="a" * 50_000 + "@b.example"),
        mentions="email",
    ),
    Case(
        "login-not-an-email",
        "POST",
        "/api/v1/auth/login",
        _login(email="no at sign"),
        mentions="email",
    ),
    Case(
        "login-huge-password",
        "POST",
        "/api/v1/auth/login",
        _login(password=SECRET * 2_000),
        mentions="password",
    ),
    Case(
        "login-empty-password",
        "POST",
        "/api/v1/auth/login",
        _login(password=""),
        mentions="password",
    ),
    Case(
        "login-nul-in-email",
        "POST",
        "/api/v1/auth/login",
        _login(email="al\x00ice@a.example"),
        mentions="email",
    ),
    Case(
        "login-non-utf8",
        "POST",
        "/api/v1/auth/login",
        b'{"email": "\xff\xfe@b.c", "password": "' + SECRET.encode() + b'"}',
        status=400,
    ),
    Case(
        "login-deep-nesting",
        "POST",
        "/api/v1/auth/login",
        b'{"email": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        status=400,
    ),
    Case(
        "login-form-encoded",
        "POST",
        "/api/v1/auth/login",
        f"email=a@b.c&password={SECRET}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    # --- projects (strict, authenticated) ---
    Case(
        "project-unknown-field",
        "POST",
        "/api/v1/projects",
        {"name": "x", "color": "red"},
        mentions="color",
    ),
    Case("project-missing-name", "POST", "/api/v1/projects", {}, mentions="name"),
    Case("project-name-type", "POST", "/api/v1/projects", {"name": {"n": 1}}, mentions="name"),
    Case("project-name-empty", "POST", "/api/v1/projects", {"name": ""}, mentions="name"),
    Case("project-name-too-long", "POST", "/api/v1/projects", {"name": "n" * 121}, mentions="name"),
    Case("project-nul-in-name", "POST", "/api/v1/projects", {"name": "al\x00pha"}, mentions="name"),
    Case("project-nul-in-id", "GET", "/api/v1/projects/%00", status=400),
    Case("project-non-utf8-id", "GET", "/api/v1/projects/%FF%FE", status=404),
    Case(
        "ui-project-nul-in-name",
        "POST",
        "/ui/projects",
        b"name=al%00pha",
        mentions="name",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Case("ui-row-nul-in-id", "GET", "/ui/servers/%00/row", status=400),
    Case("project-malformed", "POST", "/api/v1/projects", b"{name: alpha}"),
    Case("project-huge-id", "GET", "/api/v1/projects/" + "p" * 5_000, status=404),
    Case(
        "members-unknown-role",
        "POST",
        f"/api/v1/projects/{PID}/members",
        {"email": "a@b.c", "role": "god"},
        mentions="role",
    ),
    Case(
        "members-nul-in-email",
        "POST",
        f"/api/v1/projects/{PID}/members",
        {"email": "a\x00@b.c", "role": "viewer"},
        mentions="email",
    ),
    Case(
        "members-unknown-field",
        "POST",
        f"/api/v1/projects/{PID}/members",
        {"email": "a@b.c", "role": "viewer", "x": 1},
        mentions="x",
    ),
    Case(
        "member-role-unknown",
        "PATCH",
        f"/api/v1/projects/{PID}/members/someone",
        {"role": "god"},
        mentions="role",
    ),
    Case("member-nul-in-user-id", "DELETE", f"/api/v1/projects/{PID}/members/%00", status=400),
    Case(
        "password-too-short",
        "POST",
        "/api/v1/auth/password",
        {"current_password": "x", "new_password": "short"},
        mentions="new_password",
    ),
    Case(
        "password-nul",
        "POST",
        "/api/v1/auth/password",
        {"current_password": "x", "new_password": "long enough\x00"},
        mentions="new_password",
    ),
    # --- registration tokens (strict, authenticated) ---
    Case(
        "token-unknown-field",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": PID, "forever": True},
        mentions="forever",
    ),
    Case("token-missing-project", "POST", "/api/v1/servers/tokens", {}, mentions="project_id"),
    Case(
        "token-project-type",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": ["a"]},
        mentions="project_id",
    ),
    Case(
        "token-hours-type",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": PID, "expires_in_hours": "soon"},
        mentions="expires_in_hours",
    ),
    Case(
        "token-hours-negative",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": PID, "expires_in_hours": -1},
        mentions="expires_in_hours",
    ),
    Case(
        "token-hours-huge",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": PID, "expires_in_hours": 10**40},
        mentions="expires_in_hours",
    ),
    Case(
        "token-hours-float",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": PID, "expires_in_hours": 1.5},
        mentions="expires_in_hours",
    ),
    Case(
        "token-nul-in-project",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": "\x00"},
        mentions="project_id",
    ),
    Case(
        "token-project-too-long",
        "POST",
        "/api/v1/servers/tokens",
        {"project_id": "p" * 65},
        mentions="project_id",
    ),
    # --- server listing (query params) ---
    Case("servers-no-project", "GET", "/api/v1/servers", mentions="project_id"),
    Case(
        "servers-project-too-long",
        "GET",
        "/api/v1/servers?project_id=" + "p" * 65,
        mentions="project_id",
    ),
    Case(
        "servers-query-very-long",
        "GET",
        "/api/v1/servers?project_id=" + "p" * 20_000,
        mentions="project_id",
    ),
    Case("servers-nul-in-project", "GET", "/api/v1/servers?project_id=%00", status=400),
    Case("servers-non-utf8-project", "GET", "/api/v1/servers?project_id=%FF%FE", status=404),
    Case("servers-nul-in-id", "GET", "/api/v1/servers/%00", status=400),
    Case("servers-huge-id", "GET", "/api/v1/servers/" + "s" * 5_000, status=404),
    # --- daemon REST (tolerant bodies, but typed) ---
    Case(
        "register-missing-token",
        "POST",
        "/api/v1/servers/register",
        {"name": "n"},
        mentions="registration_token",
    ),
    Case(
        "register-token-type",
        "POST",
        "/api/v1/servers/register",
        {"name": "n", "registration_token": 5},
        mentions="registration_token",
    ),
    Case(
        "register-repos-type",
        "POST",
        "/api/v1/servers/register",
        {"name": "n", "registration_token": "t", "repos": ["a"]},
        mentions="repos",
    ),
    Case(
        "register-system-info-type",
        "POST",
        "/api/v1/servers/register",
        {"name": "n", "registration_token": "t", "system_info": 3},
        mentions="system_info",
    ),
    Case(
        "register-bad-token",
        "POST",
        "/api/v1/servers/register",
        {"name": "n", "registration_token": "orcreg_\xff.?"},
        status=401,
    ),
    Case(
        "register-nul-in-token",
        "POST",
        "/api/v1/servers/register",
        {"name": "n", "registration_token": "orcreg_\x00"},
        mentions="registration_token",
    ),
    Case(
        "register-nul-in-name",
        "POST",
        "/api/v1/servers/register",
        {"name": "n\x00", "registration_token": "t"},
        mentions="name",
    ),
    Case("register-malformed", "POST", "/api/v1/servers/register", b"[[["),
    Case("heartbeat-no-key-bad-body", "POST", "/api/v1/servers/heartbeat", b"{", status=422),
    Case(
        "heartbeat-bad-key",
        "POST",
        "/api/v1/servers/heartbeat",
        {},
        status=401,
        headers={"X-API-Key": "orc_\u00e9".encode("latin-1") + b"k" * 600},
    ),
]


def _detail_mentions(body: Any, name: str) -> bool:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        return any(name in [str(p) for p in err.get("loc", [])] for err in detail)
    return isinstance(detail, str) and name in detail


async def _send(client: httpx.AsyncClient, case: Case, project_id: str) -> httpx.Response:
    path = case.path.replace(PID, project_id)
    headers = {
        k.lower().encode(): v if isinstance(v, bytes) else v.encode()
        for k, v in case.headers.items()
    }
    if isinstance(case.body, bytes):
        headers.setdefault(b"content-type", b"application/json")
        return await client.request(case.method, path, content=case.body, headers=headers)
    if case.body is None:
        return await client.request(case.method, path, headers=headers)
    content = json.dumps(case.body).replace(PID, project_id).encode()
    headers.setdefault(b"content-type", b"application/json")
    return await client.request(case.method, path, content=content, headers=headers)


async def test_bad_requests_get_precise_4xx(admin: httpx.AsyncClient, project_id: str) -> None:
    problems: list[str] = []
    for case in CASES:
        res = await _send(admin, case, project_id)
        if res.status_code != case.status:
            problems.append(f"{case.name}: {res.status_code} {res.text[:200]}")
            continue
        if SECRET in res.text:
            problems.append(f"{case.name}: echoed the password")
        if res.status_code >= 400:
            try:
                body = res.json()
            except ValueError:
                problems.append(f"{case.name}: non-JSON error body {res.text[:100]!r}")
                continue
            if "detail" not in body:
                problems.append(f"{case.name}: no detail in {body}")
            if case.mentions and not _detail_mentions(body, case.mentions):
                problems.append(f"{case.name}: detail does not name {case.mentions}: {body}")
    assert not problems, "\n".join(problems)
    # And the hub took none of it badly.
    assert (await admin.get("/api/v1/health")).status_code == 200
    res = await admin.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    yield b'{"name": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_oversize_bodies_get_413(admin: httpx.AsyncClient) -> None:
    for path in ("/api/v1/projects", "/api/v1/auth/login", "/api/v1/servers/register"):
        await _assert_413(admin, path)


async def _assert_413(client: httpx.AsyncClient, path: str) -> None:
    declared = await client.post(
        path, content=b"x" * (MAX_BODY + 1), headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert str(MAX_BODY) in declared.json()["detail"]

    streamed = await client.post(
        path, content=_chunks(MAX_BODY * 2), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    assert streamed.status_code == 413
    assert str(MAX_BODY) in streamed.json()["detail"]

    # Just under the limit is parsed normally.
    fits = await client.post(path, json={"name": "y" * (MAX_BODY - 1000)})
    assert fits.status_code in (401, 422)


async def test_login_failure_bodies_never_echo_the_password(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        for body in (
            _login(),
            _login(email="nobody@a.example"),
            _login(extra=SECRET),
            {"email": SECRET, "password": SECRET},
            {"email": "alice@a.example", "password": SECRET, "password2": SECRET},
        ):
            res = await anon.post("/api/v1/auth/login", json=body)
            assert res.status_code in (401, 422), res.text
            assert SECRET not in res.text


def _integer_query_parameters() -> list[tuple[str, str]]:
    """Every (path, query parameter) of the hub's GET routes that takes an integer, read from
    the app's OpenAPI schema so a new route cannot be missed."""
    schema = create_app(HubSettings(database_url="sqlite+aiosqlite://")).openapi()
    found = []
    for path, operations in schema["paths"].items():
        for param in operations.get("get", {}).get("parameters", []):
            types = [param["schema"], *param["schema"].get("anyOf", [])]
            if param["in"] == "query" and any(t.get("type") == "integer" for t in types):
                found.append((path, param["name"]))
    return found


INTEGER_QUERIES = _integer_query_parameters()
# Past a 64-bit column, at its edge (where offset + limit overflows), and below any count.
OUT_OF_RANGE = [2**64, 2**63 - 1, 10**30, -1, -(2**63)]


def test_integer_query_parameters_are_found() -> None:
    assert ("/api/v1/sessions/{session_id}/output", "offset") in INTEGER_QUERIES


@pytest.mark.parametrize(("path", "name"), INTEGER_QUERIES)
async def test_integer_query_parameters_are_bounded(
    admin: httpx.AsyncClient, path: str, name: str
) -> None:
    url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
    for value in OUT_OF_RANGE:
        res = await admin.get(url, params={name: str(value)})
        assert res.status_code == 422, (value, res.status_code, res.text)
        assert _detail_mentions(res.json(), name), res.text
