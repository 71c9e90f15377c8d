"""How the daemon and the agent CLI reach the hub safely: TLS verified against the system's
trust store (or a CA bundle the user names), and no plain ``http://``/``ws://`` to another
machine unless the user says the network is trusted.

Shared by the daemon (``ca_file`` / ``allow_insecure`` in its config) and the CLI
(``ORCHESTRATIA_CA_FILE`` / ``ORCHESTRATIA_ALLOW_INSECURE``, which the daemon sets in every
session it starts). Standard library only, so the CLI stays quick to start.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from orchestratia.loopback import is_loopback

ENV_CA_FILE = "ORCHESTRATIA_CA_FILE"
ENV_ALLOW_INSECURE = "ORCHESTRATIA_ALLOW_INSECURE"
TRUE_WORDS = frozenset(("1", "true", "yes", "on"))


class HubTlsError(Exception):
    """The hub cannot be reached safely as configured; the message is one line with the fix."""


def check_plain_transport(hub_url: str, allow_insecure: bool, fix: str) -> None:
    """Raise HubTlsError for an ``http://`` hub URL (its WebSocket is ``ws://``) on a host that
    is not loopback, unless ``allow_insecure``. ``fix`` says how to allow it where this runs."""
    parts = urlsplit(hub_url)
    if parts.scheme != "http" or allow_insecure or is_loopback(parts.hostname or ""):
        return
    raise HubTlsError(
        f"refusing plain http:// / ws:// to {parts.hostname}: the server key and terminal "
        f"output would cross the network unencrypted; use an https:// hub URL, or {fix} "
        "if this network is trusted"
    )


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying TLS client context: the system trust store, plus ``ca_file`` when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise HubTlsError(f"cannot use CA bundle {ca_file}: {reason}") from None
    return context


def certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc`` (httpx and websockets wrap it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def certificate_message(hub_url: str, error: ssl.SSLCertVerificationError, fix: str) -> str:
    """One line: which host, what OpenSSL said, and how to trust the hub's CA."""
    host = urlsplit(hub_url).hostname or hub_url
    reason = error.verify_message or error.reason or str(error)
    return (
        f"TLS to the hub at {host} failed: certificate verify failed: {reason}; "
        f"if its certificate comes from a private CA, {fix}"
    )


def env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in TRUE_WORDS


def session_variables(ca_file: Path | None, allow_insecure: bool) -> dict[str, str]:
    """What the CLI in a session needs to reach the hub the way its daemon does."""
    env: dict[str, str] = {}
    if ca_file is not None:
        env[ENV_CA_FILE] = str(ca_file)
    if allow_insecure:
        env[ENV_ALLOW_INSECURE] = "1"
    return env
