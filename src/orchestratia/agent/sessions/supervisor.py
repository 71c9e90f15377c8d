"""Session lifecycles: rediscovery after a restart, watching panes, closing, and the end.

A session ends when its pane dies, is closed or killed, or its tmux session vanishes. Then, in
order: its exit code is recorded in ``meta.json`` (so a restart mid-way still knows it), the
tmux session is removed once its capture has drained (``capture_drain``: killing it earlier
could drop output tmux has read but not yet written), the stream sends the rest and
``session_closed``, and once the hub has acked every byte the session's directory is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from orchestratia.agent.sessions.capture_drain import remove_drained
from orchestratia.agent.sessions.log_watch import LogWatcher
from orchestratia.agent.sessions.output_log import SessionPaths, ensure_capture
from orchestratia.agent.sessions.store import TMUX_PREFIX, SessionMeta, SessionStore
from orchestratia.agent.sessions.stream import OutputStream
from orchestratia.agent.terminal.tmux import (
    PaneStatus,
    SessionInfo,
    SessionNotFound,
    TmuxError,
    TmuxServer,
)
from orchestratia.agent.terminal.tmux_control import ControlLink

log = logging.getLogger(__name__)

KILLED = 128 + signal.SIGKILL
# A session missing from this many listings in a row is gone: tmux under load can refuse a
# connection, which must not end every session.
GONE_AFTER = 3


@dataclass(eq=False)
class RunningSession:
    meta: SessionMeta
    paths: SessionPaths
    stream: OutputStream
    pid: int | None
    alive: bool = True
    exit_code: int | None = None
    busy: bool = False  # a close or kill is under way: the monitor leaves it alone
    unseen: int = 0  # consecutive pane listings without it (a busy server can fail one)
    ending: asyncio.Task[None] | None = None
    watch: int | None = None

    @property
    def id(self) -> str:
        return self.meta.session_id


class Supervisor:
    """The lifecycle half of ``SessionRuntime``; see the module docstring."""

    def __init__(
        self,
        tmux: TmuxServer,
        store: SessionStore,
        *,
        monitor_interval: float,
        close_grace: float,
        closed_linger: float,
    ) -> None:
        self.tmux = tmux
        self.store = store
        self.monitor_interval = monitor_interval
        self.close_grace = close_grace
        self.closed_linger = closed_linger
        self.sessions: dict[str, RunningSession] = {}
        self._watcher = LogWatcher()
        self._tasks: set[asyncio.Task[None]] = set()
        self._monitor: asyncio.Task[None] | None = None
        # The one control client for fast input. Its lock is held while tmux sessions are
        # created or killed too: tmux 3.3a crashes if that overlaps an attach (tmux_control).
        self.control = ControlLink(tmux)
        self.topology = self.control.lock

    # Provided by SessionRuntime.
    def _adopt(
        self, meta: SessionMeta, paths: SessionPaths, pid: int | None, *, resuming: bool
    ) -> RunningSession:
        raise NotImplementedError

    async def reply(self, frame: BaseModel) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Rediscover sessions left by an earlier daemon and resume them; start monitoring."""
        self._watcher.start()
        await self._recover()
        self._monitor = asyncio.create_task(self._watch_panes(), name="session-monitor")

    async def stop(self) -> None:
        """Stop streaming and watching; tmux sessions keep running for the next daemon."""
        pending = {t for t in (self._monitor, *self._tasks) if t is not None}
        while pending:  # again if a task swallowed the cancellation (it must not hang us)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        self._monitor = None
        for session in list(self.sessions.values()):
            await self._release(session)
        await self.control.retire(self._idle, only_if_idle=False)
        self.sessions.clear()
        self._watcher.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; its failure is logged, and ``stop`` cancels it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reaped)

    def _reaped(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session task failed", exc_info=task.exception())

    def start_stream(self, session: RunningSession) -> None:
        session.watch = self._watcher.watch(session.paths.log, session.stream.wake)
        session.stream.start(notified=session.watch is not None)

    def _idle(self) -> bool:
        return not any(session.alive for session in self.sessions.values())

    # --- rediscovery and monitoring -----------------------------------------------------------

    async def _recover(self) -> None:
        found = self.store.load_all()
        panes: dict[str, SessionInfo] | None = None
        try:
            panes = {info.name: info for info in await self.tmux.list_sessions()}
        except TmuxError as exc:  # cannot tell: treat as alive, the monitor decides later
            log.warning("cannot list tmux sessions: %s", exc)
        for paths, meta in found:
            info = panes.get(meta.tmux_name) if panes is not None else None
            session = self._adopt(meta, paths, info.pane_pid if info else meta.pid, resuming=True)
            self.start_stream(session)
            gone = panes is not None and info is None
            if gone and (meta.exit_code is not None or await self._gone(meta.tmux_name)):
                log.info("session %s: tmux session gone while the daemon was down", meta.session_id)
                self.finish(session, meta.exit_code)
            elif info is not None and info.dead:
                self.finish(session, await self._exit_code(info))
            else:
                log.info("session %s: recovered, pid %s", meta.session_id, session.pid)
                if info is not None and not info.capturing:
                    await self._repair_capture(session)
        if not self._idle():
            await self.control.ensure()
        known = {meta.tmux_name for _, meta in found}
        for name in panes or {}:
            if name.startswith(TMUX_PREFIX) and name not in known:
                log.warning("tmux session %s has no metadata; leaving it alone", name)

    async def _watch_panes(self) -> None:
        while True:
            await asyncio.sleep(self.monitor_interval)
            if not self.sessions:
                continue  # nothing to watch: leave the private tmux server alone
            try:
                panes = {info.name: info for info in await self.tmux.list_sessions()}
            except TmuxError as exc:
                log.warning("cannot list tmux sessions: %s", exc)
                continue
            for session in list(self.sessions.values()):
                if session.busy or session.ending is not None:
                    continue
                info = panes.get(session.meta.tmux_name)
                session.unseen = session.unseen + 1 if info is None else 0
                if info is None:
                    if session.unseen >= GONE_AFTER:
                        log.warning("session %s: tmux session vanished", session.id)
                        self.finish(session, session.meta.exit_code)
                elif info.dead:
                    self.finish(session, await self._exit_code(info))
                else:
                    if not info.capturing:
                        await self._repair_capture(session)
            if not self._idle():
                await self.control.ensure()

    async def _exit_code(self, info: SessionInfo) -> int | None:
        code = info.status.exit_code
        for _ in range(20):  # tmux has not reaped the program yet (see TmuxServer._reap)
            if code is not None:
                break
            await asyncio.sleep(0.05)
            with contextlib.suppress(TmuxError):
                code = (await self.tmux.pane_dead_status(info.name)).exit_code
        return code

    async def _gone(self, name: str) -> bool:
        """Whether session ``name`` is really gone: missing in ``GONE_AFTER`` checks."""
        for attempt in range(GONE_AFTER):
            if attempt:
                await asyncio.sleep(self.monitor_interval)
            with contextlib.suppress(TmuxError):
                if await self.tmux.exists(name):
                    return False
        return True

    async def _repair_capture(self, session: RunningSession) -> None:
        try:
            gap = await ensure_capture(self.tmux, session.meta.tmux_name, session.stream.log)
        except (TmuxError, OSError) as exc:
            log.warning("session %s: cannot repair capture: %s", session.id, exc)
            return
        if gap is not None:
            session.stream.add_gap(gap.offset)

    # --- the end ------------------------------------------------------------------------------

    async def close(self, session: RunningSession, *, kill: bool) -> None:
        """``session_close`` (SIGHUP, then remove) or ``session_kill`` (the whole tree)."""
        if session.busy or session.ending is not None:
            return
        session.busy = True
        name = session.meta.tmux_name
        exit_code = session.meta.exit_code
        try:
            if kill:
                await self.tmux.kill_tree(name, remove=False)
                status = await self._dead_status(name)
                exit_code = status.exit_code if status.dead else KILLED
            else:
                status = await self.tmux.close(name, self.close_grace, remove=False)
                if not status.dead:  # it ignored SIGHUP; left alone it would be an orphan
                    await self.tmux.kill_tree(name, remove=False)
                    status = await self._dead_status(name)
                exit_code = status.exit_code
        except SessionNotFound:
            pass
        except TmuxError as exc:
            log.warning("session %s: %s failed: %s", session.id, "kill" if kill else "close", exc)
        finally:
            session.busy = False
        self.finish(session, exit_code)

    async def _dead_status(self, name: str, timeout: float = 2.0) -> PaneStatus:
        deadline = asyncio.get_running_loop().time() + timeout
        status = await self.tmux.pane_dead_status(name)
        while not status.dead and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
            status = await self.tmux.pane_dead_status(name)
        return status

    def finish(self, session: RunningSession, exit_code: int | None) -> None:
        """Start ending ``session`` (idempotent); see the module docstring for the steps."""
        if session.ending is not None:
            return
        session.alive, session.exit_code = False, exit_code
        session.ending = asyncio.create_task(self._end(session), name=f"end-{session.id}")
        self._tasks.add(session.ending)
        session.ending.add_done_callback(self._reaped)

    async def _end(self, session: RunningSession) -> None:
        if session.meta.exit_code != session.exit_code:
            session.meta = session.meta.evolve(exit_code=session.exit_code)
            with contextlib.suppress(OSError):
                self.store.save(session.paths, session.meta)
        try:
            await remove_drained(
                self.tmux, session.meta.tmux_name, session.stream.log, lock=self.topology
            )
        except TmuxError as exc:
            log.warning("session %s: cannot remove the tmux session: %s", session.id, exc)
        await self.control.retire(self._idle, only_if_idle=True)  # the last: no tmux left
        session.stream.end_of_input(session.exit_code)
        # Done means session_closed went out and every byte before it is acked. The linger
        # lets a link that drops just then take the session back (resend) before we forget it.
        while True:
            await session.stream.wait_done()
            await asyncio.sleep(self.closed_linger)
            if session.stream.done:
                break
        log.info("session %s: ended (exit %s), fully delivered", session.id, session.exit_code)
        await self._release(session)
        self.sessions.pop(session.id, None)
        self.store.remove(session.paths)

    async def _release(self, session: RunningSession) -> None:
        self._watcher.unwatch(session.watch)
        session.watch = None
        await session.stream.stop()
