"""The daemon entry point: state file for `agent status`, clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.daemon import read_state, run, state_path_for
from tests.support import wait_until
from tests.unit.agent_fakes import FakeHub


def test_state_file_sits_next_to_the_config(tmp_path: Path) -> None:
    assert state_path_for(tmp_path / "agent.yaml") == tmp_path / "agent.state.json"


def test_read_state_without_a_daemon(tmp_path: Path) -> None:
    assert read_state(tmp_path / "agent.yaml") is None
    (tmp_path / "agent.state.json").write_text("{not json")
    assert read_state(tmp_path / "agent.yaml") is None


def test_a_killed_daemon_is_not_reported_running(tmp_path: Path) -> None:
    (tmp_path / "agent.state.json").write_text('{"state": "connected", "pid": 999999999}')
    state = read_state(tmp_path / "agent.yaml")
    assert state is not None
    assert state["running"] is False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_runs_until_sigterm_then_closes_going_away(tmp_path: Path) -> None:
    config_path = tmp_path / "agent.yaml"
    async with FakeHub() as hub:
        config = hub.config()
        config.save(config_path)
        daemon = asyncio.create_task(run(config, state_path_for(config_path)))

        def connected() -> bool:
            state = read_state(config_path)
            return bool(state and state["state"] == "connected")

        await wait_until(connected, message="state file says connected")
        state = read_state(config_path)
        assert state is not None
        assert state["pid"] == os.getpid()
        assert state["running"] is True
        assert state["server_id"] == "srv_from_hub"
        assert state["hub_url"] == hub.url
        assert state["last_connected_at"]
        mode = state_path_for(config_path).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600

        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(daemon, 5)
        await wait_until(lambda: hub.client_close_codes, message="close seen by hub")
        assert hub.client_close_codes == [1001]
    final = read_state(config_path)
    assert final is not None
    assert final["state"] == "stopped"
    assert final["running"] is False
    assert AgentConfig.load(config_path) == config
