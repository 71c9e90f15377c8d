"""Acceptance 1, embedded mode: ``orchestratia up`` runs a hub and this machine's daemon."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.processes import UMASK, assert_hub_data_private, orchestratia
from tests.e2e.tls_support import hub_certificate
from tests.support import free_port, wait_sync

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ONLINE_WITHIN = 5.0
STOP_WITHIN = 15.0
# Rich may wrap the banner anywhere a space is, so every pattern allows any whitespace.
DASHBOARD = re.compile(r"dashboard:\s+(https?://\S+?)/?\s")
PASSWORD_SHOWN = re.compile(r"password:\s+(\S+)\s+\(shown\s+this\s+once\)")
PASSWORD_FROM_ENV = re.compile(r"password:\s+from\s+ORCHESTRATIA_ADMIN_PASSWORD")
PASSWORD_KEPT = re.compile(r"password:\s+the\s+one\s+printed\s+on\s+first\s+run")
# The trailing \s: a line caught half-written must not yield a truncated pid.
DAEMON_PID = re.compile(r"local\s+daemon\s+pid\s+(\d+)\s")


@dataclass
class UpRun:
    proc: subprocess.Popen[bytes]
    log: Path
    started_at: datetime
    url: str
    printed_at: float
    banner: str
    daemon_pid: int

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(STOP_WITHIN)


def up_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATIA_")}
    home = tmp_path / "home"
    # Nothing of the real user's: config, session state, and the daemon's private tmux server.
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CACHE_HOME": home / ".cache",
        "TMUX_TMPDIR": home / "tmux",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update({name: str(path) for name, path in dirs.items()})
    env.pop("TMUX", None)
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "400"})
    return env


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Launcher:
    """Starts ``up`` in its own process group so cleanup can take the daemon down with it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = up_env(tmp_path)
        self.data_dir = tmp_path / "data"
        self.runs: list[UpRun] = []

    def start(
        self,
        command: list[str] | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        scheme: str = "http",
    ) -> UpRun:
        """Run ``command`` (``up`` on a new port by default), expecting a dashboard on ``host``
        and ``port``."""
        log = self.tmp_path / f"up-{len(self.runs) + 1}.log"
        # A new port each run on purpose: the local daemon must follow its hub to it.
        port = port or free_port()
        if command is None:
            command = orchestratia("up", "--port", str(port), "--data-dir", str(self.data_dir))
        started_at = datetime.now(UTC)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=UMASK,
            )

        def banner() -> re.Match[str] | None:
            if proc.poll() is not None:
                raise AssertionError(f"up exited with {proc.returncode}: {log.read_text()}")
            return DAEMON_PID.search(log.read_text())

        pid_line = wait_sync(banner, 30, f"the up banner (log: {log})")
        printed_at = time.monotonic()
        text = log.read_text()[: pid_line.end()]
        url = DASHBOARD.search(text)
        assert url is not None, text
        assert url.group(1) == f"{scheme}://{host}:{port}"
        run = UpRun(proc, log, started_at, url.group(1), printed_at, text, int(pid_line.group(1)))
        self.runs.append(run)
        return run

    def cleanup(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                os.killpg(run.proc.pid, signal.SIGKILL)
                run.proc.wait(STOP_WITHIN)
            if alive(run.daemon_pid):
                os.kill(run.daemon_pid, signal.SIGKILL)
        # Sessions outlive their daemon by design: end the private tmux server under this test's
        # TMUX_TMPDIR so no shell is left running after it.
        subprocess.run(
            ["tmux", "-L", "orchestratia", "kill-server"],
            env={**self.env, "PATH": os.environ["PATH"]},
            capture_output=True,
            check=False,
        )


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    made = Launcher(tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


def seen_since(last_seen: str | None, since: datetime) -> bool:
    if last_seen is None:
        return False
    seen = datetime.fromisoformat(last_seen)
    return (seen if seen.tzinfo else seen.replace(tzinfo=UTC)) >= since


@contextmanager
def admin_client(
    run: UpRun, password: str, verify: ssl.SSLContext | bool = True
) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=run.url, timeout=5, verify=verify) as client:
        res = client.post(
            "/api/v1/auth/login", json={"email": "admin@localhost", "password": password}
        )
        assert res.status_code == 200, res.text
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
        yield client


def wait_online(run: UpRun, password: str, verify: ssl.SSLContext | bool = True) -> dict[str, Any]:
    """The project's one server row, once online; within ONLINE_WITHIN of the banner printing."""
    with admin_client(run, password, verify) as client:
        res = client.get("/api/v1/projects")
        assert res.status_code == 200, res.text
        projects = res.json()["projects"]
        assert len(projects) == 1, projects

        def probe() -> dict[str, Any] | None:
            res = client.get("/api/v1/servers", params={"project_id": projects[0]["id"]})
            assert res.status_code == 200, res.text
            rows = res.json()["servers"]
            assert len(rows) == 1, rows
            # A row left "online" by the previous run would prove nothing: require fresh contact.
            fresh = seen_since(rows[0]["last_seen"], run.started_at)
            return rows[0] if rows[0]["status"] == "online" and fresh else None

        left = ONLINE_WITHIN - (time.monotonic() - run.printed_at)
        server: dict[str, Any] = wait_sync(probe, max(left, 0.0), "the local server online")
        return server


def assert_stops_cleanly(run: UpRun) -> None:
    assert alive(run.daemon_pid)
    code = run.stop()
    assert code == 0, run.log.read_text()[-3000:]
    # up waits for its daemon before exiting, so nothing should be left to wait for.
    assert not alive(run.daemon_pid), f"daemon {run.daemon_pid} outlived up"


def test_up_runs_hub_and_daemon_and_restarts_on_same_data(launcher: Launcher) -> None:
    first = launcher.start()
    shown = PASSWORD_SHOWN.search(first.banner)
    assert shown is not None, first.banner
    password = shown.group(1)
    server = wait_online(first, password)
    assert_hub_data_private(launcher.data_dir)
    assert_stops_cleanly(first)

    second = launcher.start()
    assert PASSWORD_SHOWN.search(second.banner) is None, second.banner
    assert PASSWORD_KEPT.search(second.banner) is not None, second.banner
    assert second.daemon_pid != first.daemon_pid
    again = wait_online(second, password)
    assert again["id"] == server["id"]
    assert_stops_cleanly(second)


def test_up_takes_port_and_host_from_the_environment(launcher: Launcher) -> None:
    port = free_port()
    launcher.env.update(ORCHESTRATIA_PORT=str(port), ORCHESTRATIA_HOST="localhost")
    run = launcher.start(
        orchestratia("up", "--data-dir", str(launcher.data_dir)), port, "localhost"
    )
    shown = PASSWORD_SHOWN.search(run.banner)
    assert shown is not None, run.banner
    wait_online(run, shown.group(1))
    assert_stops_cleanly(run)


def test_make_run_takes_a_port(launcher: Launcher) -> None:
    port = free_port()
    launcher.env["ORCHESTRATIA_DATA_DIR"] = str(launcher.data_dir)
    # -o install: the suite's own environment is installed already; BIN: this interpreter's.
    make = ["make", "-s", "-C", str(REPO), "-o", "install", "run", f"PORT={port}"]
    run = launcher.start([*make, f"BIN={Path(sys.executable).parent}"], port)
    shown = PASSWORD_SHOWN.search(run.banner)
    assert shown is not None, run.banner
    wait_online(run, shown.group(1))


@pytest.mark.parametrize("command", [["up"], ["hub", "serve"]])
def test_a_busy_port_is_one_line_and_a_failure(launcher: Launcher, command: list[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        env = {**launcher.env, "ORCHESTRATIA_DATA_DIR": str(launcher.data_dir)}
        done = subprocess.run(
            orchestratia(*command, "--port", str(port)),
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0], out
    assert "already in use" in lines[0], out


def test_a_password_from_the_environment_is_not_printed(launcher: Launcher) -> None:
    launcher.env["ORCHESTRATIA_ADMIN_PASSWORD"] = password = "env-given-secret-4321"
    run = launcher.start()
    assert password not in run.log.read_text(), run.banner
    assert PASSWORD_SHOWN.search(run.banner) is None, run.banner
    assert PASSWORD_FROM_ENV.search(run.banner) is not None, run.banner
    wait_online(run, password)
    assert_stops_cleanly(run)


def without_dir(path: str, directory: Path) -> str:
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and Path(p) != directory)


def test_sessions_find_the_cli_by_bare_name(launcher: Launcher) -> None:
    """However the daemon was installed (here: a venv that is not on PATH) and whatever the
    user's startup files do to PATH, ``orchestratia`` typed in a session is this install's CLI."""
    venv_bin = Path(sys.executable).parent
    launcher.env["PATH"] = without_dir(launcher.env["PATH"], venv_bin)
    assert shutil.which("orchestratia", path=launcher.env["PATH"]) is None
    launcher.env["SHELL"] = "/bin/bash"
    home = Path(launcher.env["HOME"])
    # Startup files that reset PATH (as Debian's /etc/profile does too), read by login shells.
    reset = "PATH=/usr/bin:/bin; export PATH\n"
    (home / ".bashrc").write_text(reset)
    (home / ".profile").write_text(reset + '[ -n "$BASH_VERSION" ] && . "$HOME/.bashrc"\n')
    run = launcher.start()
    shown = PASSWORD_SHOWN.search(run.banner)
    assert shown is not None, run.banner
    server = wait_online(run, shown.group(1))
    check = "command -v orchestratia; orchestratia status"
    with admin_client(run, shown.group(1)) as client:
        started = {
            # An interactive login shell, typed into; and a program run through the login shell.
            "typed": start_session(client, server, "typed", None, home),
            "program": start_session(client, server, "program", f"{check}; sleep 600", home),
        }
    tmux_env = {**launcher.env, "PATH": os.environ["PATH"]}
    tmux_cmd = ["tmux", "-L", "orchestratia"]
    target = f"=orc-{started['typed']}:"
    for keys in (["-l", check], ["Enter"]):
        subprocess.run([*tmux_cmd, "send-keys", "-t", target, *keys], env=tmux_env, check=True)

    def screen(sid: str) -> str:
        out = subprocess.run(
            [*tmux_cmd, "capture-pane", "-p", "-J", "-S", "-", "-t", f"=orc-{sid}:"],
            env=tmux_env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout

    def screen_showing(sid: str, done: re.Pattern[str]) -> str | None:
        text = screen(sid)
        return text if done.search(text) else None

    for name, sid in started.items():
        done = re.compile(rf"session: {name} |command not found")
        text = wait_sync(partial(screen_showing, sid, done), 20, name)
        assert "command not found" not in text, text
        assert f"session: {name} ({sid})" in text, text
    assert_stops_cleanly(run)


def start_session(
    client: httpx.Client, server: dict[str, Any], name: str, command: str | None, cwd: Path
) -> str:
    res = client.post(
        "/api/v1/sessions",
        json={"server_id": server["id"], "name": name, "working_directory": str(cwd),
              "command": command, "cols": 200, "rows": 40},
    )  # fmt: skip
    assert res.status_code == 201, res.text
    sid = str(res.json()["id"])
    running = lambda: client.get(f"/api/v1/sessions/{sid}").json()["status"] == "running"  # noqa: E731
    wait_sync(running, 15, f"session {name} running")
    return sid


def test_up_serves_tls_and_its_daemon_verifies_it(launcher: Launcher) -> None:
    tls = hub_certificate(launcher.tmp_path / "pki")
    launcher.env["ORCHESTRATIA_ADMIN_PASSWORD"] = "tls-password-123"
    port = free_port()
    command = orchestratia(
        "up",
        "--port",
        str(port),
        "--data-dir",
        str(launcher.data_dir),
        "--certfile",
        str(tls.certfile),
        "--keyfile",
        str(tls.keyfile),
        "--ca-file",
        str(tls.ca_file),
    )
    run = launcher.start(command, port, scheme="https")
    # The local daemon registered and connected over HTTPS/WSS, verifying with the CA.
    wait_online(run, "tls-password-123", tls.context())
    config = launcher.data_dir / "agent.yaml"
    assert f"ca_file: {tls.ca_file}" in config.read_text()
    assert f"hub_url: https://127.0.0.1:{port}" in config.read_text()
    assert_stops_cleanly(run)
