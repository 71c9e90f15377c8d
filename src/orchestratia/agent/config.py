"""The daemon's configuration file: where the hub is and the key that proves who we are."""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestratia.agent.files import write_private_file
from orchestratia.agent.metrics_server import parse_listen

log = logging.getLogger(__name__)

CONFIG_ENV = "ORCHESTRATIA_AGENT_CONFIG"
CONFIG_FILENAME = "agent.yaml"


class ConfigError(Exception):
    """The agent config is missing, unreadable or invalid; the message says which and where."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def default_config_path() -> Path:
    """``$ORCHESTRATIA_AGENT_CONFIG``, else ``$XDG_CONFIG_HOME/orchestratia/agent.yaml``.

    XDG says a relative ``XDG_CONFIG_HOME`` is invalid and must be ignored, so it falls back to
    ``~/.config`` in that case.
    """
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "orchestratia" / CONFIG_FILENAME


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/orchestratia/sessions``, else ``~/.local/state/orchestratia/sessions``."""
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "orchestratia" / "sessions"


class AgentConfig(BaseModel):
    # Unknown keys are refused: a misspelt ``heartbeat_intervall`` should be an error, not a
    # silently ignored setting.
    model_config = ConfigDict(extra="forbid")

    hub_url: str = Field(min_length=1, max_length=2048)
    api_key: str = Field(min_length=1, max_length=512)
    server_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    repos: dict[str, str] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    heartbeat_interval: float = Field(default=15.0, gt=0, le=300)
    # The private tmux server (``tmux -L``) sessions run on; tests give each their own.
    tmux_socket: str = Field(default="orchestratia", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    # Session logs, acks and metadata; None: ``default_state_dir()``.
    state_dir: Path | None = None
    # Extra secret patterns (regexes) masked in session output, on top of the built-in ones.
    redact_patterns: list[str] = Field(default_factory=list, max_length=200)
    # Quiet output needed before a normal delivery is typed into a session (urgent ones skip it).
    delivery_idle_seconds: float = Field(default=3.0, ge=0, le=300)
    # Local /metrics and /healthz: "127.0.0.1:9465" or "unix:/path.sock"; off when unset.
    metrics_listen: str | None = Field(default=None, max_length=1024)
    # PEM bundle of the CA that signed the hub's certificate, when it is not in the system's
    # trust store (a private CA). Verification itself is never off.
    ca_file: Path | None = None
    # Allow plain http:// / ws:// to a hub that is not on this machine (a trusted network only).
    allow_insecure: bool = False

    @field_validator("hub_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("metrics_listen")
    @classmethod
    def _loopback_only(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)  # a ListenError (a ValueError) names what is wrong
        return value

    @field_validator("ca_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Sessions run elsewhere (their own working directory) and get this path too.
        return value.expanduser().absolute() if value is not None else None

    @field_validator("redact_patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern.encode())
            except (re.error, UnicodeEncodeError) as exc:
                raise ValueError(f"bad pattern {pattern!r}: {exc}") from None
            if re.fullmatch(pattern.encode(), b"") is not None:
                raise ValueError(f"pattern {pattern!r} matches the empty string")
        return value

    def sessions_dir(self) -> Path:
        """Where session state lives: ``state_dir`` if set, else ``default_state_dir()``."""
        return (self.state_dir or default_state_dir()).expanduser()

    @classmethod
    def load(cls, path: Path | None = None) -> AgentConfig:
        """Read and validate the config at ``path`` (default: ``default_config_path()``).

        Raises ConfigError with a one-line reason when the file is missing or invalid.
        """
        path = path or default_config_path()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"no agent config at {path}; run `orchestratia agent register TOKEN` first", path
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read agent config {path}: {exc}", path) from exc
        _warn_if_exposed(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"agent config {path} is not valid YAML: {exc}", path) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"agent config {path} must be a YAML mapping of settings", path)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"agent config {path} is invalid: {_describe(exc)}", path) from exc

    def save(self, path: Path | None = None) -> Path:
        """Write the config atomically, file 0600 and newly created directories 0700."""
        path = path or default_config_path()
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
        try:
            write_private_file(path, text.encode("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot write agent config {path}: {exc}", path) from exc
        return path


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(item) for item in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _warn_if_exposed(path: Path) -> None:
    # The file holds the server key; like ssh, say so loudly rather than refuse to start.
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("agent config %s is readable by others (mode %o); run chmod 600", path, mode)
