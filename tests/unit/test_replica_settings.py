"""Settings for running several replicas: the Redis prefix, and the keys every replica on a
shared PostgreSQL database must hold alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestratia.hub.doctor.settings_checks import replica_keys
from orchestratia.hub.settings import HubSettings

PG = "postgresql://orc@db:5432/orc"


def test_redis_prefix_defaults_and_accepts_key_safe_names(tmp_path: Path) -> None:
    assert HubSettings(data_dir=tmp_path).redis_prefix == "orc"
    for good in ("orc", "orc-test_1.a:b", "A" * 64):
        assert HubSettings(data_dir=tmp_path, redis_prefix=good).redis_prefix == good


@pytest.mark.parametrize("bad", ["", " orc", "orc*", "orc prefix", "-orc", "a" * 65, "orc\n"])
def test_redis_prefix_refuses_what_would_break_key_and_channel_names(
    tmp_path: Path, bad: str
) -> None:
    with pytest.raises(ValidationError):
        HubSettings(data_dir=tmp_path, redis_prefix=bad)


def test_sqlite_needs_no_shared_keys(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path)
    assert settings.unshared_keys() == []
    assert replica_keys(settings).status == "ok"


def test_postgres_names_each_key_left_to_the_data_dir(tmp_path: Path) -> None:
    bare = HubSettings(data_dir=tmp_path, database_url=PG)
    assert bare.unshared_keys() == ["ORCHESTRATIA_SECRET_KEY", "ORCHESTRATIA_ENCRYPTION_KEYS"]
    found = replica_keys(bare)
    assert found.status == "warn" and str(tmp_path) in found.detail
    assert found.fix is not None and "every replica" in found.fix
    half = HubSettings(data_dir=tmp_path, database_url=PG, secret_key="s")
    assert half.unshared_keys() == ["ORCHESTRATIA_ENCRYPTION_KEYS"]
    full = HubSettings(data_dir=tmp_path, database_url=PG, secret_key="s", encryption_keys="k")
    assert full.unshared_keys() == [] and replica_keys(full).status == "ok"
