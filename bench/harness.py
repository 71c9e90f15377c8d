"""A real stack for benchmarks: hub process + daemon process + private tmux, on loopback.

Benchmarks import this; nothing here is a test. Every process is torn down on exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from websockets.asyncio.client import ClientConnection, connect

# Benchmarks run as scripts (`python bench/x.py`), which puts only bench/ on the path. Importing
# this module (every benchmark does, first) adds the repository root, so benchmarks share the
# test suite's helpers (`tests.support`) instead of copies.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import free_port, wait_sync

PASSWORD = "bench-password-1"
ADMIN = "bench@bench.example"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3),
        "n": len(samples),
    }


@dataclass
class Stack:
    root: Path
    port: int
    tmux_socket: str
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    client: httpx.Client | None = None
    cookie: str = ""
    csrf: str = ""
    project_id: str = ""
    server_id: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "orchestratia", *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def spawn(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "orchestratia", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def process(self, name: str) -> psutil.Process:
        return psutil.Process(self.procs[name].pid)

    def api(self) -> httpx.Client:
        assert self.client is not None
        return self.client

    def start_session(self, name: str, command: str, cols: int = 120, rows: int = 40) -> str:
        res = self.api().post(
            "/api/v1/sessions",
            json={
                "server_id": self.server_id,
                "name": name,
                "working_directory": str(self.root),
                "command": command,
                "cols": cols,
                "rows": rows,
            },
        )
        res.raise_for_status()
        session_id: str = res.json()["id"]
        wait_sync(
            lambda: self.api().get(f"/api/v1/sessions/{session_id}").json()["status"] == "running",
            15,
            "session running",
        )
        return session_id

    async def viewer(self, session_id: str) -> ClientConnection:
        ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/sessions/{session_id}/view",
            additional_headers={"Cookie": f"orc_session={self.cookie}", "Origin": self.url},
            max_size=None,
            open_timeout=10,
            proxy=None,
        )
        return ws

    def kill_session_tmux(self) -> None:
        subprocess.run(["tmux", "-L", self.tmux_socket, "kill-server"], capture_output=True)


@contextmanager
def stack(daemon: bool = True) -> Iterator[Stack]:
    """Hub process, admin login and a project; with ``daemon`` also a registered daemon process
    (online, ``server_id`` set). Benchmarks that bring their own daemon pass ``daemon=False``."""
    root = Path(tempfile.mkdtemp(prefix="orc-bench-"))
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("ORCHESTRATIA_")]:
        del env[key]
    env.update(
        {
            "ORCHESTRATIA_DATA_DIR": str(root / "hub"),
            "ORCHESTRATIA_SECRET_KEY": "bench-secret",
            "HOME": str(root / "home"),
            "XDG_STATE_HOME": str(root / "state"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    st = Stack(root, free_port(), f"orc-bench-{uuid.uuid4().hex[:8]}", env)
    try:
        st.cli("hub", "create-admin", "--email", ADMIN, "--password", PASSWORD)
        st.spawn("hub", "hub", "serve", "--port", str(st.port))
        wait_sync(lambda: _healthy(st.url), 30, "hub health")
        st.client = httpx.Client(base_url=st.url, timeout=30)
        login = st.client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
        login.raise_for_status()
        st.cookie, st.csrf = login.json()["access_token"], login.json()["csrf_token"]
        st.client.cookies.clear()
        st.client.headers["Authorization"] = f"Bearer {st.cookie}"
        st.project_id = st.client.post("/api/v1/projects", json={"name": "bench"}).json()["id"]
        if not daemon:
            yield st
            return
        token = st.client.post("/api/v1/servers/tokens", json={"project_id": st.project_id}).json()[
            "token"
        ]
        config = root / "agent.yaml"
        st.cli("agent", "register", token, "--config", str(config))
        data = yaml.safe_load(config.read_text())
        data["tmux_socket"] = st.tmux_socket
        data["state_dir"] = str(root / "sessions")
        config.write_text(yaml.safe_dump(data))
        st.spawn("daemon", "agent", "run", "--config", str(config))
        servers = wait_sync(
            lambda: [
                s
                for s in st.api()
                .get("/api/v1/servers", params={"project_id": st.project_id})
                .json()["servers"]
                if s["status"] == "online"
            ],
            30,
            "daemon online",
        )
        st.server_id = servers[0]["id"]
        yield st
    finally:
        if st.client is not None:
            st.client.close()
        for proc in st.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        st.kill_session_tmux()
        shutil.rmtree(root, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        with httpx.Client(timeout=1) as c:
            return c.get(f"{url}/api/v1/health").status_code == 200
    except httpx.HTTPError:
        return False


def emit(figures: dict[str, Any]) -> None:
    """Human-readable lines, then one JSON line of figures (the last line, for tooling)."""
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    print(json.dumps(figures, sort_keys=True))


def run(main: Callable[[], Any]) -> None:
    asyncio.run(main())
