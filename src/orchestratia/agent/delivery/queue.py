"""Typing the hub's deliveries into sessions, each exactly once, when it is safe to.

Each delivery frame becomes one line (``delivery.text``) queued for its session. A session's
queue is drained in order by one worker, which types the next line only when the human's
input line is empty and, unless the delivery is urgent, the terminal has been quiet for
``idle_seconds`` (``delivery.gate``); an urgent delivery goes ahead of normal ones. A line is
typed, then Enter follows after ``enter_delay``: agent CLIs such as Claude Code take text and
Enter arriving together for a paste and would not submit it. Viewers' keystrokes arriving
meanwhile are held and typed after that Enter, so they never land inside the line.

Then the daemon answers ``delivery_ack``. Ids already typed are remembered (``delivery.log``):
a resend after a reconnect or restart is acknowledged again, never retyped; a resend of one
still queued is dropped (its ack follows when it is typed). Acks that find the link down wait
in ``unsent`` and go out when it comes back. A frame without ``delivery_id`` (an older hub) is
typed but not acknowledged.

Before a line is typed, the session's foreground program is looked at (``foreground``): if it
is a shell at its prompt, or cannot be known, the line is typed as an inert comment, so the text
from the hub is shown but never run as a command; the ack's detail says so. It is looked at
again before Enter: if a shell took over meanwhile, Ctrl-C drops the line instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from orchestratia.agent.delivery.foreground import Verdict, as_comment, inspect
from orchestratia.agent.delivery.gate import HumanLine, QuietWatch
from orchestratia.agent.delivery.log import TypedLog
from orchestratia.agent.delivery.text import render
from orchestratia.agent.link.errors import NotConnected
from orchestratia.agent.link.routing import Route
from orchestratia.agent.sessions.supervisor import RunningSession
from orchestratia.agent.terminal.tmux import TmuxError
from orchestratia.protocol.base import frame_classes
from orchestratia.protocol.deliveries import DeliveryAckFrame, DeliveryMessage

log = logging.getLogger(__name__)

Send = Callable[[BaseModel], Awaitable[None]]
UNSENT_MAX = 1000  # acks beyond this are dropped: the hub resends and the log re-acks them
Foreground = Callable[["Terminal"], Awaitable[Verdict]]


class Terminal(Protocol):
    """A session as deliveries see it."""

    @property
    def alive(self) -> bool: ...
    @property
    def directory(self) -> Path: ...
    def output_mark(self) -> int:
        """A number that grows whenever the program writes output."""
        ...

    async def type(self, data: bytes) -> None:
        """Write ``data`` to the terminal's input; raises ``TmuxError`` or ``OSError``."""
        ...


@dataclass
class SessionTerminal:
    """A ``RunningSession`` as a ``Terminal``; ``write`` is the runtime's input path."""

    session: RunningSession
    write: Callable[[RunningSession, bytes], Awaitable[None]]

    @property
    def alive(self) -> bool:
        return self.session.alive

    @property
    def directory(self) -> Path:
        return self.session.paths.directory

    def output_mark(self) -> int:
        return self.session.stream.log.size()  # grows even while the hub link is down

    async def type(self, data: bytes) -> None:
        await self.write(self.session, data)


async def session_foreground(terminal: Terminal) -> Verdict:
    """The foreground program of a ``SessionTerminal``; a test double has none to look at."""
    if isinstance(terminal, SessionTerminal):
        return await asyncio.to_thread(inspect, terminal.session.pid)
    return Verdict("program", type(terminal).__name__)


@dataclass(eq=False)
class _Session:
    line: HumanLine
    quiet: QuietWatch
    queue: list[tuple[DeliveryMessage, str]] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    typed: TypedLog | None = None
    current: str | None = None  # the id being typed
    held: bytearray | None = None  # viewers' input while a line is typed; None otherwise

    def log_in(self, terminal: Terminal) -> TypedLog:
        if self.typed is None:
            self.typed = TypedLog(terminal.directory)
        return self.typed


class DeliveryQueue:
    """Every session's deliveries; see the module docstring. ``find`` looks a session up."""

    def __init__(
        self,
        find: Callable[[str], Terminal | None],
        send: Send,
        *,
        idle_seconds: float = 3.0,
        enter_delay: float = 0.15,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        foreground: Foreground = session_foreground,
    ) -> None:
        self._find, self._send, self._foreground = find, send, foreground
        self.idle_seconds, self.enter_delay = idle_seconds, enter_delay
        self.poll_interval = poll_interval
        self._clock, self._sleep = clock, sleep
        self._sessions: dict[str, _Session] = {}
        self.unsent: deque[DeliveryAckFrame] = deque(maxlen=UNSENT_MAX)
        self._flusher: asyncio.Task[None] | None = None
        self._typing: set[asyncio.Task[None]] = set()

    def queued(self, session_id: str) -> list[str | None]:
        """The delivery ids waiting for ``session_id``, in arrival order."""
        state = self._sessions.get(session_id)
        return [frame.delivery_id for frame, _ in state.queue] if state else []

    def quiet_for(self, session_id: str) -> float:
        """Seconds ``session_id``'s output has been seen quiet (0 for a session not watched)."""
        state, terminal = self._sessions.get(session_id), self._find(session_id)
        if state is None or terminal is None:
            return 0.0
        now = self._clock()
        state.quiet.observe(terminal.output_mark(), now)
        return state.quiet.quiet_for(now)

    def routes(self) -> list[Route]:
        """The hub's delivery frames: each is queued; a malformed one is refused."""
        # ``Route`` rather than ``route``: ``submit`` takes every delivery class, not one.
        return [Route(frame, self.submit, self._refuse) for frame in frame_classes(DeliveryMessage)]

    async def _refuse(self, raw: Mapping[str, Any], exc: ValidationError) -> None:
        log.warning("malformed %s delivery from the hub: %s", raw.get("type"), exc)
        with contextlib.suppress(ValidationError):  # no usable ids: nothing to answer
            await self._send_ack(
                DeliveryAckFrame(
                    delivery_id=raw.get("delivery_id"),
                    session_id=raw.get("session_id"),
                    status="failed",
                    detail="malformed delivery frame",
                )
            )

    async def submit(self, frame: DeliveryMessage) -> None:
        """Queue ``frame`` for typing, or answer at once if it was typed or cannot be."""
        self._prune()
        sid, did = frame.session_id, frame.delivery_id
        terminal = self._find(sid)
        if terminal is None:
            await self._ack(frame, "failed", f"no session {sid} on this server")
            return
        state = self._state(sid, terminal)
        if did is not None:
            if did in state.log_in(terminal):
                await self._ack(frame, "delivered")  # a resend: the hub missed our ack
                return
            if did == state.current or did in self.queued(sid):
                return  # a resend of one on its way: its ack follows
        if not terminal.alive:
            await self._ack(frame, "failed", f"session {sid} has ended")
            return
        state.queue.append((frame, render(frame)))
        if state.worker is None:
            state.worker = asyncio.create_task(self._drain(sid, state), name=f"deliver-{sid}")

    def human_input(self, session_id: str, data: bytes) -> bool:
        """Note what a viewer typed; True if the bytes are held to follow a line being typed."""
        state = self._sessions.get(session_id)
        if state is None:
            terminal = self._find(session_id)
            if terminal is None:
                return False
            state = self._state(session_id, terminal)
        state.line.feed(data)
        if state.held is None:
            return False
        state.held += data
        return True

    def link_changed(self, connected: bool) -> None:
        """Call on every change of the hub link: acks that found it down go out again."""
        if connected and self.unsent and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush(), name="delivery-acks")

    async def stop(self) -> None:
        """Stop the workers (queued deliveries are resent by the hub); a line being typed is
        finished first, or it would be typed again after a restart."""
        tasks = [s.worker for s in self._sessions.values() if s.worker is not None]
        tasks += [self._flusher] if self._flusher is not None else []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._typing:
            _, late = await asyncio.wait(self._typing, timeout=2.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # --- per session --------------------------------------------------------------------------

    def _state(self, session_id: str, terminal: Terminal) -> _Session:
        state = self._sessions.get(session_id)
        now = self._clock()
        if state is None:
            state = _Session(HumanLine(), QuietWatch(terminal.output_mark(), now))
            self._sessions[session_id] = state
        else:
            state.quiet.observe(terminal.output_mark(), now)
        return state

    def _prune(self) -> None:
        for sid in [sid for sid, s in self._sessions.items() if s.worker is None]:
            if self._find(sid) is None:
                del self._sessions[sid]

    async def _drain(self, sid: str, state: _Session) -> None:
        try:
            while state.queue:
                terminal = self._find(sid)
                if terminal is None or not terminal.alive:
                    lost, state.queue[:] = list(state.queue), []
                    for frame, _ in lost:
                        await self._ack(frame, "failed", "the session ended before it was typed")
                    continue
                item = self._ready(state, terminal)
                if item is None:
                    await self._sleep(self.poll_interval)
                    continue
                state.queue.remove(item)
                # Decided and marked before the first await: input from now on is held.
                state.current, state.held = item[0].delivery_id, bytearray()
                typing = asyncio.create_task(self._type(state, terminal, *item))
                self._typing.add(typing)
                typing.add_done_callback(self._typing.discard)
                await asyncio.shield(typing)  # a stop mid-line would leave half of it typed
        except Exception:
            log.exception("session %s: delivery worker failed; %d waiting", sid, len(state.queue))
        finally:
            state.worker = None

    def _ready(self, state: _Session, terminal: Terminal) -> tuple[DeliveryMessage, str] | None:
        now = self._clock()
        state.quiet.observe(terminal.output_mark(), now)
        if state.line.dirty:
            return None
        urgent = next((item for item in state.queue if item[0].urgent), None)
        if urgent is not None:
            return urgent
        return state.queue[0] if state.quiet.quiet_for(now) >= self.idle_seconds else None

    async def _type(
        self, state: _Session, terminal: Terminal, frame: DeliveryMessage, text: str
    ) -> None:
        error: str | None = None
        try:
            verdict = await self._foreground(terminal)
            await terminal.type((text if verdict.plain else as_comment(text)).encode("utf-8"))
            await self._sleep(self.enter_delay)
            if verdict.plain and not (await self._foreground(terminal)).plain:
                await terminal.type(b"\x03")  # the program gave way to a shell: drop the line
                error = "a shell came to the foreground while it was typed; not submitted"
            else:
                await terminal.type(b"\r")
        except (TmuxError, OSError) as exc:
            error = str(exc)
        finally:
            held, state.held, state.current = state.held, None, None
            if held:
                with contextlib.suppress(TmuxError, OSError):
                    await terminal.type(bytes(held))
        if error is not None:
            log.warning(
                "session %s: cannot type delivery %s: %s",
                frame.session_id,
                frame.delivery_id,
                error,
            )
            await self._ack(frame, "failed", f"typing into the session failed: {error}")
            return
        if frame.delivery_id is not None:
            state.log_in(terminal).add(frame.delivery_id)
        sid, did = frame.session_id, frame.delivery_id
        log.info("session %s: typed %s %s %s", sid, frame.type, did, verdict.detail)
        await self._ack(frame, "delivered", verdict.detail)

    # --- acks ---------------------------------------------------------------------------------

    async def _ack(
        self, frame: DeliveryMessage, status: Literal["delivered", "failed"], detail: str = ""
    ) -> None:
        if frame.delivery_id is None:
            return  # an older hub: it does not expect acks
        ack = DeliveryAckFrame(
            delivery_id=frame.delivery_id,
            session_id=frame.session_id,
            status=status,
            detail=detail[:2000],
        )
        await self._send_ack(ack)

    async def _send_ack(self, ack: DeliveryAckFrame) -> None:
        try:
            await self._send(ack)
        except NotConnected:
            self.unsent.append(ack)

    async def _flush(self) -> None:
        while self.unsent:
            ack = self.unsent.popleft()
            try:
                await self._send(ack)
            except NotConnected:
                self.unsent.appendleft(ack)
                return  # down again: the next link_changed(True) retries
