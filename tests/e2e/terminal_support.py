"""Helpers for the terminal tests: a hub + daemon + private tmux rig, deterministic output
generators, recordings read back in pages, a viewer-channel client that can be cut off, and the
browser tests' project with one online server (``terminal_fleet``).

The generators are Python scripts written into the test's tmp dir and run *as the session's
program*. Run with a rate (or duration) of 0 they print the same bytes at once, which is how a
test learns the expected stream (after the PTY's ``\\n`` → ``\\r\\n``) without a second copy of
the logic; while running, the plain one's pace can be changed through a file (``set_pace``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shlex
import sqlite3
import subprocess
import sys
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

from orchestratia.protocol.viewer import unpack_output
from tests.e2e.processes import ADMIN, PASSWORD, DaemonProcess, HubProcess, api_client
from tests.support import wait_sync

# Deterministic text lines: digits and lowercase hex only, so no default secret pattern
# (``sk-…``, ``ghp_…``, ``eyJ…``) can match and redaction never changes a byte.
PLAIN_SCRIPT = r"""
import hashlib, os, sys, time

def stream(total):
    out = bytearray()
    i = 0
    while len(out) < total:
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        out += b"%08d %s %s\n" % (i, digest.encode(), digest[:24].encode())
        i += 1
    del out[total - 1:]
    out += b"\n"
    return bytes(out)

def write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]

def main():
    # rate: bytes per second, 0 for as fast as the PTY takes them. A pace file, if given, is
    # re-read before every chunk and overrides the rate, so a test can slow the program down
    # around the moments it breaks things and let it rush to the end afterwards.
    total, rate = int(sys.argv[1]), float(sys.argv[2])
    pace = sys.argv[3] if len(sys.argv) > 3 else None
    data = stream(total)
    chunk = 8192
    for pos in range(0, total, chunk):
        if pace:
            try:
                with open(pace) as f:
                    rate = float(f.read())
            except (OSError, ValueError):
                pass
        write_all(data[pos:pos + chunk])
        if rate > 0:
            time.sleep(chunk / rate)

main()
"""

# A mixed terminal stream: SGR colours (16, 256, truecolour), cursor movement (CUP, CUU, CUD),
# clear-line, the alternate screen, and UTF-8 of 2, 3 and 4 bytes (wide CJK, emoji). Every write
# is cut at a random byte, so multi-byte characters and escape sequences straddle write() calls
# (and therefore reads of the log and frames to the hub). It ends on the main screen with a
# simple final picture, then holds (a dead pane would be removed before capture-pane).
MIXED_SCRIPT = r"""
import os, random, sys, time

WORDS = ["héllo", "wörld", "façade", "€uro", "naïve", "中文字", "日本語", "✓ok", "λx", "😀", "🚀",
         "plain", "text", "→", "Ω", "ß"]

def pieces(total, seed):
    rnd = random.Random(seed)
    size = 0
    n = 0
    while size < total:
        n += 1
        kind = rnd.randrange(10)
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 12)))
        if kind <= 3:
            fg = rnd.choice(["31", "32", "1;33", "4;34", "38;5;%d" % rnd.randrange(256),
                             "38;2;%d;%d;%d" % (rnd.randrange(256), rnd.randrange(256), 7)])
            s = "\x1b[%sm%05d %s\x1b[0m\n" % (fg, n, words)
        elif kind <= 5:
            s = "\x1b[%d;%dH%s\x1b[K" % (rnd.randrange(1, 30), rnd.randrange(1, 60), words)
        elif kind == 6:
            s = "\x1b[%dA%s\x1b[%dB\n" % (rnd.randrange(1, 5), words, rnd.randrange(1, 5))
        elif kind == 7:
            s = "\r\x1b[2K%05d %s\n" % (n, words)
        elif kind == 8 and n % 7 == 0:
            s = "\x1b[?1049h\x1b[H\x1b[2J\x1b[7m alt %05d \x1b[0m %s\x1b[5;3H%s\x1b[?1049l" % (
                n, words, words)
        else:
            s = "%05d %s\n" % (n, words)
        data = s.encode()
        size += len(data)
        yield data

FINAL = (
    "\x1b[?1049l\x1b[0m\x1b[H\x1b[2J"
    "\x1b[1;32mchaos stream complete\x1b[0m\n"
    "\x1b[38;5;208mcolours: \x1b[31mred \x1b[34mblue \x1b[0mplain\n"
    "utf-8: héllo wörld €uro ✓\n"
    "wide: 中文字 日本語\n"
    "emoji: 😀 🚀 end\n"
).encode()

def write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]

def main():
    total, seconds, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    start_file = sys.argv[4] if len(sys.argv) > 4 else None
    data = b"".join(pieces(total, seed)) + FINAL
    if seconds <= 0:
        write_all(data)
        return
    while start_file and not os.path.exists(start_file):
        time.sleep(0.01)
    rnd = random.Random(seed + 1)
    start = time.monotonic()
    pos = 0
    while pos < len(data):
        end = min(len(data), pos + rnd.randrange(1, 2048))
        delay = start + seconds * pos / len(data) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        write_all(data[pos:end])
        pos = end
    time.sleep(3600)

main()
"""


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    # -u: capture-pane's output is UTF-8 whatever the test's locale.
    return subprocess.run(
        ["tmux", "-L", socket, "-u", *args], capture_output=True, text=True, timeout=10, check=False
    )


def kill_tmux_server(socket: str) -> None:
    """Stop the private tmux server and remove its socket file (tmux leaves it behind)."""
    tmux(socket, "kill-server")
    base = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    (base / socket).unlink(missing_ok=True)


def pty_bytes(program_output: bytes) -> bytes:
    """What the pane writes for ``program_output``: the PTY's ``onlcr`` turns ``\\n`` into
    ``\\r\\n``."""
    return program_output.replace(b"\n", b"\r\n")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Rig:
    """One project, one online server whose daemon has a tmux socket, state dir and HOME of its
    own, and an authenticated API client."""

    hub: HubProcess
    daemon: DaemonProcess
    api: httpx.Client
    token: str
    project_id: str
    server_id: str
    socket: str
    root: Path
    registration_token: str = ""  # the one-time token the server registered with

    # --- processes ----------------------------------------------------------------------------

    def server_status(self) -> str | None:
        res = self.api.get(f"/api/v1/servers/{self.server_id}")
        return str(res.json()["status"]) if res.status_code == 200 else None

    def wait_online(self, timeout: float = 20) -> None:
        wait_sync(lambda: self.server_status() == "online", timeout, f"online ({self.daemon.log})")

    def reconnect_api(self) -> None:
        """A fresh client: the old one's pooled connections died with a killed hub."""
        self.api.close()
        self.api = authenticated(self.hub)[0]

    # --- sessions -----------------------------------------------------------------------------

    def script(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def python(self, script: Path, *args: object) -> str:
        """A session command running ``script`` (``exec``: no shell left between them)."""
        argv = [sys.executable, "-S", str(script), *map(str, args)]
        return "exec " + shlex.join(argv)

    def dry_run(self, script: Path, *args: object) -> bytes:
        """The program's bytes, printed at once (rate or duration 0)."""
        argv = [sys.executable, "-S", str(script), *map(str, args)]
        return subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout

    def start(self, name: str, command: str, cols: int = 100, rows: int = 30) -> dict[str, Any]:
        res = self.api.post(
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
        assert res.status_code == 201, res.text
        sid = res.json()["id"]
        return dict(
            wait_sync(
                lambda: (s := self.session(sid))["status"] == "running" and s["pid"] and s,
                15,
                f"session {name} running (daemon log: {self.daemon.log})",
            )
        )

    def session(self, sid: str) -> dict[str, Any]:
        res = self.api.get(f"/api/v1/sessions/{sid}")
        assert res.status_code == 200, res.text
        return dict(res.json())

    def offset(self, sid: str) -> int:
        return int(self.session(sid)["output_offset"])

    def recording(self, sid: str) -> bytes:
        """The whole recording, page by page; every page must start where asked (no hole)."""
        out = bytearray()
        while True:
            res = self.api.get(f"/api/v1/sessions/{sid}/output", params={"offset": len(out)})
            assert res.status_code == 200, res.text
            assert res.headers["content-type"] == "application/octet-stream"
            assert int(res.headers["X-Orchestratia-Offset"]) == len(out), "hole in the recording"
            if not res.content:
                assert int(res.headers["X-Orchestratia-End"]) == len(out)
                return bytes(out)
            out += res.content

    def stored_chunks(self, sid: str) -> list[tuple[int, int]]:
        """(offset, length) of every stored chunk, straight from the hub's SQLite file."""
        db = sqlite3.connect(f"file:{self.hub.data_dir / 'hub.db'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                'SELECT "offset", length(data) FROM session_output WHERE session_id = ? '
                'ORDER BY "offset"',
                (sid,),
            ).fetchall()
        finally:
            db.close()
        return [(int(o), int(n)) for o, n in rows]

    def tmux_sessions(self) -> list[str]:
        out = tmux(self.socket, "list-sessions", "-F", "#{session_name}")
        return out.stdout.split() if out.returncode == 0 else []

    def capture(self, tmux_name: str) -> list[str]:
        out = tmux(self.socket, "capture-pane", "-p", "-t", f"={tmux_name}:")
        assert out.returncode == 0, out.stderr
        return [line.rstrip() for line in out.stdout.split("\n")]


def authenticated(hub: HubProcess) -> tuple[httpx.Client, str]:
    """An API client (bearer) and the same login's token for the viewer's cookie."""
    client = httpx.Client(base_url=hub.url, timeout=10, verify=hub.verify)
    res = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert res.status_code == 200, res.text
    token = str(res.json()["access_token"])
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {token}"
    return client, token


def make_rig(
    hub: HubProcess, daemon: DaemonProcess, root: Path, launch: Callable[[], object] | None = None
) -> Rig:
    """A registered, online server; ``launch`` starts its daemon (default: ``daemon.start``)."""
    api, token = authenticated(hub)
    project = api.post("/api/v1/projects", json={"name": f"chaos-{uuid.uuid4().hex[:6]}"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    reg = api.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert reg.status_code == 201, reg.text
    # An empty HOME: login shells find no dotfiles to run, and the tmux server the daemon
    # starts (whose environment every pane inherits) gets it too.
    home = root / "home"
    home.mkdir(parents=True)
    daemon.env.update(HOME=str(home), SHELL="/bin/sh", LANG="C.UTF-8")
    registered = daemon.register(reg.json()["token"])
    assert registered.returncode == 0, registered.stderr
    socket = f"orc-chaos-{uuid.uuid4().hex[:10]}"
    # The sessions' tmux server outlives the daemon on purpose; the test's end stops it.
    hub.teardowns.append(lambda: kill_tmux_server(socket))
    config = yaml.safe_load(daemon.config.read_text())
    config.update(tmux_socket=socket, state_dir=str(root / "agent-state"))
    daemon.config.write_text(yaml.safe_dump(config))
    rig = Rig(
        hub, daemon, api, token, project_id, config["server_id"], socket, root, reg.json()["token"]
    )
    (launch or daemon.start)()
    rig.wait_online()
    return rig


def program_of(pane_pid: int, script: Path) -> psutil.Process | None:
    """The process running ``script`` in the pane: the pane's own process, or a descendant when
    the daemon runs commands through a shell or a wrapper."""
    try:
        pane = psutil.Process(pane_pid)
        found = [p for p in [pane, *pane.children(recursive=True)] if str(script) in p.cmdline()]
    except psutil.Error:
        return None
    return found[0] if len(found) == 1 else None


def process_gone(proc: psutil.Process) -> bool:
    """Ended (a zombie has ended too: only its parent's wait() is missing)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def set_pace(path: Path, bytes_per_second: float) -> None:
    """Tell a running plain generator its new rate (0: full speed); atomic, never half-read."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(bytes_per_second))
    tmp.replace(path)


# --- a viewer-channel client that can be cut off -------------------------------------------------


@dataclass
class ViewerRun:
    first: int | None = None  # offset of the snapshot the first join got
    data: bytearray = field(default_factory=bytearray)
    joins: int = 0
    frames: int = 0
    split_utf8: int = 0  # frames that ended inside a multi-byte character
    started: float = 0.0  # when the program was let go (monotonic)
    finished: float = 0.0  # when the viewer held every byte

    @property
    def holds(self) -> int:
        assert self.first is not None
        return self.first + len(self.data)


async def _connect(rig: Rig, sid: str) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{rig.hub.port}/ws/sessions/{sid}/view",
        additional_headers={"Cookie": f"orc_session={rig.token}", "Origin": rig.hub.url},
        max_size=None,
        open_timeout=10,
        proxy=None,
    )


def _ends_inside_utf8(data: bytes) -> bool:
    # A lead byte (11xxxxxx) within the last 3 bytes whose sequence is not complete.
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back < need
        if byte & 0xC0 != 0x80:
            return False
    return False


async def _watch(ws: ClientConnection, run: ViewerRun, until: float, total: int) -> None:
    """Receive until ``until`` (monotonic) or ``total`` bytes held; check every frame on the way."""
    while time.monotonic() < until and (run.first is None or run.holds < total):
        try:
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                message = await ws.recv()
        except TimeoutError:
            return
        if isinstance(message, str):
            frame = json.loads(message)
            if frame["type"] in ("reset", "snapshot"):
                # Only the very first join may reset the terminal; a resume never does.
                assert run.joins == 1 and not run.data, f"unexpected {frame} after a resume"
                if frame["type"] == "snapshot":
                    run.first = int(frame["offset"])
            elif frame["type"] == "error":
                raise AssertionError(f"viewer error: {frame}")
            continue
        offset, data = unpack_output(message)
        assert run.first is not None, "output before the snapshot"
        assert offset == run.holds, f"frame at {offset} while holding up to {run.holds}"
        run.data += data
        run.frames += 1
        run.split_utf8 += _ends_inside_utf8(data)


async def chaotic_viewer(
    rig: Rig,
    sid: str,
    go: Path,
    rnd: random.Random,
    drops: list[float],
    total: int,
    outage_max: float,
) -> ViewerRun:
    """Join, start the program (create ``go``), then drop the socket abruptly (no close frame)
    at each moment of ``drops`` (seconds after the start), stay away up to ``outage_max`` s and
    resume from the bytes held; finally stay until ``total`` bytes are held.

    Every frame is checked on arrival: only the first join may reset, and output must start
    exactly where the bytes held end (no duplicate, no hole)."""
    run = ViewerRun()
    started = time.monotonic()
    for moment in [*drops, None]:
        ws = await _connect(rig, sid)
        run.joins += 1
        join: dict[str, Any] = {"type": "join"}
        if run.first is not None:
            join["resume_offset"] = run.holds
        await ws.send(json.dumps(join))
        if run.joins == 1:
            await _watch(ws, run, time.monotonic() + 10, 0)  # until the snapshot
            assert run.first is not None, "no snapshot on the first join"
            go.touch()
            started = run.started = time.monotonic()
        if moment is None:
            await _watch(ws, run, time.monotonic() + 30, total)
            await ws.close()
            break
        await _watch(ws, run, started + moment, total)
        ws.transport.abort()  # abrupt: like a dropped network, not a clean close
        await ws.wait_closed()
        await asyncio.sleep(rnd.uniform(0, outage_max))  # deliberate: the outage lasts a moment
    run.finished = time.monotonic()
    return run


@dataclass
class Fleet:
    hub: HubProcess
    daemon: DaemonProcess
    api: httpx.Client
    project_id: str
    server_id: str
    socket: str


def tmux_on(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=False
    )


@contextmanager
def terminal_fleet(
    hub_process: HubProcess, daemon_factory: Any, tmp_path: Path, project_name: str = "terminals"
) -> Iterator[Fleet]:
    """A project with one online server whose daemon runs sessions on a tmux socket of its own."""
    api = api_client(hub_process)
    hub_process.closing.append(api)
    project = api.post("/api/v1/projects", json={"name": project_name})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    token = api.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert token.status_code == 201, token.text

    daemon: DaemonProcess = daemon_factory()
    # Sessions run the login shell; a home of its own keeps the developer's dotfiles (and their
    # slow or locking start-up hooks) out of the test.
    home = tmp_path / "home"
    home.mkdir()
    daemon.env["HOME"] = str(home)
    registered = daemon.register(token.json()["token"])
    assert registered.returncode == 0, registered.stderr
    socket = f"orc-e2e-{uuid.uuid4().hex[:10]}"
    config = yaml.safe_load(daemon.config.read_text())
    config.update(tmux_socket=socket, state_dir=str(tmp_path / "agent-state"))
    daemon.config.write_text(yaml.safe_dump(config))
    daemon.start()
    server_id = config["server_id"]

    def online() -> bool:
        res = api.get(f"/api/v1/servers/{server_id}")
        return res.status_code == 200 and res.json()["status"] == "online"

    wait_sync(online, 20, f"server online (daemon log: {daemon.log})")
    try:
        yield Fleet(hub_process, daemon, api, project_id, server_id, socket)
    finally:
        tmux_on(socket, "kill-server")
