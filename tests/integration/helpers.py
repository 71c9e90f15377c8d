"""Helpers for the integration tests: WebSocket peers (a fake daemon, a scripted viewer), audit
queries, login cookies."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from orchestratia.hub.db.models import AuditEvent
from orchestratia.protocol.output_frames import pack_session_output
from orchestratia.protocol.viewer import unpack_output
from tests.integration.hub_setup import PASSWORD
from tests.integration.running_hub import RunningHub
from tests.support import wait_until

FRAME_TIMEOUT = 5.0


@asynccontextmanager
async def ws_connect(
    url: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A client socket that ignores proxy settings and closes quickly."""
    async with connect(
        url, additional_headers=headers, proxy=None, open_timeout=5, close_timeout=2, **kwargs
    ) as ws:
        yield ws


async def recv_json(ws: ClientConnection, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def close_code(ws: ClientConnection, timeout: float = FRAME_TIMEOUT) -> int | None:
    """Wait for the hub to close the socket; the close code it sent."""
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code


async def closed_within(ws: ClientConnection, seconds: float) -> int | None:
    """Read and drop whatever arrives until the hub closes the socket (an unread backlog would
    hold back its close frame); the close code it sent. Fails if it is still open after
    ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
    except TimeoutError:
        raise AssertionError(f"the socket was still open after {seconds}s") from None
    return ws.close_code


@asynccontextmanager
async def dashboard_socket(
    hub: RunningHub, cookie: str, project_id: str
) -> AsyncIterator[ClientConnection]:
    """A logged-in browser's ``/ws/dashboard``, subscribed to ``project_id``."""
    headers = {"Cookie": f"orc_session={cookie}", "Origin": hub.url}
    async with ws_connect(hub.ws_url + "/ws/dashboard", headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "project_id": project_id}))
        frame = await recv_json(ws)
        assert frame == {"type": "subscribed", "project_id": project_id}, frame
        yield ws


async def authenticate(
    ws: ClientConnection, api_key: str, protocol: int | None = 2, capabilities: tuple[str, ...] = ()
) -> dict[str, Any]:
    auth: dict[str, Any] = {"type": "auth", "api_key": api_key}
    if protocol is not None:
        auth["protocol"] = protocol
    if capabilities:
        auth["capabilities"] = list(capabilities)
    await ws.send(json.dumps(auth))
    frame = await recv_json(ws)
    assert frame["type"] == "auth_ok", frame
    return frame


async def heartbeat_ok(ws: ClientConnection, system_info: dict[str, Any] | None = None) -> None:
    """Send a heartbeat and insist on its ack: proves the socket is usable."""
    await ws.send(json.dumps({"type": "heartbeat", "system_info": system_info or {}}))
    frame = await recv_json(ws)
    assert frame == {"type": "heartbeat_ack"}, frame


async def server_row(admin: httpx.AsyncClient, server_id: str) -> dict[str, Any]:
    res = await admin.get(f"/api/v1/servers/{server_id}")
    assert res.status_code == 200, res.text
    row: dict[str, Any] = res.json()
    return row


async def wait_for_status(admin: httpx.AsyncClient, server_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await server_row(admin, server_id)
        return row if row["status"] == status else None

    return await wait_until(probe, message=f"server {server_id} {status}")


async def audit_rows(hub: RunningHub, action: str | None = None) -> list[AuditEvent]:
    async with hub.state.sessionmaker() as db:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(await db.scalars(query))


async def login_cookie(hub: RunningHub, email: str) -> str:
    """The ``orc_session`` cookie value of a fresh login."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        res = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert res.status_code == 200, res.text
        token = res.cookies.get("orc_session")
    assert token
    return token


# --- terminal sessions: a scripted daemon and a scripted browser viewer -------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class FakeDaemon:
    """A scripted daemon on ``/ws/server`` (protocol 2, or a legacy agent with ``protocol=None``).

    A background reader files every hub frame into ``inbox``; ``expect`` takes the first frame of a
    type (and field values) from it, so interleaved acks or heartbeat acks never get in the way.
    ``sent`` tracks how many output bytes of each session this daemon has written, ``acks`` the
    latest ``session_output_ack`` per session. With ``auto_snapshot`` the reader answers every
    ``snapshot_request`` with a screen at ``sent[session]`` (the daemon's own log size).
    """

    def __init__(self, ws: ClientConnection, server_id: str) -> None:
        self.ws = ws
        self.server_id = server_id
        self.inbox: list[dict[str, Any]] = []
        self.acks: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.auto_snapshot = False
        self.protocol: int | None = None  # as the hub's auth_ok answered
        self.snapshot_screen = b"\x1b[H\x1b[2Jsnapshot screen"
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        hub: RunningHub,
        api_key: str,
        *,
        protocol: int | None = 2,
        sessions: list[dict[str, Any]] | None = None,
        hello: bool = True,
        heartbeat_every: float | None = None,
        capabilities: tuple[str, ...] = (),
    ) -> AsyncIterator[FakeDaemon]:
        """Authenticate; a protocol-2 daemon then says ``hello`` (listing ``sessions``) and waits
        until the hub has reconciled it. With ``heartbeat_every`` it keeps beating like a real
        daemon, so a long test on a loaded machine does not outlast the hub's (short, in tests)
        heartbeat timeout; without, it stays silent for the liveness tests."""
        async with ws_connect(hub.ws_url + "/ws/server") as ws:
            ok = await authenticate(ws, api_key, protocol, capabilities)
            daemon = cls(ws, ok["server_id"])
            daemon.protocol = ok["protocol"]
            tasks = [asyncio.create_task(daemon._read())]
            daemon._reader = tasks[0]
            try:
                if hello and protocol is not None:
                    await daemon.hello(sessions or [])
                if heartbeat_every is not None:
                    tasks.append(asyncio.create_task(daemon._beat(heartbeat_every)))
                yield daemon
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _beat(self, every: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(every)
                await self.send({"type": "heartbeat", "system_info": {}})

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                frame: dict[str, Any] = json.loads(raw)
                if frame["type"] == "session_output_ack":
                    self.acks[frame["session_id"]] = frame["offset"]
                elif frame["type"] == "snapshot_request" and self.auto_snapshot:
                    sid = frame["session_id"]
                    await self.snapshot(frame, self.sent.get(sid, 0))
                async with self._arrived:
                    self.inbox.append(frame)
                    self._arrived.notify_all()

    def _find(self, type_: str, fields: dict[str, Any]) -> int | None:
        for i, frame in enumerate(self.inbox):
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in fields.items()):
                return i
        return None

    async def expect(
        self, type_: str, timeout: float = FRAME_TIMEOUT, **fields: Any
    ) -> dict[str, Any]:
        """Take the first frame of ``type_`` with these ``fields``; fail after ``timeout``."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: self._find(type_, fields) is not None), timeout
                )
            except TimeoutError:
                held = [f["type"] for f in self.inbox]
                message = f"no {type_} {fields} within {timeout}s; held {held}"
                raise AssertionError(message) from None
            index = self._find(type_, fields)
            assert index is not None
            return self.inbox.pop(index)

    def received(self, type_: str, **fields: Any) -> list[dict[str, Any]]:
        """Frames of ``type_`` (matching ``fields``) received and not yet taken."""
        return [
            f
            for f in self.inbox
            if f["type"] == type_ and all(f.get(k) == v for k, v in fields.items())
        ]

    def discard(self, type_: str) -> None:
        self.inbox = [f for f in self.inbox if f["type"] != type_]

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def barrier(self) -> None:
        """Ping and wait for the pong: the hub answers frames of one connection in order, so every
        reply to what was sent before (acks, errors) has arrived by then."""
        await self.send({"type": "ping"})
        await self.expect("pong")

    async def hello(self, sessions: list[dict[str, Any]]) -> None:
        await self.send({"type": "hello", "version": "9.9.9", "sessions": sessions})
        await self.barrier()

    async def started(self, session_id: str, pid: int = 4242, **extra: Any) -> None:
        tmux_name = extra.pop("tmux_name", f"orchestratia-{session_id}")
        await self.send(
            {
                "type": "session_started",
                "session_id": session_id,
                "pid": pid,
                "tmux_name": tmux_name,
                **extra,
            }
        )

    async def closed(self, session_id: str, exit_code: int | None = 0) -> None:
        await self.send(
            {"type": "session_closed", "session_id": session_id, "exit_code": exit_code}
        )

    async def output(self, session_id: str, data: bytes, offset: int | None) -> None:
        frame: dict[str, Any] = {"type": "session_output", "session_id": session_id}
        frame["data"] = b64(data)
        if offset is not None:
            frame["offset"] = offset
            self.sent[session_id] = max(self.sent.get(session_id, 0), offset + len(data))
        await self.send(frame)

    async def output_binary(
        self, session_id: str, data: bytes, offset: int, redactions: dict[str, int] | None = None
    ) -> None:
        """The same output as a protocol-3 binary frame."""
        self.sent[session_id] = max(self.sent.get(session_id, 0), offset + len(data))
        await self.ws.send(pack_session_output(session_id, offset, data, redactions))

    async def stream(
        self,
        session_id: str,
        data: bytes,
        start: int = 0,
        frame_bytes: int = 65536,
        timeout: float = 20.0,
    ) -> None:
        """Send ``data`` as output from ``start`` in frames and wait until the hub acks its end."""
        for i in range(0, len(data), frame_bytes):
            await self.output(session_id, data[i : i + frame_bytes], start + i)
        await self.wait_acked(session_id, start + len(data), timeout)

    async def wait_acked(self, session_id: str, offset: int, timeout: float = 10.0) -> None:
        """Wait for the hub to ack ``offset``; the acks seen so far are dropped from the inbox."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: self.acks.get(session_id) == offset), timeout
                )
            except TimeoutError:
                message = f"no ack at {offset} within {timeout}s; last {self.acks.get(session_id)}"
                raise AssertionError(message) from None
            self.discard("session_output_ack")

    async def snapshot(self, request: dict[str, Any], offset: int) -> None:
        await self.send(
            {
                "type": "session_snapshot",
                "session_id": request["session_id"],
                "request_id": request["request_id"],
                "offset": offset,
                "screen": b64(self.snapshot_screen),
                "cursor_x": 3,
                "cursor_y": 1,
                "cols": 120,
                "rows": 40,
                "alternate_screen": False,
                "cursor_visible": True,
            }
        )


async def start_session(
    client: httpx.AsyncClient, daemon: FakeDaemon, name: str = "work", **body: Any
) -> dict[str, Any]:
    """Start a session through the API on ``daemon``'s server and have the daemon report it
    running; the session as the API shows it then."""
    payload = {"server_id": daemon.server_id, "name": name, "working_directory": "/srv/api", **body}
    res = await client.post("/api/v1/sessions", json=payload)
    assert res.status_code == 201, res.text
    session: dict[str, Any] = res.json()
    await daemon.expect("session_start", session_id=session["id"])
    await daemon.started(session["id"])
    await daemon.barrier()
    got = await client.get(f"/api/v1/sessions/{session['id']}")
    assert got.json()["status"] == "running", got.text
    return dict(got.json())


async def recording(client: httpx.AsyncClient, session_id: str, offset: int = 0) -> bytes:
    """The hub's stored output of a session from ``offset``, exactly."""
    res = await client.get(f"/api/v1/sessions/{session_id}/output", params={"offset": offset})
    assert res.status_code == 200, res.text
    assert res.headers["x-orchestratia-offset"] == str(offset)
    return res.content


@dataclass
class Segment:
    """Bytes a viewer holds contiguously from ``start`` (after a snapshot, or from a resume)."""

    start: int
    data: bytearray = field(default_factory=bytearray)

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class ViewerClient:
    """A scripted browser on ``/ws/sessions/{id}/view``.

    Binary output frames are checked as they arrive: each must start exactly where the bytes held
    so far end (no duplicate, no hole). ``reset`` starts a new segment at the next ``snapshot``'s
    offset. JSON frames are logged in ``frames`` and kept in ``pending`` until taken by ``expect``.
    """

    def __init__(self, ws: ClientConnection, resume: int | None) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.segments: list[Segment] = [] if resume is None else [Segment(resume)]
        self._after_reset = False

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        hub: RunningHub,
        session_id: str,
        *,
        cookie: str | None = None,
        share: str | None = None,
        resume: int | None = None,
        join: bool = True,
        origin: str | None = None,
        **connect: Any,
    ) -> AsyncIterator[ViewerClient]:
        headers = viewer_headers(hub, cookie, origin)
        async with ws_connect(viewer_url(hub, session_id, share), headers, **connect) as ws:
            viewer = cls(ws, resume)
            if join:
                frame: dict[str, Any] = {"type": "join"}
                if resume is not None:
                    frame["resume_offset"] = resume
                await ws.send(json.dumps(frame))
            yield viewer

    @property
    def position(self) -> int | None:
        """The offset of the next byte this viewer expects, None before any snapshot."""
        if self._after_reset or not self.segments:
            return None
        return self.segments[-1].end

    async def recv(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any] | tuple[int, bytes]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            offset, data = unpack_output(raw)
            self._take(offset, data)
            return offset, data
        frame: dict[str, Any] = json.loads(raw)
        self.frames.append(frame)
        self.pending.append(frame)
        if frame["type"] == "reset":
            self._after_reset = True
        elif frame["type"] == "snapshot":
            assert self._after_reset, f"snapshot without a reset: {frame}"
            self.segments.append(Segment(frame["offset"]))
            self._after_reset = False
        return frame

    def _take(self, offset: int, data: bytes) -> None:
        assert data, f"empty output frame at {offset}"
        if self._after_reset:
            # A reset with no snapshot (no daemon to ask): output replays onto a clean screen.
            self.segments.append(Segment(offset))
            self._after_reset = False
        assert self.segments, f"output at {offset} before any snapshot or resume"
        held = self.segments[-1]
        assert offset == held.end, f"output at {offset}, but bytes held end at {held.end}"
        held.data += data

    async def expect(self, type_: str, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The first pending JSON frame of ``type_``, reading (and checking) output meanwhile."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, frame in enumerate(self.pending):
                if frame["type"] == type_:
                    return self.pending.pop(i)
            await self._recv_by(
                deadline, lambda: f"no {type_} frame within {timeout}s; pending {self.pending}"
            )

    async def read_to(self, end: int, timeout: float = 10.0) -> None:
        """Read until the bytes held reach ``end``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.position != end:
            await self._recv_by(
                deadline, lambda: f"viewer at {self.position} after {timeout}s, wanted {end}"
            )
            if self.position is not None:
                assert self.position <= end, f"viewer got past {end} to {self.position}"

    async def _recv_by(self, deadline: float, failure: Callable[[], str]) -> None:
        """Receive one frame by ``deadline`` (loop time), else fail with ``failure()``."""
        left = deadline - asyncio.get_running_loop().time()
        try:
            if left <= 0:
                raise TimeoutError
            await self.recv(left)
        except TimeoutError:
            raise AssertionError(failure()) from None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def drop(self) -> None:
        """Vanish like a browser losing its network: no close handshake."""
        self.ws.transport.abort()
        await asyncio.wait_for(self.ws.wait_closed(), FRAME_TIMEOUT)


def viewer_url(hub: RunningHub, session_id: str, share: str | None = None) -> str:
    url = f"{hub.ws_url}/ws/sessions/{session_id}/view"
    return f"{url}?share={share}" if share else url


def viewer_headers(
    hub: RunningHub, cookie: str | None, origin: str | None = None
) -> dict[str, str]:
    """A browser on ``origin`` (default: the hub's own), logged in when ``cookie`` is given."""
    headers = {"Origin": origin or hub.url}
    if cookie is not None:
        headers["Cookie"] = f"orc_session={cookie}"
    return headers


async def viewer_refusal(
    hub: RunningHub,
    session_id: str,
    cookie: str | None = None,
    share: str | None = None,
    origin: str | None = None,
) -> int:
    """How the hub turns a viewer away: the close code of an accepted-then-closed socket (or the
    HTTP status of a refused handshake, which a browser cannot even see)."""
    opened = ViewerClient.open(hub, session_id, cookie=cookie, share=share, origin=origin)
    try:
        async with opened as viewer:
            while True:
                await viewer.recv()
    except TimeoutError:
        raise AssertionError(f"the viewer was let in: {viewer.frames}") from None
    except InvalidStatus as exc:
        return exc.response.status_code
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "closed without a close frame"
        return exc.rcvd.code
