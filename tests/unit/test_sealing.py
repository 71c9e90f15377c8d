"""Sealed secrets: bound to their row, refused with a clear error when the key is unknown or
the value was altered; key files private and durable; a running hub follows a rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestratia.hub.db import team_models  # noqa: F401 - every table in the metadata
from orchestratia.hub.db.models import Base
from orchestratia.hub.sealed_columns import SEALED_COLUMNS, SMTP_PASSWORD, TOTP_SECRET
from orchestratia.hub.sealing import (
    KEYS_ENV,
    Keyring,
    SealingError,
    add_key,
    key_id_of,
    retire_key,
    set_current,
)


def test_a_value_moved_to_another_row_or_column_does_not_open(tmp_path: Path) -> None:
    keyring = Keyring.load(tmp_path)
    sealed = keyring.seal("JBSWY3DPEHPK3PXP", TOTP_SECRET.aad("user-1"))
    assert keyring.open(sealed, TOTP_SECRET.aad("user-1")) == "JBSWY3DPEHPK3PXP"
    for elsewhere in (TOTP_SECRET.aad("user-2"), SMTP_PASSWORD.aad("user-1")):
        with pytest.raises(SealingError, match="moved from its row"):
            keyring.open(sealed, elsewhere)


def test_an_altered_value_does_not_open(tmp_path: Path) -> None:
    keyring = Keyring.load(tmp_path)
    sealed = keyring.seal("secret", TOTP_SECRET.aad("u"))
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealingError, match="altered"):
        keyring.open(flipped, TOTP_SECRET.aad("u"))
    with pytest.raises(SealingError, match="not a sealed value"):
        keyring.open("plain text", TOTP_SECRET.aad("u"))


def test_an_unknown_key_id_is_named(tmp_path: Path) -> None:
    other = Keyring({"kother": os.urandom(32)}, "kother")
    sealed = other.seal("secret", TOTP_SECRET.aad("u"))
    assert key_id_of(sealed) == "kother"
    with pytest.raises(SealingError, match="sealed with key 'kother', which this hub does not"):
        Keyring.load(tmp_path).open(sealed, TOTP_SECRET.aad("u"))


def test_key_files_are_private_even_under_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        (tmp_path / "keys").mkdir(mode=0o755)
        kid = Keyring.load(tmp_path).current
    finally:
        os.umask(old)
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "keys" / f"{kid}.key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "keys" / f"{kid}.key").chmod(0o644)
    Keyring.load(tmp_path)
    assert (tmp_path / "keys" / f"{kid}.key").stat().st_mode & 0o777 == 0o600


def test_a_running_keyring_follows_a_rotation_on_disk(tmp_path: Path) -> None:
    running = Keyring.load(tmp_path)
    old = running.current
    new = add_key(tmp_path, make_current=False)
    set_current(tmp_path, new)
    rotated = Keyring.load(tmp_path).seal("secret", TOTP_SECRET.aad("u"))
    assert running.open(rotated, TOTP_SECRET.aad("u")) == "secret"
    assert key_id_of(running.seal("x", TOTP_SECRET.aad("u"))) == new
    retire_key(tmp_path, old)
    assert not (tmp_path / "keys" / f"{old}.key").exists()
    with pytest.raises(SealingError, match="is the current key"):
        retire_key(tmp_path, new)


def test_environment_keys_refuse_a_duplicate_id() -> None:
    key = "A" * 43
    assert Keyring.load(Path("/nonexistent"), f"a:{key},b:{key}").current == "a"
    with pytest.raises(SealingError, match="names a key id twice"):
        Keyring.load(Path("/nonexistent"), f"a:{key},a:{key}")
    with pytest.raises(SealingError, match=KEYS_ENV):
        Keyring.load(Path("/nonexistent"), "a.b:" + key)


def test_every_sealed_looking_column_is_in_the_registry() -> None:
    """Rotation walks the registry: a sealed column left out would keep a key alive, or lose
    its values when that key is retired."""
    registered = {(c.table, c.column) for c in SEALED_COLUMNS}
    sealed_looking = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name.endswith(("_sealed", "_enc"))
    }
    assert sealed_looking == registered
    for column in SEALED_COLUMNS:
        assert column.row_id in Base.metadata.tables[column.table].c
