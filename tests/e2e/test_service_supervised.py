"""Issue 16, acceptance 1 where systemd is not PID 1: the unit ``install-service --system``
writes is run by a supervisor that honours its ``Restart=always``; killing the daemon with
SIGKILL brings it back, it reconnects, and the tmux session it runs keeps its pid and streams."""

from __future__ import annotations

import getpass
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import HubProcess, orchestratia
from tests.e2e.service_support import Supervisor, Unit
from tests.e2e.terminal_support import Rig, kill_tmux_server, make_rig, tmux
from tests.support import wait_sync

pytestmark = pytest.mark.e2e

UNIT = Path("etc/systemd/system/orchestratia-agent.service")
TICKER = """import itertools, time
for i in itertools.count():
    print("tick", i, flush=True)
    time.sleep(0.2)
"""


@pytest.fixture
def supervised(
    hub_process: HubProcess, daemon_factory: Any, tmp_path: Path
) -> Iterator[tuple[Rig, Supervisor, Unit]]:
    daemon = daemon_factory()
    root = tmp_path / "root"
    made: dict[str, Any] = {}

    def launch() -> None:
        # Installed as root would, into a private tree; then run as systemd would run it.
        installed = subprocess.run(
            orchestratia("agent", "install-service", "--system", "--config", str(daemon.config)),
            env=daemon.env | {"ORCHESTRATIA_SERVICE_ROOT": str(root)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert installed.returncode == 0, installed.stderr
        assert "not started: files go under" in installed.stdout
        unit = Unit.read(root / UNIT)
        supervisor = Supervisor.for_unit(unit, daemon.env, tmp_path / "service.log")
        daemon.log = supervisor.log
        supervisor.start()
        made.update(unit=unit, supervisor=supervisor)

    rig = make_rig(hub_process, daemon, tmp_path / "rig", launch=launch)
    try:
        yield rig, made["supervisor"], made["unit"]
    finally:
        made["supervisor"].stop()
        rig.api.close()
        kill_tmux_server(rig.socket)


def test_sigkilled_daemon_is_restarted_and_sessions_keep_their_pids(
    supervised: tuple[Rig, Supervisor, Unit],
) -> None:
    rig, supervisor, unit = supervised
    # What runs is the unit's own command line: the installed entry point, the rig's config.
    argv = unit.exec_start()
    assert argv[1:] == ["agent", "run", "--config", str(rig.daemon.config)]
    assert Path(argv[0]).is_file() and Path(argv[0]).parent == Path(sys.executable).parent
    assert unit.one("Service", "KillMode") == "process"
    assert unit.one("Service", "User") == getpass.getuser()

    script = rig.script("ticker.py", TICKER)
    started = rig.start("ticking", rig.python(script))
    sid, pid, tmux_name = started["id"], started["pid"], started["tmux_name"]
    tmux_server = tmux(rig.socket, "display-message", "-p", "#{pid}").stdout.strip()
    wait_sync(lambda: rig.offset(sid) > 0, 15, "the session to stream")

    first = supervisor.current()
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    wait_sync(lambda: rig.server_status() == "disconnected", 10, "the hub to notice", 0.05)
    # RestartSec later the supervisor starts the unit's command again; it reconnects.
    wait_sync(lambda: len(supervisor.started) == 2, 15, "the restart")
    second = supervisor.current()
    assert second.pid != first.pid and second.poll() is None
    rig.wait_online()

    # The session lived through it: same pane pid (hub and tmux), same tmux server, still
    # streaming to the hub through the new daemon, which found it again by its pid.
    assert rig.session(sid)["pid"] == pid
    panes = tmux(rig.socket, "list-panes", "-t", f"={tmux_name}:", "-F", "#{pane_pid}")
    assert panes.stdout.split() == [str(pid)]
    assert tmux(rig.socket, "display-message", "-p", "#{pid}").stdout.strip() == tmux_server
    after = rig.offset(sid)
    wait_sync(lambda: rig.offset(sid) > after, 15, "output after the restart")
    wait_sync(
        lambda: f"session {sid}: recovered, pid {pid}" in supervisor.log.read_text(),
        10,
        "the new daemon to recover the session",
    )
