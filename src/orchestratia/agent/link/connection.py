"""The daemon's one WebSocket to the hub: auth, hello, heartbeats, liveness and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from orchestratia import __version__
from orchestratia.agent.capabilities import detect_capabilities
from orchestratia.agent.config import AgentConfig
from orchestratia.agent.link.backoff import Backoff
from orchestratia.agent.link.errors import (
    KeyRejected,
    LinkError,
    NotConnected,
    Replaced,
    closed_error,
    key_rejected_message,
    parse_frame,
    raise_for_handshake_error,
)
from orchestratia.agent.link.hub_tls import HubTlsError
from orchestratia.agent.link.link_routes import LINK_ROUTES
from orchestratia.agent.link.routing import FrameHandler, FrameRouter, Route
from orchestratia.agent.link.secure_link import failure_message, websocket_tls
from orchestratia.agent.sysinfo import collect_system_info, prime_cpu_percent
from orchestratia.protocol import PROTOCOL_VERSION
from orchestratia.protocol.codes import CloseCode
from orchestratia.protocol.frames import (
    AuthFrame,
    AuthOkFrame,
    ErrorFrame,
    HeartbeatFrame,
    HelloFrame,
    dump,
    hub_frame_adapter,
)
from orchestratia.protocol.output_frames import BINARY_OUTPUT, BINARY_PROTOCOL
from orchestratia.protocol.sessions import LiveSession
from orchestratia.protocol.tokens import websocket_url

log = logging.getLogger(__name__)

State = Literal["connecting", "connected", "backoff", "stopped"]
StateListener = Callable[["HubConnection"], None]
LiveSessionsProvider = Callable[[], Sequence[LiveSession]]

WS_PATH = "/ws/server"
# Protocol extensions this daemon speaks, announced in the auth frame (SPEC §5 "Our extensions").
# Distinct from the agent CLIs found on PATH, which travel in ``hello``.
PROTOCOL_FEATURES = ["hello", "heartbeat", "session_offsets", BINARY_OUTPUT]
# The link is dead after this many heartbeat intervals of silence, or once a heartbeat drew nothing
# for an interval (at least MIN_ANSWER_WAIT s: sub-second test intervals leave it to silence).
DEAD_AFTER_INTERVALS = 3
MIN_ANSWER_WAIT = 2.0
# Backoff resets only after a connection stayed up this long, not on auth_ok: a hub that accepts
# the key and then drops us at once (crash loop, broken replica, overloaded proxy) would otherwise
# be retried with a ~0.5 s average delay forever by every daemon in the fleet.
STABLE_AFTER = 30.0


class HubConnection:
    """Keeps one authenticated WebSocket to the hub until ``stop()``, reconnecting as needed.

    ``state``, ``last_connected_at``, ``last_error`` and ``server_id`` describe the link for status
    reporting; ``on_state_change`` is called after any of them changes. Hub frames other than
    the handshake and liveness ones go through ``router``: ``routes`` by type, frames of other
    types to ``on_frame``; a failing handler is logged, never fatal.
    ``live_sessions`` supplies the sessions announced in every ``hello`` (SPEC §5), so the hub
    can ack what it holds of each and the daemon resend the rest.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        routes: Iterable[Route] = (),
        on_frame: FrameHandler | None = None,
        on_state_change: StateListener | None = None,
        live_sessions: LiveSessionsProvider | None = None,
        capabilities: list[str] | None = None,
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        auth_timeout: float = 10.0,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.config = config
        self.state: State = "stopped"
        self.last_connected_at: datetime | None = None
        self.last_error: str | None = None
        self.server_id: str = config.server_id
        self.router = FrameRouter([*LINK_ROUTES, *routes], unknown=on_frame)
        self._on_state_change = on_state_change
        self._live_sessions = live_sessions
        self._capabilities = capabilities
        self._backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.auth_timeout = auth_timeout
        self.stable_after = stable_after
        self._stopping = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._binary = False  # this connection's auth_ok allows binary output frames
        self._run_task: asyncio.Task[None] | None = None
        self._last_rx = 0.0
        self._connected_since: float | None = None
        self._cancelled_by_stop = False

    @property
    def url(self) -> str:
        return websocket_url(self.config.hub_url, WS_PATH)

    def status(self) -> dict[str, Any]:
        """The link state as JSON-safe values."""
        return {
            "state": self.state,
            "server_id": self.server_id,
            "hub_url": self.config.hub_url,
            "last_connected_at": (at.isoformat() if (at := self.last_connected_at) else None),
            "last_error": self.last_error,
        }

    async def run(self) -> None:
        """Connect, and reconnect after every failure, until ``stop()``. Returns when stopped."""
        if self._run_task is not None:
            raise RuntimeError("HubConnection.run() is already running")
        self._run_task = asyncio.current_task()
        prime_cpu_percent()
        if self._capabilities is None:
            self._capabilities = await asyncio.to_thread(detect_capabilities)
        try:
            while not self._stopping.is_set():
                self._update(state="connecting")
                slow = False
                try:
                    await self._connect_once()
                    error = "hub closed the connection"
                except (KeyRejected, Replaced) as exc:
                    slow, error = True, str(exc)
                except LinkError as exc:
                    error = str(exc)
                except Exception as exc:
                    # A bug in one connection's handling must not end the daemon; retrying
                    # with backoff gives the operator a running daemon and a logged traceback.
                    log.exception("unexpected failure on the hub connection")
                    error = f"unexpected error: {exc!r}"
                if self._stopping.is_set():
                    break
                if self._connected_since is not None and (
                    time.monotonic() - self._connected_since >= self.stable_after
                ):
                    self._backoff.reset()
                delay = self._backoff.slow_delay() if slow else self._backoff.next_delay()
                log_at = logging.ERROR if slow else logging.WARNING
                log.log(log_at, "%s; reconnecting in %.1fs", error, delay)
                self._update(state="backoff", last_error=error)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
        except asyncio.CancelledError:
            # stop() cancels waits that have no graceful exit (opening, backoff); that is a
            # normal return for our caller. Any other cancellation still propagates.
            task = asyncio.current_task()
            if not self._cancelled_by_stop or task is None or task.uncancel() > 0:
                raise
        finally:
            self._run_task = None
            self._update(state="stopped")

    async def stop(self, reason: str = "daemon shutting down") -> None:
        """Close the socket with 1001 (going away) and end ``run()``; bounded by close_timeout."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(CloseCode.GOING_AWAY, reason)
        task = self._run_task
        if task is None or task.done() or task is asyncio.current_task():
            return
        if ws is not None:
            # The closed socket ends the receive loop; give run() a moment to notice.
            await asyncio.wait({task}, timeout=self.close_timeout)
        if not task.done():
            self._cancelled_by_stop = True
            task.cancel()
            await asyncio.wait({task})

    @property
    def binary_output(self) -> bool:
        """The current connection takes output as binary frames (``send_binary``)."""
        return self._ws is not None and self._binary

    async def send(self, frame: BaseModel | Mapping[str, Any]) -> None:
        """Send a frame on the authenticated connection, or raise NotConnected."""
        await self._send_connected(_text(frame))

    async def send_binary(self, message: bytes) -> None:
        """Send a binary output frame (``protocol.output_frames``), or raise NotConnected; only
        while ``binary_output``: a hub that did not negotiate it would refuse the frame."""
        if not self.binary_output:
            raise NotConnected("the hub connection did not negotiate binary output")
        await self._send_connected(message)

    async def _send_connected(self, message: str | bytes) -> None:
        ws = self._ws
        if ws is None or self.state != "connected":
            raise NotConnected("not connected to the hub")
        try:
            await self._write(ws, message)
        except (ConnectionClosed, LinkError) as exc:
            raise NotConnected(f"connection to the hub lost: {exc}") from exc

    # --- one connection ----------------------------------------------------------------------

    async def _connect_once(self) -> None:
        self._connected_since = None
        url = self.url
        try:
            tls = websocket_tls(self.config, url)
        except HubTlsError as exc:
            raise LinkError(str(exc)) from None
        try:
            ws = await connect(
                url,
                **tls,
                open_timeout=self.open_timeout,
                close_timeout=self.close_timeout,
                # Liveness is the application heartbeat (SPEC §5), which the hub also judges us
                # by; library pings would be a second, differently-timed detector.
                ping_interval=None,
                # Terminal output dominates this link: deflate costs far more CPU per MB than it
                # saves on the wire.
                compression=None,
                user_agent_header=f"orchestratia-agent/{__version__}",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise KeyRejected(key_rejected_message(f"HTTP {status}")) from exc
            raise LinkError(f"hub at {url} refused the WebSocket upgrade: HTTP {status}") from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            # A certificate failure is one line naming the fix, not OpenSSL's wording.
            reason = failure_message(self.config, exc) or str(exc) or type(exc).__name__
            raise LinkError(f"cannot connect to {url}: {reason}") from exc
        self._ws = ws
        try:
            auth_ok = await self._handshake(ws)
            self._binary = auth_ok.protocol >= BINARY_PROTOCOL
            self._connected_since = time.monotonic()
            self._update(
                state="connected",
                last_connected_at=datetime.now(UTC),
                last_error=None,
                server_id=auth_ok.server_id,
            )
            interval = self.config.heartbeat_interval
            if auth_ok.heartbeat_interval > 0:
                # Never beat slower than the hub expects, or it will call us disconnected.
                interval = min(interval, auth_ok.heartbeat_interval)
            log.info("connected to %s as server %s", url, auth_ok.server_id)
            await self._send_on(ws, self._hello())
            await self._pump(ws, interval)
        except ConnectionClosed as exc:
            raise closed_error(exc) from None
        except LinkError as exc:
            if not isinstance(exc, KeyRejected | Replaced):  # dead: no close handshake can cross
                ws.transport.abort()
            raise
        finally:
            self._ws, self._binary = None, False
            code = CloseCode.GOING_AWAY if self._stopping.is_set() else 1000
            with contextlib.suppress(Exception):
                await ws.close(code)

    async def _handshake(self, ws: ClientConnection) -> AuthOkFrame:
        auth = AuthFrame(
            type="auth",
            api_key=self.config.api_key,
            protocol=PROTOCOL_VERSION,
            capabilities=PROTOCOL_FEATURES,
        )
        await self._send_on(ws, auth)
        try:
            async with asyncio.timeout(self.auth_timeout):
                while True:
                    frame = parse_frame(await ws.recv())
                    if frame is None:
                        continue
                    kind = frame.get("type")
                    if kind == "auth_ok" or kind == "error":
                        try:
                            parsed = hub_frame_adapter.validate_python(frame)
                        except ValidationError as exc:
                            raise LinkError(f"hub sent a malformed {kind} frame") from exc
                        if isinstance(parsed, AuthOkFrame):
                            return parsed
                        if isinstance(parsed, ErrorFrame):
                            raise_for_handshake_error(parsed)
                    log.debug("ignoring %r frame before auth_ok", kind)
        except TimeoutError:
            raise LinkError(f"hub sent no auth_ok within {self.auth_timeout:g}s") from None

    def _hello(self) -> HelloFrame:
        return HelloFrame(
            type="hello",
            version=__version__,
            capabilities=list(self._capabilities or []),
            system_info=collect_system_info(),
            repos=dict(self.config.repos),
            sessions=list(self._live_sessions()) if self._live_sessions is not None else [],
        )

    async def _pump(self, ws: ClientConnection, interval: float) -> None:
        self._last_rx = time.monotonic()
        tasks = {
            asyncio.create_task(self._receive_loop(ws)),
            asyncio.create_task(self._heartbeat_loop(ws, interval)),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()

    async def _receive_loop(self, ws: ClientConnection) -> None:
        # recv() rather than ``async for``: iteration ends silently on a clean close, and the
        # close code is what tells a rejected key from a restart.
        while True:
            raw = await ws.recv()
            self._last_rx = time.monotonic()
            frame = parse_frame(raw)
            if frame is not None:
                await self._dispatch(frame)

    async def _heartbeat_loop(self, ws: ClientConnection, interval: float) -> None:
        dead_after = DEAD_AFTER_INTERVALS * interval
        # After a fault on a busy link: at most 2 intervals, where silence alone takes 3.
        answer_within = max(interval, MIN_ANSWER_WAIT)
        next_beat = time.monotonic() + interval
        beat: float | None = None  # when the heartbeat nothing has come back since was sent
        while True:
            now = time.monotonic()
            beat = beat if beat is not None and beat > self._last_rx else None
            silent = now - self._last_rx
            if silent >= dead_after or (beat is not None and now - beat >= answer_within):
                raise LinkError(f"no traffic from hub for {silent:.1f}s; assuming the link is dead")
            if now >= next_beat:
                info = await asyncio.to_thread(collect_system_info)
                await self._send_on(ws, HeartbeatFrame(type="heartbeat", system_info=info))
                beat, next_beat = beat or now, time.monotonic() + interval
                continue
            wake = min(next_beat, self._last_rx + dead_after, (beat or now) + answer_within)
            await asyncio.sleep(wake - now)

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        try:
            await self.router.dispatch(frame)
        except Exception:
            log.exception("handler failed on %r frame from hub", frame.get("type"))

    async def _send_on(self, ws: ClientConnection, frame: BaseModel | Mapping[str, Any]) -> None:
        await self._write(ws, _text(frame))

    async def _write(self, ws: ClientConnection, message: str | bytes) -> None:
        # A send into a half-open TCP connection can wait for buffer space forever.
        try:
            async with asyncio.timeout(max(self.close_timeout, self.config.heartbeat_interval)):
                await ws.send(message)
        except TimeoutError:
            raise LinkError("sending to the hub timed out; assuming the link is dead") from None

    def _update(self, **changes: Any) -> None:
        changed = False
        for name, value in changes.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed and self._on_state_change is not None:
            try:
                self._on_state_change(self)
            except Exception:
                log.exception("state listener failed")


def _text(frame: BaseModel | Mapping[str, Any]) -> str:
    return dump(frame) if isinstance(frame, BaseModel) else json.dumps(dict(frame))
