"""``hub doctor``'s Redis check against a real Redis and a port nothing listens on."""

from __future__ import annotations

from pathlib import Path

from orchestratia.hub.doctor.redis_check import check
from orchestratia.hub.settings import HubSettings
from tests.support import free_port


def settings(tmp_path: Path, url: str | None) -> HubSettings:
    return HubSettings(data_dir=tmp_path, redis_url=url, redis_prefix="doctor")


async def test_redis_unset_answering_and_away(tmp_path: Path) -> None:
    assert (await check(settings(tmp_path, None))).status == "ok"
    open_one = await check(settings(tmp_path, "redis://127.0.0.1:6379/0"))
    assert open_one.status == "warn" and "without a password" in open_one.detail
    away = await check(settings(tmp_path, f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"))
    assert away.status == "fail" and "does not answer" in away.detail
    assert "hunter2" not in away.detail + away.fix
