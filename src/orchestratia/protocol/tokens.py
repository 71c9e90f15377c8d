"""Every bearer token the hub issues, by prefix, and the registration token's format.

A registration token is ``orcreg_`` + base64url(hub URL, no padding) + ``.`` + secret: the hub
URL travels inside it, so ``orchestratia agent register TOKEN`` needs nothing else.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
import zlib
from enum import StrEnum


class TokenKind(StrEnum):
    """The prefix of each kind of token the hub issues.

    The one list: the hub makes its tokens from these (``security.new_secret`` takes a kind, not
    a string) and the daemon masks every one of them in terminal output (``agent.redaction``),
    so a new kind of token is masked the day it is added here.
    """

    REGISTRATION = "orcreg_"  # one-time server registration
    SERVER_KEY = "orc_"  # a registered server's API key
    SESSION = "orcs_"  # a terminal session's token, for the agent CLI inside it
    LOGIN = "orcu_"  # a user's login (cookie or bearer)
    SHARE = "orcsh_"  # a read-only share link
    API_KEY = "orck_"  # a user's key for the External Service API
    INVITE = "orcinv_"  # a one-time invite link into a project
    LOGIN_CHALLENGE = "orcmfa_"  # a right password waiting for its second factor


# Random bytes in every secret the hub makes, and the base64url characters they become (no
# padding): the daemon relies on a token's body being at least this long (``agent.redaction``).
SECRET_BYTES = 32
SECRET_CHARS = -(-SECRET_BYTES * 4 // 3)


# Longest prefix first so ``orcsh_`` is not read as ``orcs_`` + "h…"; the body runs over every
# character a token can hold (base64url, and the ``.`` of a registration token).
_TOKEN = re.compile(
    "("
    + "|".join(re.escape(kind.value) for kind in sorted(TokenKind, key=len, reverse=True))
    + ")"
    + r"[A-Za-z0-9_\-.]+"
)
MASK = "***"

# A user API key ends in CHECKSUM_CHARS base62 characters of the CRC-32 of the rest, so secret
# scanners (and the hub, before any lookup) can tell a real key from a look-alike or a typo.
_BASE62 = string.digits + string.ascii_letters
CHECKSUM_CHARS = 6


def _crc_base62(text: str) -> str:
    value = zlib.crc32(text.encode())
    digits = ""
    for _ in range(CHECKSUM_CHARS):
        value, digit = divmod(value, 62)
        digits = _BASE62[digit] + digits
    return digits


def with_checksum(token: str) -> str:
    """``token`` followed by its checksum."""
    return token + _crc_base62(token)


def checksum_ok(token: str) -> bool:
    """Whether ``token`` ends in the checksum of what precedes it."""
    body, tail = token[:-CHECKSUM_CHARS], token[-CHECKSUM_CHARS:]
    return len(token) > CHECKSUM_CHARS and _crc_base62(body) == tail


def mask_tokens(text: str) -> str:
    """``text`` with the secret of every hub token replaced by ``***`` (its prefix kept, so a log
    still says which kind of token was there)."""
    return _TOKEN.sub(lambda m: m.group(1) + MASK, text)


class MalformedToken(ValueError):
    """The string is not a registration token."""


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def encode_registration_token(hub_url: str, secret: str) -> str:
    return f"{TokenKind.REGISTRATION}{_b64url_encode(hub_url.rstrip('/').encode())}.{secret}"


def decode_hub_url(token: str) -> str:
    """Return the hub URL embedded in a registration token, or raise MalformedToken."""
    if not token.startswith(TokenKind.REGISTRATION) or "." not in token:
        raise MalformedToken("registration token must look like orcreg_<hub>.<secret>")
    encoded, _, secret = token[len(TokenKind.REGISTRATION) :].partition(".")
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
