"""REST request and response bodies shared by hub, daemon and CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from orchestratia.protocol.numbers import ByteOffset, Int32, NonNegInt32

Role = Literal["owner", "member", "viewer"]
ServerStatus = Literal["online", "disconnected"]

JsonObject = dict[str, Any]


def reject_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL; refuse it here with a precise error, not a 500 later."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def not_blank(value: str) -> str:
    """A name or title a person reads must show something: whitespace alone is refused."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# For names and titles people type (tasks, projects, rules); stored values are left as typed.
NotBlank = AfterValidator(not_blank)


class StrictBody(BaseModel):
    """Bodies we author: unknown fields are a client bug worth a clear 422."""

    model_config = ConfigDict(extra="forbid")
    _no_nul = field_validator("*")(reject_nul)


class TolerantBody(BaseModel):
    """Bodies the public agent sends: newer agents may add fields, which we ignore."""

    model_config = ConfigDict(extra="ignore")
    _no_nul = field_validator("*")(reject_nul)


class LoginRequest(StrictBody):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(StrictBody):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    csrf_token: str


class UserPublic(BaseModel):
    id: str
    email: str
    tenant_id: str
    tenant_name: str
    is_tenant_admin: bool


class ProjectCreate(StrictBody):
    name: Annotated[str, Field(min_length=1, max_length=120), NotBlank]


class ProjectPublic(BaseModel):
    id: str
    name: str
    role: Role
    created_at: datetime
    # Set while "stop all agents" keeps auto-assignment paused (until resumed).
    assignment_paused_at: datetime | None = None


class ProjectList(BaseModel):
    projects: list[ProjectPublic]


class MemberCreate(StrictBody):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role


class MemberUpdate(StrictBody):
    role: Role


class MemberPublic(BaseModel):
    user_id: str
    email: str
    role: Role


class RegistrationTokenCreate(StrictBody):
    project_id: str = Field(min_length=1, max_length=64)
    expires_in_hours: int = Field(default=24, ge=1, le=24 * 30)


class RegistrationTokenPublic(BaseModel):
    token: str
    expires_at: datetime
    install_command: str


class RegisterRequest(TolerantBody):
    name: str = Field(min_length=1, max_length=200)
    hostname: str = Field(default="", max_length=255)
    ip: str | None = Field(default=None, max_length=64)
    os: str = Field(default="", max_length=200)
    repos: dict[str, str] = Field(default_factory=dict)
    system_info: JsonObject = Field(default_factory=dict)
    registration_token: str = Field(min_length=1, max_length=1024)
    machine_id: str | None = Field(default=None, max_length=200)
    mac_address: str | None = Field(default=None, max_length=64)
    # Our daemon also reports what it found; the public agent leaves these out.
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    agent_version: str | None = Field(default=None, max_length=64)


class RegisterResponse(BaseModel):
    id: str
    api_key: str
    name: str
    project_id: str


class HeartbeatRequest(TolerantBody):
    system_info: JsonObject = Field(default_factory=dict)


class HeartbeatResponse(BaseModel):
    status: Literal["ok"] = "ok"
    server_id: str


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class Liveness(BaseModel):
    """``/healthz``: the process is up."""

    status: Literal["ok"] = "ok"


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    """``/readyz``: ``ok`` only when every check (``database``, ``migrations``) passed."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, ReadinessCheck]


class ServerPublic(BaseModel):
    id: str
    project_id: str
    name: str
    hostname: str
    os: str
    ip: str | None
    status: ServerStatus
    last_seen: datetime | None
    system_info: JsonObject
    capabilities: list[str]
    agent_version: str | None
    repos: dict[str, str]
    labels: list[str]
    created_at: datetime


class ServerList(BaseModel):
    servers: list[ServerPublic]


class ErrorBody(BaseModel):
    detail: str | list[JsonObject]


SessionStatus = Literal["starting", "running", "exited", "lost"]


class SessionCreate(StrictBody):
    server_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    working_directory: str = Field(min_length=1, max_length=4096)
    command: str | None = Field(default=None, max_length=8192)
    agent_type: str | None = Field(default=None, max_length=64)
    role: Literal["worker", "orchestrator"] = "worker"
    cols: int = Field(default=120, ge=2, le=1000)
    rows: int = Field(default=40, ge=2, le=500)


class SessionPublic(BaseModel):
    id: str
    project_id: str
    server_id: str
    name: str
    working_directory: str
    command: str | None
    agent_type: str | None
    role: str
    status: SessionStatus
    exit_code: Int32 | None
    error: str | None
    pid: NonNegInt32 | None
    tmux_name: str | None
    cols: NonNegInt32
    rows: NonNegInt32
    output_offset: ByteOffset
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class SessionList(BaseModel):
    sessions: list[SessionPublic]


class ShareLinkCreate(StrictBody):
    mode: Literal["read"] = "read"
    expires_in_hours: int = Field(default=24, ge=1, le=24 * 30)


class ShareLinkPublic(BaseModel):
    id: str
    session_id: str
    mode: str
    url: str
    token: str
    expires_at: datetime
