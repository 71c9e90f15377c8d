"""Standard Webhooks signatures: the ``whsec_`` secret, and the ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers of one attempt.

The signature is ``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` with the
secret's 32 raw bytes. During a rotation's overlap both secrets sign and both signatures go out,
space-separated, so a receiver holding either one verifies. Secrets are sealed at rest
(``hub.sealing``) and opened only here, just before signing; they are never logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from orchestratia.hub.db.integration_models import WebhookEndpoint
from orchestratia.hub.sealed_columns import WEBHOOK_PREVIOUS_SECRET, WEBHOOK_SECRET
from orchestratia.hub.sealing import Keyring

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + base64 of 32 random bytes (shown to the owner once)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` under ``secret``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    signing_secrets: list[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret given."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, msg_id, timestamp, body) for secret in signing_secrets
        ),
    }


def seal_secret(keyring: Keyring, endpoint_id: str, secret: str) -> str:
    """``secret`` sealed for ``endpoint_id``'s ``secret_sealed`` column."""
    return keyring.seal(secret, WEBHOOK_SECRET.aad(endpoint_id))


def seal_previous_secret(keyring: Keyring, endpoint_id: str, secret: str) -> str:
    """``secret`` sealed for ``endpoint_id``'s ``previous_secret_sealed`` column (rotation)."""
    return keyring.seal(secret, WEBHOOK_PREVIOUS_SECRET.aad(endpoint_id))


def signing_secrets(keyring: Keyring, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign ``endpoint``'s requests at ``now``: the current one, and the
    previous one while a rotation's overlap lasts."""
    found = [keyring.open(endpoint.secret_sealed, WEBHOOK_SECRET.aad(endpoint.id))]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed and expires is not None and expires > now:
        previous = endpoint.previous_secret_sealed
        found.append(keyring.open(previous, WEBHOOK_PREVIOUS_SECRET.aad(endpoint.id)))
    return found
