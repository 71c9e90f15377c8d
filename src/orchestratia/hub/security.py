"""Password hashing, secret generation and the digests we store instead of secrets."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from orchestratia.protocol.tokens import SECRET_BYTES, TokenKind

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both paths cost the same time.
    Made on first use, not at import: every hub and CLI process would pay for it at start-up."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(), password)
        return matched and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(kind: TokenKind | None = None, nbytes: int = SECRET_BYTES) -> str:
    """A random secret; a bearer token when it starts with its ``kind``'s prefix."""
    return (kind or "") + secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token_for(secret_key: bytes, session_token: str) -> str:
    """CSRF token bound to one login: HMAC of the session secret, so it needs no storage."""
    return hmac.new(secret_key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
