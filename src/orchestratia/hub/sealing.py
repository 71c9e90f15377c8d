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
    kid, dot, _ = rest.partition(".")
    if version != VERSION or not dot or not _KEY_ID.fullmatch(kid):
        raise SealingError("not a sealed value")
    return kid


@dataclass
class Keyring:
    keys: dict[str, bytes]
    current: str
    # Set for keys from the data dir: a running hub picks up a rotation made by
    # ``orchestratia hub rotate-keys`` (a new current key, values re-sealed with it) without
    # a restart. Keys from the environment change only with a restart.
    directory: Path | None = None
    stamp: tuple[int, int] = (0, 0)

    def seal(self, plaintext: str, aad: bytes) -> str:
        self._refresh(force=False)
        nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), aad)
        return f"{VERSION}.{self.current}.{_b64(nonce + body)}"

    def open(self, sealed: str, aad: bytes) -> str:
        kid = key_id_of(sealed)
        if kid not in self.keys:
            self._refresh(force=True)
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

    def _refresh(self, *, force: bool) -> None:
        if self.directory is None:
            return
        try:
            if not force and _stamp(self.directory) == self.stamp:
                return
            fresh = _from_dir(self.directory)
        except (OSError, SealingError):
            return  # mid-change on disk: keep sealing and opening with what we have
        # Keys only ever join: a value sealed with a key retired meanwhile still opens here.
        self.keys = {**self.keys, **fresh.keys}
        self.current, self.stamp = fresh.current, fresh.stamp

    @classmethod
    def load(cls, data_dir: Path, env: str | None = None) -> Keyring:
        """The keys from ``env`` (``KEYS_ENV``'s value) when given, else from the data dir,
        where a first key is made if there is none."""
        if env:
            pairs = [_parse_env_key(item) for item in env.split(",") if item.strip()]
            if not pairs:
                raise SealingError(f"{KEYS_ENV} holds no keys")
            keys = dict(pairs)
            if len(keys) != len(pairs):
                # Two keys under one id: values sealed with the shadowed one would never open.
                raise SealingError(f"{KEYS_ENV} names a key id twice")
            return cls(keys, pairs[0][0])
        if not (keys_dir(data_dir) / "current").exists():
            add_key(data_dir, make_current=True)
        return _from_dir(keys_dir(data_dir))


def _stamp(directory: Path) -> tuple[int, int]:
    # ``set_current`` replaces the file, so its inode changes even within one mtime tick.
    status = (directory / "current").stat()
    return status.st_ino, status.st_mtime_ns


def _from_dir(directory: Path) -> Keyring:
    _private(directory, 0o700)
    stamp = _stamp(directory)
    keys = {path.stem: _read_key_file(path) for path in sorted(directory.glob("*.key"))}
    current = (directory / "current").read_text().strip()
    if current not in keys:
        raise SealingError(f"{directory / 'current'} names key {current!r}, which is missing")
    return Keyring(keys, current, directory, stamp)


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "keys"


def add_key(data_dir: Path, *, make_current: bool) -> str:
    """Write a new random key into the data dir (0600, directory 0700); its id."""
    directory = keys_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.mkdir(exist_ok=True, mode=0o700)
    # mkdir's mode is filtered by the umask and ignored for a directory that already exists.
    _private(directory, 0o700)
    kid = "k" + secrets.token_hex(4)
    _write_durably(directory / f"{kid}.key", _b64(os.urandom(KEY_BYTES)) + "\n", exclusive=True)
    if make_current:
        set_current(data_dir, kid)
    return kid


def set_current(data_dir: Path, kid: str) -> None:
    """Point ``current`` at ``kid`` atomically (a crash leaves the old or the new, never half)."""
    directory = keys_dir(data_dir)
    if not (directory / f"{kid}.key").is_file():
        raise SealingError(f"no key {kid!r} in {directory}")
    tmp = directory / "current.tmp"
    _write_durably(tmp, kid + "\n", exclusive=False)
    tmp.replace(directory / "current")
    _sync_dir(directory)


def retire_key(data_dir: Path, kid: str) -> None:
    """Delete key ``kid``'s file; the caller has made sure nothing is sealed with it."""
    directory = keys_dir(data_dir)
    current = (directory / "current").read_text().strip()
    if kid == current:
        raise SealingError(f"key {kid!r} is the current key; rotate to a new one first")
    path = directory / f"{kid}.key"
    if not _KEY_ID.fullmatch(kid) or not path.is_file():
        raise SealingError(f"no key {kid!r} in {directory}")
    path.unlink()
    _sync_dir(directory)


def _write_durably(path: Path, text: str, *, exclusive: bool) -> None:
    """Write ``text`` (0600) and fsync it: a key that ``current`` points at, or that sealed
    values, must survive a power cut, or those values are lost with it."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o777 != mode:
        path.chmod(mode)


def _read_key_file(path: Path) -> bytes:
    if not _KEY_ID.fullmatch(path.stem):
        raise SealingError(f"{path}: a key id is 1-32 letters, digits, '-' or '_'")
    _private(path, 0o600)
    return _parse_key(path.read_text().strip(), path.name)


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
