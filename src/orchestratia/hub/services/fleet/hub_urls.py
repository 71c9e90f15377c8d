"""The hub URL a registration token carries: checking one a person typed, and spotting one that
only the hub's own machine can reach."""

from __future__ import annotations

from urllib.parse import urlsplit

from orchestratia.loopback import is_loopback as loopback_host


class BadHubUrl(ValueError):
    """The text cannot be a hub URL; the message is a sentence for the user."""


def clean_hub_url(text: str) -> str:
    """``text`` as the base URL a daemon dials: http(s), a host, an optional port and path; no
    credentials, query or fragment (they would be silently dropped or leak). No trailing slash."""
    url = text.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise BadHubUrl(f"Hub URL is not a valid URL ({exc}).") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadHubUrl("Hub URL must start with http:// or https:// and name a host.")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise BadHubUrl("Hub URL must not contain a user name, password, query or fragment.")
    return url.rstrip("/")


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    return loopback_host(urlsplit(url).hostname or "")
