"""The daemon's side of ``hub_tls``: its config's ``ca_file`` and ``allow_insecure`` turned into
TLS contexts, the plain-transport refusal and one-line certificate errors."""

from __future__ import annotations

import ssl
from typing import Any

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.hub_tls import (
    certificate_error,
    certificate_message,
    check_plain_transport,
    client_context,
)

CA_FIX = "set `ca_file: /path/to/ca.pem` in the agent config"
INSECURE_FIX = "set `allow_insecure: true` in the agent config"


def check_transport(config: AgentConfig) -> None:
    """Raise HubTlsError when the config would talk plain HTTP/WS to another machine."""
    check_plain_transport(config.hub_url, config.allow_insecure, INSECURE_FIX)


def tls_context(config: AgentConfig) -> ssl.SSLContext:
    """The verifying context for the hub (raises HubTlsError for an unusable ``ca_file``)."""
    return client_context(config.ca_file)


def websocket_tls(config: AgentConfig, url: str) -> dict[str, Any]:
    """The TLS arguments for connecting to ``url`` (none for ws://, which websockets requires),
    after refusing plain WebSocket to another machine; raises HubTlsError."""
    check_transport(config)
    return {"ssl": tls_context(config)} if url.startswith("wss://") else {}


def failure_message(config: AgentConfig, exc: BaseException) -> str | None:
    """The one-line message for a certificate failure behind ``exc``; None for other errors."""
    error = certificate_error(exc)
    return certificate_message(config.hub_url, error, CA_FIX) if error is not None else None
