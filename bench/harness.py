"""A real stack for benchmarks: hub process + daemon process + private tmux, on loopback.

Benchmarks import this; nothing here is a test. Every process is torn down on exit.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
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
from orchestratia.agent.terminal.tmux import TmuxServer
from orchestratia.protocol.viewer import unpack_output
from terminal_printer import chunks as printer_chunks
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


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> None:
    """``orchestratia *args`` with ``env``, to completion; a failure raises."""
    subprocess.run(
        [sys.executable, "-m", "orchestratia", *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=timeout,
    )


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
        run_cli(self.env, *args)

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


# --- terminal data path: N printing sessions, raw tmux vs through the hub ------------------------

MB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
PRINTER = Path(__file__).resolve().with_name("terminal_printer.py")
FILE_POLL = 0.003  # seconds between looks at the raw capture files: the raw run's time resolution
STREAM_TIMEOUT = 120.0
# The scrollback the daemon's tmux keeps: the raw baseline pays tmux what the daemon's sessions do.
RAW_HISTORY = TmuxServer().history_limit


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(load_before: list[float]) -> dict[str, Any]:
    """The load around a run. ``busy``: more runnable threads than cores at either end, when each
    process gets only a share of a core and tmux, on every path, throttles raw and hub alike, so
    a throughput ratio drifts towards 1 (the CPU cost ratio does not)."""
    load_after = load_average()
    cores = os.cpu_count() or 1
    return {
        "cores": cores,
        "load_before": load_before,
        "load_after": load_after,
        "busy": max(load_before[0], load_after[0]) > cores,
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, all its threads, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class CpuUse:
    wall: float
    seconds: dict[str, float]

    def ms_per_mb(self, name: str, nbytes: int) -> float:
        return round(self.seconds[name] * 1000 / (nbytes / MB), 2)

    def percent(self, name: str) -> float:
        """Of one core."""
        return round(self.seconds[name] * 100 / self.wall, 1)


class CpuWindow:
    """CPU time of named processes from construction to ``stop()``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.wall = time.perf_counter()
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def stop(self) -> CpuUse:
        return CpuUse(
            time.perf_counter() - self.wall,
            {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()},
        )


@dataclass(frozen=True)
class Stream:
    """A byte stream as length and SHA-256: what was expected, received or recorded."""

    length: int
    sha256: str


@functools.cache
def expected_stream(tag: int, size: int) -> Stream:
    """What a session running the printer shows: the PTY turns every \\n into \\r\\n (onlcr)."""
    digest, length = hashlib.sha256(), 0
    for chunk in printer_chunks(tag, size):
        chunk = chunk.replace(b"\n", b"\r\n")
        digest.update(chunk)
        length += len(chunk)
    return Stream(length, digest.hexdigest())


def printer_command(tag: int, size: int, go: Path) -> str:
    """The session's shell command: print, then stay (the benchmark ends the session)."""
    return f"{sys.executable} -I -S {PRINTER} {tag} {size} {go}; sleep 600"


@dataclass
class Run:
    """``sessions`` printers released together; time from the first byte to the last one at the
    consumers (files for raw tmux, viewers through the hub); CPU of the processes doing the work
    from the release until every byte is where it goes."""

    nbytes: int
    seconds: float
    identical: bool
    cpu: CpuUse

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / MB


def raw_pipe_pane(root: Path, sessions: int, size: int) -> Run:
    """The baseline: the printers in one private tmux server, each pane captured by ``pipe-pane``
    into its own file, as the daemon captures (before it reads, redacts and sends)."""
    tmux = ["tmux", "-L", f"orc-bench-raw-{uuid.uuid4().hex[:8]}", "-f", "/dev/null"]
    go = root / f"go-{uuid.uuid4().hex[:8]}"
    logs = [root / f"raw-{go.name}-{tag}.log" for tag in range(sessions)]
    expected = [expected_stream(tag, size) for tag in range(sessions)]
    server = ""
    try:
        for tag, log in enumerate(logs):
            log.touch()
            server = subprocess.run(
                [
                    *tmux,
                    *("set", "-g", "history-limit", str(RAW_HISTORY), ";"),
                    *("new-session", "-d", "-s", f"s{tag}", "-x", "120", "-y", "40"),
                    *("-P", "-F", "#{pid} #{socket_path}", printer_command(tag, size, go), ";"),
                    *("pipe-pane", "-O", "-t", f"=s{tag}:", f"exec cat >> {log}"),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        window = CpuWindow({"tmux": int(server.split(" ", 1)[0])})
        go.touch()
        first, last = _watch_files(logs, [e.length for e in expected])
        cpu = window.stop()
        got = [_file_stream(log) for log in logs]
        return Run(sum(g.length for g in got), last - first, got == expected, cpu)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        # tmux leaves the socket file behind; each run has its own.
        for path in [*logs, *([Path(server.split(" ", 1)[1])] if server else [])]:
            path.unlink(missing_ok=True)


def _watch_files(paths: list[Path], lengths: list[int]) -> tuple[float, float]:
    pending = dict(zip(paths, lengths, strict=True))
    deadline = time.monotonic() + STREAM_TIMEOUT
    first: float | None = None
    while True:
        now = time.perf_counter()
        for path, length in list(pending.items()):
            size = path.stat().st_size
            if size and first is None:
                first = now
            if size >= length:
                del pending[path]
        if not pending:
            assert first is not None
            return first, now
        if time.monotonic() > deadline:
            raise TimeoutError(f"raw capture incomplete: {sorted(map(str, pending))}")
        time.sleep(FILE_POLL)


def _file_stream(path: Path) -> Stream:
    data = path.read_bytes()
    return Stream(len(data), hashlib.sha256(data).hexdigest())


@dataclass
class HubRun(Run):
    recordings_identical: bool
    resyncs: int


@dataclass
class _Viewed:
    stream: Stream
    contiguous: bool
    resyncs: int
    first: float
    last: float


async def through_hub(st: Stack, sessions: int, size: int) -> HubRun:
    """The same printers as sessions of the stack's daemon, each watched by one viewer from the
    start, recording on. CPU of hub and daemon is counted from the release until every recording
    holds the whole stream; the recordings are then read back whole through the REST API."""
    go = st.root / f"go-{uuid.uuid4().hex[:8]}"
    expected = [expected_stream(tag, size) for tag in range(sessions)]
    ids: list[str] = []
    try:
        for tag in range(sessions):
            ids.append(st.start_session(f"bench-{tag}", printer_command(tag, size, go)))
        viewers = [await st.viewer(session_id) for session_id in ids]
        for ws in viewers:
            await ws.send(json.dumps({"type": "join", "resume_offset": 0}))
        # The viewers are this process: if it is busy, they, not the hub, may be the limit.
        window = CpuWindow(
            {
                "hub": st.procs["hub"].pid,
                "daemon": st.procs["daemon"].pid,
                "tmux": _tmux_server_pid(st),
                "viewers": os.getpid(),
            }
        )
        go.touch()
        viewed = await asyncio.gather(
            *(_view(ws, e.length) for ws, e in zip(viewers, expected, strict=True))
        )
        for session_id, e in zip(ids, expected, strict=True):
            _wait_recorded(st, session_id, e.length)
        cpu = window.stop()
        recorded = [_read_recording(st, session_id) for session_id in ids]
    finally:
        _kill_sessions(st, ids)
    return HubRun(
        nbytes=sum(v.stream.length for v in viewed),
        seconds=max(v.last for v in viewed) - min(v.first for v in viewed),
        identical=all(
            v.contiguous and v.stream == e for v, e in zip(viewed, expected, strict=True)
        ),
        cpu=cpu,
        recordings_identical=recorded == expected,
        resyncs=sum(v.resyncs for v in viewed),
    )


async def _view(ws: ClientConnection, length: int) -> _Viewed:
    """Read output frames until ``length`` bytes; a hole, overlap or snapshot resync (the hub
    found this viewer too slow) makes the stream not contiguous."""
    digest, end, contiguous, resyncs = hashlib.sha256(), 0, True, 0
    first = 0.0
    while end < length:
        msg = await asyncio.wait_for(ws.recv(), STREAM_TIMEOUT)
        if isinstance(msg, str):
            if json.loads(msg).get("type") == "reset":
                resyncs += 1
                contiguous = False
            continue
        offset, data = unpack_output(msg)
        if not first:
            first = time.perf_counter()
        contiguous = contiguous and offset == end
        digest.update(data)
        end = offset + len(data)
    last = time.perf_counter()
    await ws.close()
    return _Viewed(Stream(end, digest.hexdigest()), contiguous, resyncs, first, last)


def _tmux_server_pid(st: Stack) -> int:
    out = subprocess.run(
        ["tmux", "-L", st.tmux_socket, "display", "-p", "#{pid}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out)


def _kill_sessions(st: Stack, ids: list[str]) -> None:
    """Kill, and wait until each is over: the daemon ends the session's processes, which would
    survive the hangup of the stack's final tmux ``kill-server``."""
    for session_id in ids:
        st.api().post(f"/api/v1/sessions/{session_id}/kill")
    for session_id in ids:
        _wait_ended(st, session_id)


def _session(st: Stack, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = st.api().get(f"/api/v1/sessions/{session_id}").json()
    return found


def _wait_ended(st: Stack, session_id: str) -> None:
    wait_sync(
        lambda: _session(st, session_id)["status"] not in ("starting", "running"),
        30,
        f"session {session_id} to end",
    )


def _wait_recorded(st: Stack, session_id: str, length: int) -> None:
    wait_sync(
        lambda: _session(st, session_id)["output_offset"] >= length,
        STREAM_TIMEOUT,
        f"the recording of {session_id} to reach {length} bytes",
    )


def _read_recording(st: Stack, session_id: str) -> Stream:
    """The whole recording, page by page; a page that starts elsewhere than asked (a hole) ends
    the read, so the stream comes out short and does not match."""
    digest, offset = hashlib.sha256(), 0
    while True:
        page = st.api().get(f"/api/v1/sessions/{session_id}/output", params={"offset": offset})
        page.raise_for_status()
        if not page.content or int(page.headers["X-Orchestratia-Offset"]) != offset:
            return Stream(offset, digest.hexdigest())
        digest.update(page.content)
        offset += len(page.content)


def bar(value: float, limit: float, *, at_least: bool, ok: bool = True) -> dict[str, Any]:
    """A figure against its acceptance bar; ``ok`` False fails it whatever the figure (a
    throughput bar counts only with byte-identical output)."""
    met = (value >= limit if at_least else value <= limit) and ok
    return {"value": value, "bar": limit, "met": met}


async def interleaved(st: Stack, sessions: int, size: int, rounds: int) -> list[dict[str, Any]]:
    """``rounds`` pairs of raw tmux then hub, the figures of each pair: a change in the machine's
    load shows in one pair's ratio rather than in all of one side. One short session first, not
    counted: what the hub and the daemon do once (imports, compiled patterns, first pages of the
    database) is not a cost per MB."""
    await through_hub(st, 1, MB)
    pairs: list[dict[str, Any]] = []
    for _ in range(rounds):
        raw = raw_pipe_pane(st.root, sessions, size)
        hub = await through_hub(st, sessions, size)
        pairs.append(
            {
                "raw_mb_per_s": round(raw.mb_per_s, 2),
                "hub_mb_per_s": round(hub.mb_per_s, 2),
                "ratio": round(hub.mb_per_s / raw.mb_per_s, 3),
                "hub_cpu_ms_per_mb": hub.cpu.ms_per_mb("hub", hub.nbytes),
                "daemon_cpu_ms_per_mb": hub.cpu.ms_per_mb("daemon", hub.nbytes),
                "hub_cpu_percent": hub.cpu.percent("hub"),
                "daemon_cpu_percent": hub.cpu.percent("daemon"),
                "viewers_cpu_percent": hub.cpu.percent("viewers"),
                "raw_tmux_cpu_ms_per_mb": raw.cpu.ms_per_mb("tmux", raw.nbytes),
                "hub_tmux_cpu_ms_per_mb": hub.cpu.ms_per_mb("tmux", hub.nbytes),
                # What tmux alone spends per MB over what tmux, daemon and hub spend together: 1.0
                # is a free relay. CPU per MB moves far less with the machine's load than MB/s.
                "cpu_cost_ratio": round(
                    raw.cpu.ms_per_mb("tmux", raw.nbytes)
                    / sum(hub.cpu.ms_per_mb(p, hub.nbytes) for p in ("tmux", "daemon", "hub")),
                    3,
                ),
                "raw_identical": raw.identical,
                "viewers_identical": hub.identical,
                "recordings_identical": hub.recordings_identical,
                "viewer_resyncs": hub.resyncs,
            }
        )
    return pairs


def medians(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the pairs; ``byte_identical``: every viewer stream and every
    recording of every pair equals what was printed."""

    def median(key: str) -> float:
        return round(statistics.median(float(p[key]) for p in pairs), 3)

    return {
        "raw_pipe_pane_mb_per_s": median("raw_mb_per_s"),
        "through_hub_mb_per_s": median("hub_mb_per_s"),
        "ratio": median("ratio"),
        "hub_cpu_ms_per_mb": median("hub_cpu_ms_per_mb"),
        "daemon_cpu_ms_per_mb": median("daemon_cpu_ms_per_mb"),
        "hub_cpu_percent": median("hub_cpu_percent"),
        "daemon_cpu_percent": median("daemon_cpu_percent"),
        "viewers_cpu_percent": median("viewers_cpu_percent"),
        "raw_tmux_cpu_ms_per_mb": median("raw_tmux_cpu_ms_per_mb"),
        "hub_tmux_cpu_ms_per_mb": median("hub_tmux_cpu_ms_per_mb"),
        "cpu_cost_ratio": median("cpu_cost_ratio"),
        "byte_identical": all(p["viewers_identical"] and p["recordings_identical"] for p in pairs),
        "raw_identical": all(p["raw_identical"] for p in pairs),
    }
