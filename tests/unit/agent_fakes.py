"""An in-process stand-in for the hub's ``/ws/server`` channel, for agent daemon tests."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.backoff import Backoff
from orchestratia.agent.link.connection import HubConnection
from orchestratia.agent.sessions.runtime import SessionRuntime
from orchestratia.hub.settings import HubSettings
from orchestratia.protocol.output_frames import OutputFrameError, unpack_session_output
from tests.support import IN_CI, wait_until

TMUX = shutil.which("tmux")
# The hub's transport cap on a frame (``HubSettings.ws_transport_max_bytes``), not the library's
# default of 1 MiB, which a full-size output frame exceeds.
HUB_TRANSPORT_CAP = 2 * HubSettings.model_fields["max_ws_frame_bytes"].default
PY = sys.executable
PRINTER = """
import sys, time
out = sys.stdout.buffer
lines, pause = int(sys.argv[1]), float(sys.argv[2])
for i in range(lines):
    out.write(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\\n" % i)
    if pause and i % 100 == 99:
        out.flush()
        time.sleep(pause)
out.flush()
"""


# PRINTER's lines without an end: until the file named by argv[1] exists, so a test can be sure
# output is still flowing whenever it acts (kills a daemon, say), however slow the machine.
ENDLESS_PRINTER = """
import os, sys, time
out, stop, i = sys.stdout.buffer, sys.argv[1], 0
while not os.path.exists(stop):
    lines = range(i, i + 100)
    out.write(b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\\n" % n for n in lines))
    out.flush()
    i += 100
    time.sleep(0.004)
"""
LINE_SIZE = len(b"0000000 abcdefghijklmnopqrstuvwxyz0123456789\r\n")


def endless_printer(stop: Path) -> str:
    return shlex.join([PY, "-c", ENDLESS_PRINTER, str(stop)])


def printed(lines: int) -> bytes:
    """What PRINTER writes, as the PTY passes it on (onlcr: \\n becomes \\r\\n)."""
    text = b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\n" % i for i in range(lines))
    return text.replace(b"\n", b"\r\n")


# Raw-mode reader: prints READY, reads exactly N bytes from the PTY, stores them in a file.
# Reads n bytes from a raw terminal and writes them to a file: what typing really delivered.
RAW_READER = """
import os, sys, tty
n, path = int(sys.argv[1]), sys.argv[2]
tty.setraw(0)
os.write(1, b"READY")
data = b""
while len(data) < n:
    data += os.read(0, 65536)
with open(path, "wb") as f:
    f.write(data)
"""


def printer(lines: int, pause: float = 0.0) -> str:
    return shlex.join([PY, "-c", PRINTER, str(lines), str(pause)])


class FakeHub:
    """Speaks auth → auth_ok → heartbeat_ack like the hub; knobs make it misbehave on purpose.

    ``reject_close``: close with this code right after the auth frame.
    ``reject_error``: send this fatal error frame (code) before closing with 4401.
    ``no_auth_ok``: never answer the auth frame. ``ack=False``: never answer heartbeats, so
    after auth_ok the link goes silent like a half-open TCP connection.

    ``protocol`` is what ``auth_ok`` answers: from 3 output comes as binary frames, recorded in
    ``frames`` as ``session_output`` with ``"binary": True`` (and no data); a binary frame on a
    connection that did not negotiate them is counted in ``unexpected_binary`` and gets the
    hub's error frame.
    Session output is recorded like the real hub does (``outputs``: bytes by offset, acked up
    to the contiguous end; a frame past the end is refused). Bytes received twice are counted in
    ``resent`` and checked against what was stored (``mismatches``). After ``hello`` the hub acks
    what it holds of every session it knows. ``ack_output=False`` stops output acks.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 0.2,
        reject_close: int | None = None,
        reject_error: str | None = None,
        no_auth_ok: bool = False,
        ack: bool = True,
        after_auth: list[str] | None = None,
        ack_output: bool = True,
        protocol: int = 3,
    ) -> None:
        self.protocol = protocol
        self.unexpected_binary = 0
        self.heartbeat_interval = heartbeat_interval
        self.reject_close = reject_close
        self.reject_error = reject_error
        self.no_auth_ok = no_auth_ok
        self.ack = ack
        self.after_auth = after_auth or []
        self.auths: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self.client_close_codes: list[int | None] = []
        self.live: set[ServerConnection] = set()
        self.connections = 0
        self.ack_output = ack_output
        self.outputs: dict[str, bytearray] = {}
        self.resent: dict[str, int] = {}
        self.refused: list[tuple[str, int]] = []
        self.mismatches: list[tuple[str, int]] = []
        self.arrived = asyncio.Event()  # set on every frame from the daemon; clear it to wait
        self._server: Server | None = None
        self.url = ""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame.get("type") == kind]

    async def nth(self, kind: str, n: int) -> dict[str, Any]:
        """The ``n``th frame of ``kind`` (from 1), once it has arrived."""
        later = await wait_until(lambda: self.of_type(kind)[n - 1 :], message=f"{kind} #{n}")
        return later[0]

    def config(self, **overrides: Any) -> AgentConfig:
        values: dict[str, Any] = {
            "hub_url": self.url,
            "api_key": "orc_test_key",
            "server_id": "srv_from_config",
            "name": "test-box",
            "repos": {"app": "/srv/app"},
            "heartbeat_interval": self.heartbeat_interval,
        }
        values.update(overrides)
        return AgentConfig(**values)

    def output(self, session_id: str) -> bytes:
        return bytes(self.outputs.get(session_id, b""))

    async def send(self, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every connected daemon."""
        for ws in list(self.live):
            await ws.send(json.dumps(frame))

    async def _binary(self, ws: ServerConnection, message: bytes, *, allowed: bool) -> None:
        try:
            if not allowed:
                raise OutputFrameError("binary frames need protocol 3 and binary_output")
            out = unpack_session_output(message)
        except OutputFrameError as exc:
            self.unexpected_binary += 1
            error = {"type": "error", "code": "unsupported_frame", "message": str(exc)}
            await ws.send(json.dumps(error))
            return
        redactions = dict(out.redactions) if out.redactions else None
        frame = {"type": "session_output", "session_id": out.session_id, "offset": out.offset}
        self.frames.append({**frame, "redactions": redactions, "binary": True})
        self.arrived.set()
        await self._record_output(ws, out.session_id, out.offset, bytes(out.data))

    async def _record_output(
        self, ws: ServerConnection, session_id: str, offset: int | None, data: bytes
    ) -> None:
        stored = self.outputs.setdefault(session_id, bytearray())
        end = len(stored)
        if offset is None:
            offset = end
        if offset > end:
            self.refused.append((session_id, offset))
        else:
            overlap = bytes(stored[offset : offset + len(data)])
            if overlap:
                self.resent[session_id] = self.resent.get(session_id, 0) + len(overlap)
                if overlap != data[: len(overlap)]:
                    self.mismatches.append((session_id, offset))
            stored += data[end - offset :]
        if self.ack_output:
            ack = {"type": "session_output_ack", "session_id": session_id, "offset": len(stored)}
            await ws.send(json.dumps(ack))

    async def _answer_hello(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        for live in frame.get("sessions", []):
            held = self.outputs.get(live["session_id"])
            if held is not None:
                ack = {"type": "session_output_ack", "session_id": live["session_id"]}
                await ws.send(json.dumps({**ack, "offset": len(held)}))

    async def drop_all(self, code: int = 1012) -> None:
        for ws in list(self.live):
            await ws.close(code, "restarting")

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.live.add(ws)
        try:
            self.auths.append(json.loads(await ws.recv()))
            if self.reject_error is not None:
                error = {"type": "error", "code": self.reject_error, "message": "bad key"}
                await ws.send(json.dumps({**error, "fatal": True}))
                await ws.close(4401, "bad key")
                return
            if self.reject_close is not None:
                await ws.close(self.reject_close, "unknown server key")
                return
            if self.no_auth_ok:
                await ws.wait_closed()
                return
            auth = self.auths[-1]
            protocol = min(self.protocol, auth.get("protocol") or 1)
            auth_ok = {
                "type": "auth_ok",
                "server_id": "srv_from_hub",
                "protocol": protocol,
                "heartbeat_interval": self.heartbeat_interval,
            }
            await ws.send(json.dumps(auth_ok))
            for raw in self.after_auth:
                await ws.send(raw)
            binary = protocol >= 3 and "binary_output" in auth.get("capabilities", [])
            while True:
                message = await ws.recv()
                if isinstance(message, bytes):
                    await self._binary(ws, message, allowed=binary)
                    continue
                frame = json.loads(message)
                self.frames.append(frame)
                self.arrived.set()
                kind = frame.get("type")
                if kind == "heartbeat" and self.ack:
                    await ws.send(json.dumps({"type": "heartbeat_ack"}))
                elif kind == "hello":
                    await self._answer_hello(ws, frame)
                elif kind == "session_started":
                    self.outputs.setdefault(frame["session_id"], bytearray())
                elif kind == "session_output":
                    data = base64.b64decode(frame["data"], validate=True)
                    await self._record_output(ws, frame["session_id"], frame.get("offset"), data)
        except ConnectionClosed as exc:
            self.client_close_codes.append(exc.rcvd.code if exc.rcvd else None)
        finally:
            self.live.discard(ws)

    async def __aenter__(self) -> FakeHub:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, ping_interval=None, max_size=HUB_TRANSPORT_CAP
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


# --- a daemon's session runtime on a private tmux server, for integration tests ---


@contextmanager
def private_tmux(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private tmux server (own socket name and directory) killed afterwards; its name.

    Without tmux the test fails in CI and is skipped elsewhere. ``SHELL`` is ``/bin/sh`` so
    session commands do not depend on the user's shell.
    """
    if TMUX is None:
        if IN_CI:
            pytest.fail("tmux is not installed; CI must run the tmux tests")
        pytest.skip("tmux is not installed")
    socket_dir = tempfile.mkdtemp(prefix="orc-tmux-")  # short: sockaddr_un is ~100 bytes
    monkeypatch.setenv("TMUX_TMPDIR", socket_dir)
    monkeypatch.setenv("SHELL", "/bin/sh")
    name = f"orc-test-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        subprocess.run(
            [TMUX, "-L", name, "kill-server"],
            capture_output=True,
            timeout=10,
            check=False,
            env={**os.environ, "TMUX_TMPDIR": socket_dir},
        )
        shutil.rmtree(socket_dir, ignore_errors=True)


@dataclass
class Daemon:
    runtime: SessionRuntime
    connection: HubConnection
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.connection.stop()
        await asyncio.wait_for(self.task, 5)
        await self.runtime.stop()


async def start_daemon(config: AgentConfig, **options: Any) -> Daemon:
    """Runtime + connection wired as ``daemon.run`` wires them, with test-speed timings."""
    options = {"monitor_interval": 0.1, "closed_linger": 0.1, **options}
    runtime = SessionRuntime(config, **options)

    connection = HubConnection(
        config,
        routes=runtime.routes(),
        on_state_change=lambda c: runtime.link_changed(c.state == "connected"),
        live_sessions=runtime.live_sessions,
        capabilities=[],
        backoff=Backoff(0.01, 0.05),
        close_timeout=1,
    )
    runtime.attach(connection)
    await runtime.start()
    task = asyncio.create_task(connection.run())
    await wait_until(lambda: connection.state == "connected", message="connected")
    return Daemon(runtime, connection, task)


@asynccontextmanager
async def daemon_and_hub(
    socket_name: str, tmp_path: Path, **options: Any
) -> AsyncIterator[tuple[FakeHub, Daemon, AgentConfig]]:
    async with FakeHub(heartbeat_interval=1.0) as hub:
        config = hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state")
        daemon = await start_daemon(config, **options)
        try:
            yield hub, daemon, config
        finally:
            await daemon.stop()


def start_frame(session_id: str, cwd: Path, command: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "session_start",
        "session_id": session_id,
        "working_directory": str(cwd),
        "project_id": "proj1",
        "command": command,
        **extra,
    }


def typed(session_id: str, data: bytes) -> dict[str, Any]:
    return {
        "type": "session_input",
        "session_id": session_id,
        "data": base64.b64encode(data).decode(),
    }


def frames(hub: FakeHub, kind: str, session_id: str) -> list[dict[str, Any]]:
    return [f for f in hub.of_type(kind) if f.get("session_id") == session_id]


async def closed(hub: FakeHub, session_id: str, timeout: float = 30) -> dict[str, Any]:
    found: list[dict[str, Any]] = await wait_until(
        lambda: frames(hub, "session_closed", session_id), timeout=timeout, message="closed"
    )
    return found[0]


def assert_contiguous(hub: FakeHub, session_id: str) -> None:
    assert hub.refused == [] and hub.mismatches == []
    assert hub.resent.get(session_id, 0) == 0, "bytes the hub held were sent again"
