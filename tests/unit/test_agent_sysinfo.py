"""System facts: JSON-safe, non-blocking, and a stable machine id even without /etc/machine-id."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from orchestratia.agent import sysinfo


def test_system_info_has_the_reported_fields_and_is_json() -> None:
    info = sysinfo.collect_system_info()
    expected = {
        "cpu_percent",
        "cpu_count",
        "memory_total",
        "memory_used",
        "memory_percent",
        "disk_total",
        "disk_used",
        "disk_percent",
        "load_avg",
        "uptime_seconds",
        "platform",
        "python_version",
    }
    assert expected <= info.keys()
    assert len(info["load_avg"]) == 3
    assert 0 <= info["cpu_percent"] <= 100 * max(1, info["cpu_count"])
    json.dumps(info)


def test_machine_id_falls_back_to_a_persisted_private_uuid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sysinfo, "MACHINE_ID_PATHS", (tmp_path / "missing",))
    first = sysinfo.machine_id(tmp_path / "cfg")
    assert len(first) == 32
    assert sysinfo.machine_id(tmp_path / "cfg") == first
    if sys.platform != "win32":
        mode = (tmp_path / "cfg" / sysinfo.FALLBACK_MACHINE_ID).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600


def test_machine_id_prefers_the_os_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os_id = tmp_path / "machine-id"
    os_id.write_text("abc123\n")
    monkeypatch.setattr(sysinfo, "MACHINE_ID_PATHS", (tmp_path / "missing", os_id))
    assert sysinfo.machine_id(tmp_path / "cfg") == "abc123"
    assert not (tmp_path / "cfg").exists()


def test_network_and_os_descriptions_are_plausible() -> None:
    ip = sysinfo.primary_ip()
    assert ip is None or ip.count(".") == 3
    mac = sysinfo.mac_address()
    assert mac is None or len(mac) == 17
    assert sysinfo.os_description()
