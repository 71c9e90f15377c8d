"""Where the agent CLI finds its hub and how it reaches it: explicit options, then the
environment a session gets from its daemon, then the daemon's own config file.

Imports only the standard library at import time (the CLI runs many times a minute).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 15.0
ENV_HUB_URL = "ORCHESTRATIA_HUB_URL"
ENV_API_KEY = "ORCHESTRATIA_API_KEY"
ENV_SESSION_ID = "ORCHESTRATIA_SESSION_ID"
ENV_PROJECT_ID = "ORCHESTRATIA_PROJECT_ID"
ENV_ROLE = "ORCHESTRATIA_ROLE"
ENV_TIMEOUT = "ORCHESTRATIA_TIMEOUT"
ENV_CA_FILE = "ORCHESTRATIA_CA_FILE"
CA_FIX = "set ORCHESTRATIA_CA_FILE=/path/to/ca.pem"
INSECURE_FIX = "set ORCHESTRATIA_ALLOW_INSECURE=1"


class AgentApiError(Exception):
    """A failed call, already phrased as the one line the user sees."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HubReplyError(AgentApiError):
    """The hub answered, but not with the shape this CLI knows."""


@dataclass
class AgentOptions:
    """What the command line said explicitly; it wins over environment and config file.

    ``transport`` lets tests put an ``httpx.MockTransport`` under the real client.
    """

    hub_url: str | None = None
    api_key: str | None = None
    session_id: str | None = None
    project_id: str | None = None
    role: str | None = None
    timeout: float | None = None
    config_path: Path | None = None
    as_json: bool = False
    transport: Any = None


@dataclass(frozen=True)
class ClientConfig:
    hub_url: str
    api_key: str
    session_id: str | None
    project_id: str | None
    role: str | None
    timeout: float
    # How to reach the hub: a private CA's bundle, and plain HTTP to another machine allowed.
    ca_file: str | None = None
    allow_insecure: bool = False


def read_daemon_config(path: Path) -> dict[str, str]:
    """``hub_url``, ``api_key``, ``ca_file`` and ``allow_insecure`` from the daemon's YAML
    config (those set); ``{}`` when there is none."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise AgentApiError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AgentApiError(f"config file {path} is not a YAML mapping")
    return {
        k: str(data[k]) for k in ("hub_url", "api_key", "ca_file", "allow_insecure") if data.get(k)
    }


def _parse_timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise AgentApiError(f"{ENV_TIMEOUT} must be a number of seconds in (0, 3600], not {raw!r}")
    return value


def resolve_config(
    options: AgentOptions,
    env: Mapping[str, str] | None = None,
    default_timeout: float = DEFAULT_TIMEOUT,
) -> ClientConfig:
    """Explicit option > environment > the daemon's config file, field by field."""
    from orchestratia.agent.link.hub_tls import ENV_ALLOW_INSECURE, ENV_CA_FILE, env_flag

    env = os.environ if env is None else env
    hub_url = options.hub_url or env.get(ENV_HUB_URL) or None
    api_key = options.api_key or env.get(ENV_API_KEY) or None
    ca_file = env.get(ENV_CA_FILE) or None
    allow_insecure = env_flag(env, ENV_ALLOW_INSECURE)
    if not (hub_url and api_key):
        path = options.config_path
        if path is None:
            # Imported here: the daemon config module pulls in pydantic, and inside a session
            # the environment already has everything.
            from orchestratia.agent.config import default_config_path

            path = default_config_path()
        stored = read_daemon_config(path)
        hub_url = hub_url or stored.get("hub_url")
        api_key = api_key or stored.get("api_key")
        ca_file = ca_file or stored.get("ca_file")
        allow_insecure = allow_insecure or env_flag(stored, "allow_insecure")
    if not hub_url:
        raise AgentApiError(
            f"no hub URL: set {ENV_HUB_URL}, pass --hub-url, or register this machine's daemon"
        )
    if not hub_url.startswith(("http://", "https://")):
        raise AgentApiError(f"hub URL must start with http:// or https://, not {hub_url!r}")
    if not api_key:
        raise AgentApiError(f"no API key: set {ENV_API_KEY} or pass --api-key")
    _check_plain_transport(hub_url, allow_insecure)
    if options.timeout is not None:
        timeout = _parse_timeout(str(options.timeout))
    elif env.get(ENV_TIMEOUT):
        timeout = _parse_timeout(env[ENV_TIMEOUT])
    else:
        timeout = default_timeout
    return ClientConfig(
        hub_url=hub_url.rstrip("/"),
        api_key=api_key,
        session_id=options.session_id or env.get(ENV_SESSION_ID) or None,
        project_id=options.project_id or env.get(ENV_PROJECT_ID) or None,
        role=options.role or env.get(ENV_ROLE) or None,
        timeout=timeout,
        ca_file=ca_file,
        allow_insecure=allow_insecure,
    )


def _check_plain_transport(hub_url: str, allow_insecure: bool) -> None:
    from orchestratia.agent.link.hub_tls import HubTlsError, check_plain_transport

    try:
        check_plain_transport(hub_url, allow_insecure, INSECURE_FIX)
    except HubTlsError as exc:
        raise AgentApiError(str(exc)) from None


def tls_context(ca_file: str | None) -> Any:
    from orchestratia.agent.link.hub_tls import HubTlsError, client_context

    try:
        return client_context(Path(ca_file) if ca_file else None)
    except HubTlsError as exc:
        raise AgentApiError(f"{exc} ({ENV_CA_FILE})") from None
