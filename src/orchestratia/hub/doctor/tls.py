"""The hub's own TLS certificate and key, checked: readable, a matching pair (the very check
``hub serve`` makes before it listens, in ``hub/tls.py``), and not expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestratia.hub.doctor.findings import Finding
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.tls import TlsFilesError, check_tls_files, server_certificate

RENEW_WITHIN = timedelta(days=14)


def check(settings: HubSettings) -> Finding:
    cert_path, key_path = settings.tls_certfile, settings.tls_keyfile
    if cert_path is None:
        return Finding("TLS", "ok", "not configured: plain HTTP here, or TLS ends at a proxy")
    try:
        # Without a key in the settings, ``hub serve`` is given one on its command line.
        if key_path is None:
            cert = server_certificate(cert_path)
        else:
            cert = check_tls_files(cert_path, key_path)
    except TlsFilesError as exc:
        return Finding("TLS", "fail", str(exc), "give hub serve a PEM certificate and its key")
    left = cert.not_valid_after_utc - datetime.now(UTC)
    if left <= timedelta(0):
        return Finding("TLS", "fail", f"{cert_path} expired {-left.days} days ago", "renew it")
    if left < RENEW_WITHIN:
        return Finding("TLS", "warn", f"{cert_path} expires in {left.days} days", "renew it")
    return Finding("TLS", "ok", f"{cert_path} valid for {left.days} more days")
