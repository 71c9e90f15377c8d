"""Registration token format: ``orcreg_`` + base64url(hub URL, no padding) + ``.`` + secret.

The hub URL travels inside the token, so ``orchestratia agent register TOKEN`` needs nothing else.
"""

from __future__ import annotations

import base64
import binascii

REGISTRATION_PREFIX = "orcreg_"
SERVER_KEY_PREFIX = "orc_"
SESSION_TOKEN_PREFIX = "orcs_"


class MalformedToken(ValueError):
    """The string is not a registration token."""


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def encode_registration_token(hub_url: str, secret: str) -> str:
    return f"{REGISTRATION_PREFIX}{_b64url_encode(hub_url.rstrip('/').encode())}.{secret}"


def decode_hub_url(token: str) -> str:
    """Return the hub URL embedded in a registration token, or raise MalformedToken."""
    if not token.startswith(REGISTRATION_PREFIX) or "." not in token:
        raise MalformedToken("registration token must look like orcreg_<hub>.<secret>")
    encoded, _, secret = token[len(REGISTRATION_PREFIX) :].partition(".")
    if not encoded or not secret:
        raise MalformedToken("registration token is missing its hub URL or its secret")
    try:
        url = _b64url_decode(encoded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise MalformedToken("registration token's hub URL is not valid base64url") from exc
    if not url.startswith(("http://", "https://")):
        raise MalformedToken("registration token does not hold an http(s) hub URL")
    return url


def websocket_url(hub_url: str, path: str) -> str:
    """Map the hub's HTTP base URL to the WebSocket URL of ``path``."""
    base = hub_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + path
