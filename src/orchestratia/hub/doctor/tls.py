"""The hub's own TLS certificate and key, checked: readable, a matching
pair, and not expired. Which settings name them belongs to ``hub serve``'s TLS support; this
module only reads the files those settings point at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from orchestratia.hub.doctor.findings import Finding
from orchestratia.hub.settings import HubSettings

# The setting names a certificate/key pair may go by (serve's TLS options land in one of them).
PAIRS = (("tls_certfile", "tls_keyfile"), ("ssl_certfile", "ssl_keyfile"), ("certfile", "keyfile"))
RENEW_WITHIN = timedelta(days=14)


def configured(settings: HubSettings) -> tuple[Path, Path | None] | None:
    for cert_name, key_name in PAIRS:
        cert = getattr(settings, cert_name, None)
        if cert:
            key = getattr(settings, key_name, None)
            return Path(cert), Path(key) if key else None
    return None


def check(settings: HubSettings) -> Finding:
    pair = configured(settings)
    if pair is None:
        return Finding("TLS", "ok", "not configured: plain HTTP here, or TLS ends at a proxy")
    cert_path, key_path = pair
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        return Finding("TLS", "fail", f"certificate {cert_path}: {exc}", "point it at a PEM file")
    if key_path is not None:
        try:
            key = load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            return Finding("TLS", "fail", f"key {key_path}: {exc}", "point it at a PEM key")
        if _spki(key.public_key()) != _spki(cert.public_key()):
            return Finding("TLS", "fail", f"{key_path} is not the key of {cert_path}", "")
    left = cert.not_valid_after_utc - datetime.now(UTC)
    if left <= timedelta(0):
        return Finding("TLS", "fail", f"{cert_path} expired {-left.days} days ago", "renew it")
    if left < RENEW_WITHIN:
        return Finding("TLS", "warn", f"{cert_path} expires in {left.days} days", "renew it")
    return Finding("TLS", "ok", f"{cert_path} valid for {left.days} more days")


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined,no-any-return]
