"""The daemon's terminal sessions: hub frames in, tmux sessions and output streams out.

``SessionRuntime`` owns every session of this daemon. Each runs in tmux on the private socket
as ``orc-<session id>``, its output captured by ``pipe-pane`` into a private log and streamed by
an ``OutputStream`` (offsets, acks and resume are explained in ``sessions.stream``). Sessions
outlive the daemon: ``start()`` finds them again (``sessions.store``) and resumes their streams;
``stop()`` leaves them running.

Frames that may take long (close, kill, snapshots) run as tasks, so the connection's receive
loop keeps delivering input and acks meanwhile. Input goes through one tmux control-mode client
(``tmux_control``), which keeps a keystroke's way to the PTY well under a millisecond.
Delivery frames (task messages for the agent) go to ``deliveries.DeliveryQueue``, which types
them through the same path and watches viewers' input so as not to type into a half-typed line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from pydantic import BaseModel

from orchestratia.agent.approvals.rule_cache import policy_dir
from orchestratia.agent.config import AgentConfig
from orchestratia.agent.delivery.queue import DeliveryQueue, SessionTerminal
from orchestratia.agent.link.errors import NotConnected
from orchestratia.agent.link.hub_tls import session_variables
from orchestratia.agent.link.routing import Route, route
from orchestratia.agent.metrics import AgentMetrics
from orchestratia.agent.sessions.cli_path import cli_bin_dir, install_cli_shim
from orchestratia.agent.sessions.hub_link import HubLink, Link
from orchestratia.agent.sessions.launch import (
    LaunchError,
    command_argv,
    session_environment,
    working_directory,
)
from orchestratia.agent.sessions.output_log import SessionPaths
from orchestratia.agent.sessions.store import SessionMeta, SessionStore
from orchestratia.agent.sessions.stream import WINDOW, OutputStream
from orchestratia.agent.sessions.supervisor import RunningSession, Supervisor
from orchestratia.agent.sessions.views import ViewMaker, scrollback_frame, snapshot_frame
from orchestratia.agent.terminal.tmux import TmuxError, TmuxServer
from orchestratia.protocol.base import b64decode
from orchestratia.protocol.sessions import (
    CaptureScrollbackFrame,
    LiveSession,
    SessionCloseFrame,
    SessionErrorFrame,
    SessionInputFrame,
    SessionKillFrame,
    SessionOutputAckFrame,
    SessionRecoveredAckFrame,
    SessionResizeFrame,
    SessionStartedFrame,
    SessionStartFrame,
    SnapshotRequestFrame,
)

log = logging.getLogger(__name__)


class _SessionFrame(Protocol):
    @property
    def session_id(self) -> str: ...


S = TypeVar("S", bound=_SessionFrame)
Handler = Callable[[S], Awaitable[None]]


class SessionRuntime(Supervisor):
    """All terminal sessions of one daemon; see the module docstring.

    Wiring: ``attach(connection)``; ``routes`` for hub frames; ``live_sessions`` for
    ``hello``; ``link_changed`` on every connect and disconnect; ``start()`` before connecting
    and ``stop()`` after.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        tmux: TmuxServer | None = None,
        monitor_interval: float = 0.5,
        resync_timeout: float = 5.0,
        window: int = WINDOW,
        close_grace: float = 2.0,
        closed_linger: float = 1.0,
        metrics: AgentMetrics | None = None,
    ) -> None:
        super().__init__(
            tmux or TmuxServer(config.tmux_socket),
            SessionStore(config.sessions_dir()),
            monitor_interval=monitor_interval,
            close_grace=close_grace,
            closed_linger=closed_linger,
        )
        self.config = config
        self.metrics = metrics or AgentMetrics()
        self.resync_timeout = resync_timeout
        self.window = window
        self.link = HubLink(self.metrics)
        self._connected = False
        self.deliveries = DeliveryQueue(
            self._terminal, self.link.send, idle_seconds=config.delivery_idle_seconds
        )

    def attach(self, link: Link) -> None:
        """Where frames go: normally the ``HubConnection``."""
        self.link.target = link

    def live_sessions(self) -> list[LiveSession]:
        """The sessions to announce in ``hello``: live ones, and ended ones not fully acked.

        ``offset`` is the stream offset produced so far (for a session just recovered, the
        persisted ack until its stream has caught up).
        """
        return [
            LiveSession(
                session_id=s.meta.session_id,
                offset=s.stream.produced,
                pid=s.pid,
                tmux_name=s.meta.tmux_name,
                alive=s.alive,
                exit_code=None if s.alive else s.exit_code,
            )
            for s in list(self.sessions.values())[:10_000]
        ]

    def link_changed(self, connected: bool) -> None:
        """Call on every change of the hub link; streams pause while it is down."""
        if connected == self._connected:
            return
        self._connected = connected
        self.deliveries.link_changed(connected)
        for session in self.sessions.values():
            if connected:
                session.stream.link_up()
            else:
                session.stream.link_down()

    async def stop(self) -> None:
        await self.deliveries.stop()
        await super().stop()

    def routes(self) -> list[Route]:
        """The hub frames this runtime acts on, its deliveries' included."""
        return [
            route(SessionStartFrame, self._start),
            route(SessionRecoveredAckFrame, self._recovered_ack),
            route(SessionOutputAckFrame, self._output_ack),
            route(SessionInputFrame, self._in_session(self._input_frame)),
            route(SessionResizeFrame, self._in_session(self._resize_frame)),
            route(SessionCloseFrame, self._in_session(self._close_frame)),
            route(SessionKillFrame, self._in_session(self._kill_frame)),
            route(SnapshotRequestFrame, self._in_session(self._snapshot_frame)),
            route(CaptureScrollbackFrame, self._in_session(self._scrollback_frame)),
            *self.deliveries.routes(),
        ]

    # --- frames -------------------------------------------------------------------------------

    def _in_session(self, act: Callable[[RunningSession, S], Awaitable[None]]) -> Handler[S]:
        """``act`` on the frame's session; a session this daemon lacks is reported instead."""

        async def handle(frame: S) -> None:
            session = self.sessions.get(frame.session_id)
            if session is None:
                await self._error(frame.session_id, f"no session {frame.session_id} on this server")
            else:
                await act(session, frame)

        return handle

    async def _recovered_ack(self, frame: SessionRecoveredAckFrame) -> None:
        log.debug("ignoring legacy session_recovered_ack for %s", frame.tmux_name)

    async def _output_ack(self, frame: SessionOutputAckFrame) -> None:
        session = self.sessions.get(frame.session_id)
        if session is not None:
            session.stream.on_ack(frame.offset)

    async def _input_frame(self, session: RunningSession, frame: SessionInputFrame) -> None:
        await self._input(session, b64decode(frame.data))

    async def _resize_frame(self, session: RunningSession, frame: SessionResizeFrame) -> None:
        await self._resize(session, frame.cols, frame.rows)

    async def _close_frame(self, session: RunningSession, _frame: SessionCloseFrame) -> None:
        self.spawn(self.close(session, kill=False))

    async def _kill_frame(self, session: RunningSession, _frame: SessionKillFrame) -> None:
        self.spawn(self.close(session, kill=True))

    async def _snapshot_frame(self, session: RunningSession, frame: SnapshotRequestFrame) -> None:
        self.spawn(self._view(snapshot_frame, session, frame.request_id))

    async def _scrollback_frame(
        self, session: RunningSession, frame: CaptureScrollbackFrame
    ) -> None:
        self.spawn(self._view(scrollback_frame, session, frame.request_id))

    async def _start(self, frame: SessionStartFrame) -> None:
        sid = frame.session_id
        existing = self.sessions.get(sid)
        if existing is not None:  # a repeated start (the hub retried): report what runs
            if existing.alive:
                await self._started(existing, recovered=False)
            else:
                await self._error(sid, f"session {sid} has already ended")
            return
        try:
            cwd = working_directory(frame.working_directory)
            paths = self.store.paths(sid)
        except (LaunchError, ValueError, OSError) as exc:
            await self._error(sid, str(exc))
            return
        for stale in (paths.log, paths.ack, paths.gaps):  # left by an earlier, forgotten run
            stale.unlink(missing_ok=True)
        meta = SessionMeta.new(sid, frame.project_id, str(cwd))
        cli_bin = cli_bin_dir(self.config)
        try:
            install_cli_shim(cli_bin)
            self.store.save(paths, meta)
            async with self.topology:
                pid = await self.tmux.new_session(
                    meta.tmux_name,
                    cwd,
                    command_argv(frame.command, cli_bin),
                    session_environment(
                        self.config.hub_url,
                        frame,
                        policy_dir(self.config),
                        cli_bin,
                        session_variables(self.config.ca_file, self.config.allow_insecure),
                    ),
                    cols=frame.cols,
                    rows=frame.rows,
                    log_path=paths.log,
                )
            meta = meta.evolve(pid=pid)
            self.store.save(paths, meta)
        except (TmuxError, OSError, ValueError) as exc:
            self.store.remove(paths)
            await self._error(sid, f"cannot start the session: {exc}")
            return
        session = self._adopt(meta, paths, pid, resuming=False)
        await self._started(session, recovered=False)
        self.start_stream(session)
        await self.control.ensure()

    async def _input(self, session: RunningSession, data: bytes) -> None:
        if not session.alive:
            log.info("session %s has ended; dropping %d bytes of input", session.id, len(data))
            return
        if self.deliveries.human_input(session.id, data):
            return  # held back while a delivery is typed; it follows that line
        try:
            await self._write(session, data)
        except TmuxError as exc:
            log.warning("session %s: input failed: %s", session.id, exc)

    async def _write(self, session: RunningSession, data: bytes) -> None:
        """Type ``data`` into the session (viewers' keys and deliveries); ``TmuxError``."""
        control = self.control.ready
        try:
            if control is not None:
                await control.send_bytes(session.meta.tmux_name, data)
            else:
                await self.tmux.send_bytes(session.meta.tmux_name, data)
        finally:
            session.stream.kick()  # the echo is on its way: look for it at once

    def _terminal(self, session_id: str) -> SessionTerminal | None:
        session = self.sessions.get(session_id)
        return SessionTerminal(session, self._write) if session is not None else None

    async def _resize(self, session: RunningSession, cols: int, rows: int) -> None:
        if not session.alive:
            return
        name = session.meta.tmux_name
        control = self.control.ready
        try:
            if control is not None:
                await control.command("resize-window", "-t", f"={name}:", "-x", str(cols),
                                      "-y", str(rows))  # fmt: skip
            else:
                await self.tmux.resize(name, cols, rows)
        except TmuxError as exc:
            log.warning("session %s: resize failed: %s", session.id, exc)

    async def _view(self, make: ViewMaker, session: RunningSession, request_id: str) -> None:
        try:
            frame = await make(self.tmux, session, request_id, self.config.redact_patterns)
        except TmuxError as exc:  # the session is going away; the hub's request times out
            log.warning("session %s: cannot capture the screen: %s", session.id, exc)
            return
        await self.reply(frame)

    # --- helpers ------------------------------------------------------------------------------

    def _adopt(
        self, meta: SessionMeta, paths: SessionPaths, pid: int | None, *, resuming: bool
    ) -> RunningSession:
        stream = OutputStream(
            meta.session_id,
            paths,
            self.link,
            patterns=self.config.redact_patterns,
            resuming=resuming,
            window=self.window,
            resync_timeout=self.resync_timeout,
            on_read=self.metrics.pane_read,
        )
        if self._connected:
            stream.link_up()
        session = RunningSession(meta, paths, stream, pid)
        self.sessions[meta.session_id] = session
        return session

    async def _started(self, session: RunningSession, *, recovered: bool) -> None:
        frame = SessionStartedFrame(
            type="session_started",
            session_id=session.id,
            pid=session.pid,
            tmux_name=session.meta.tmux_name,
            working_dir=session.meta.working_dir or None,
            recovered=recovered,
        )
        await self.reply(frame)

    async def _error(self, session_id: str, message: str) -> None:
        log.warning("session %s: %s", session_id, message)
        if session_id:
            await self.reply(
                SessionErrorFrame(type="session_error", session_id=session_id, error=message)
            )

    async def reply(self, frame: BaseModel) -> None:
        """Send a frame if connected; a lost reply is logged (the hub asks again or reconciles
        on ``hello``)."""
        try:
            await self.link.send(frame)
        except NotConnected as exc:
            log.info("dropping %s: %s", getattr(frame, "type", "frame"), exc)
