"""Secrets at rest that must be read back, sealed with AES-256-GCM.

A sealed value is ``v1.<key id>.<base64url(nonce || ciphertext || tag)>``. The associated data
names the row and column it belongs to (``sealed_for``), so a value copied into another row or
column does not open. Keys never live in the database: they come from files in
``<data dir>/keys/`` (``<key id>.key``, base64url of 32 random bytes; ``current`` names the one
new values are sealed with) and from ``ORCHESTRATIA_ENCRYPTION_KEYS`` (``id:base64url,…``, the
first one current), which wins when set.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEYS_ENV = "ORCHESTRATIA_ENCRYPTION_KEYS"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class SealingError(Exception):
    """A sealed value that does not open: unknown key, wrong row, or tampered with."""


def sealed_for(table: str, column: str, row_id: str) -> bytes:
    """The associated data binding a sealed value to one column of one row."""
    return f"{table}.{column}:{row_id}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_of(sealed: str) -> str:
    """The id of the key ``sealed`` was sealed with."""
    version, _, rest = sealed.partition(".")
    kid, _, _ = rest.partition(".")
    if version != VERSION or not kid:
        raise SealingError("not a sealed value")
    return kid


@dataclass
class Keyring:
    keys: dict[str, bytes]
    current: str

    def seal(self, plaintext: str, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), aad)
        return f"{VERSION}.{self.current}.{_b64(nonce + body)}"

    def open(self, sealed: str, aad: bytes) -> str:
        kid = key_id_of(sealed)
        key = self.keys.get(kid)
        if key is None:
            raise SealingError(f"sealed with key {kid!r}, which this hub does not have")
        try:
            raw = _unb64(sealed.split(".", 2)[2])
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise SealingError(
                "sealed value does not open (altered, or moved from its row)"
            ) from exc

    @classmethod
    def load(cls, data_dir: Path, env: str | None = None) -> Keyring:
        """The keys from ``env`` (``KEYS_ENV``'s value) when given, else from the data dir,
        where a first key is made if there is none."""
        if env:
            keys = dict(_parse_env_key(item) for item in env.split(",") if item.strip())
            if not keys:
                raise SealingError(f"{KEYS_ENV} holds no keys")
            return cls(keys, next(iter(keys)))
        directory = keys_dir(data_dir)
        if not (directory / "current").exists():
            add_key(data_dir, make_current=True)
        keys = {
            path.stem: _parse_key(path.read_text().strip(), path.name)
            for path in directory.glob("*.key")
        }
        current = (directory / "current").read_text().strip()
        if current not in keys:
            raise SealingError(f"{directory / 'current'} names key {current!r}, which is missing")
        return cls(keys, current)


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "keys"


def add_key(data_dir: Path, *, make_current: bool) -> str:
    """Write a new random key into the data dir (0600, directory 0700); its id."""
    directory = keys_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    kid = "k" + secrets.token_hex(4)
    fd = os.open(directory / f"{kid}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(_b64(os.urandom(KEY_BYTES)) + "\n")
    if make_current:
        set_current(data_dir, kid)
    return kid


def set_current(data_dir: Path, kid: str) -> None:
    """Point ``current`` at ``kid`` atomically (a crash leaves the old or the new, never half)."""
    directory = keys_dir(data_dir)
    tmp = directory / "current.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(kid + "\n")
    tmp.replace(directory / "current")


def _parse_key(text: str, where: str) -> bytes:
    try:
        key = _unb64(text)
    except (ValueError, binascii.Error) as exc:
        raise SealingError(f"{where}: not base64url") from exc
    if len(key) != KEY_BYTES:
        raise SealingError(f"{where}: a key is {KEY_BYTES} bytes, this one is {len(key)}")
    return key


def _parse_env_key(item: str) -> tuple[str, bytes]:
    kid, sep, text = item.strip().partition(":")
    if not sep or not _KEY_ID.fullmatch(kid):
        raise SealingError(f"{KEYS_ENV}: expected id:base64url, got {kid!r}")
    return kid, _parse_key(text, f"{KEYS_ENV} key {kid!r}")
