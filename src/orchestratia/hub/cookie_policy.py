"""When the dashboard's cookies carry ``Secure``."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from orchestratia.hub.settings import HubSettings


def cookie_secure(request: HTTPConnection, settings: HubSettings) -> bool:
    """``cookie_secure`` when set; else whenever the browser reached us over HTTPS: directly (the
    hub's own TLS), through a proxy in ``trusted_proxies`` (whose X-Forwarded-Proto the
    proxy-headers middleware turned into the scheme; nobody else's is believed), or because the
    configured public URL is https (a proxy that does not say it terminated TLS)."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    if request.url.scheme == "https":
        return True
    return bool(settings.public_url and settings.public_url.lower().startswith("https://"))
