"""Live activity states and screen miniatures for the projects someone watches on a dashboard.

Output frames only touch memory here: the output clock (when a session last printed) and, for
projects open on a sessions grid, a small buffer of output not yet drawn. A tick (ten times a
second) turns that into events: ``session_activity`` when a session's state changed and
``session_screen`` when a watched session's miniature changed (at most twice a second per
session), so a session printing hundreds of frames a second costs two screen updates a second
and no database write at all.

Each miniature is an incremental pyte screen fed only the output since the last tick (capped:
a flood is cut to its last lines, which is what a miniature shows anyway), never a re-render of
the recording's tail. The facts behind "waiting" (the inbox) are re-read only when the project's
own dashboard feed says the inbox, a task or a session changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyte
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestratia.hub.bus import Bus, Feed, Following
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.services.access.plans import LIVE_SESSION
from orchestratia.hub.services.fleet import activity, recording
from orchestratia.protocol.cluster import OutputMessage
from orchestratia.protocol.dashboard_events import (
    ActivityState,
    DashboardEvent,
    SessionActivity,
    SessionScreen,
)

log = logging.getLogger(__name__)

# Output kept for a miniature between two ticks; more than a screenful only scrolls away.
MINI_BYTES = 8 * 1024
# What makes the project's facts worth re-reading (the grid's own events do not).
_FACT_EVENTS = {"inbox_update", "task_update", "session_update"}


@dataclass
class Miniature:
    screen: pyte.Screen
    stream: pyte.ByteStream
    pending: bytearray = field(default_factory=bytearray)
    cut: bool = False  # pending lost its start: begin drawing at a line
    shown: list[str] | None = None
    drawn_at: float = float("-inf")  # monotonic; a tile is redrawn at most once per interval

    @classmethod
    def sized(cls, cols: int, rows: int) -> Miniature:
        screen = pyte.Screen(max(cols, 2), max(rows, 1))
        return cls(screen, pyte.ByteStream(screen))

    def add(self, data: bytes) -> None:
        self.pending += data
        if len(self.pending) > 2 * MINI_BYTES:
            del self.pending[: len(self.pending) - MINI_BYTES]
            self.cut = True

    def draw(self) -> list[str] | None:
        """Feed the pending output; the screen's lines if they changed since last shown."""
        data = bytes(self.pending)
        self.pending.clear()
        if self.cut:
            newline = data.find(b"\n")
            data = data[newline + 1 :] if newline >= 0 else data
            self.cut = False
        self.stream.feed(data)
        lines = [line.rstrip() for line in self.screen.display]
        while lines and not lines[-1]:
            lines.pop()
        if lines == self.shown:
            return None
        self.shown = lines
        return lines


@dataclass
class _Project:
    feed: Feed
    dashboards: int = 0
    grids: int = 0
    stale: bool = True  # statuses or the inbox changed: re-read them on the next tick
    statuses: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    published: dict[str, ActivityState] = field(default_factory=dict)
    minis: dict[str, Miniature] = field(default_factory=dict)
    drawn: set[str] = field(default_factory=set)  # minis with output to draw
    # Output of sessions not drawn yet, by the offset of its first byte: the recording a tile
    # is seeded from holds only what the last group commit stored.
    early: dict[str, tuple[int, bytearray]] = field(default_factory=dict)
    following: Following | None = None  # output of sessions held by other replicas


class GridWatch:
    def __init__(
        self,
        bus: Bus,
        sessionmaker: async_sessionmaker[AsyncSession],
        idle_after: float,
        screen_interval: float,
    ) -> None:
        self.clock = activity.OutputClock()
        self.idle_after = idle_after
        self.screen_interval = screen_interval
        self._bus, self._sessionmaker = bus, sessionmaker
        self._projects: dict[str, _Project] = {}

    # --- who watches ----------------------------------------------------------------------

    @contextmanager
    def watching(self, project_id: str, *, screens: bool) -> Iterator[None]:
        """A dashboard follows ``project_id`` (access checked by the caller) for as long as
        this lasts; ``screens``: it is a grid and wants the miniatures."""
        watched = self._projects.get(project_id)
        if watched is None:
            watched = self._projects[project_id] = _Project(self._bus.subscribe(project_id))
            if self._bus.shared:
                # Sessions held by other replicas print there: follow their output too.
                watched.following = Following(project_id, None, self._remote_output)
                self._bus.follow_output(watched.following)
        watched.dashboards += 1
        watched.grids += screens
        if screens:
            # A grid joining a project other pages already follow: seed its miniatures now, not
            # at the project's next change (a quiet session would stay blank until it printed).
            watched.stale = True
        try:
            yield
        finally:
            watched.dashboards -= 1
            watched.grids -= screens
            if not watched.grids:
                watched.minis.clear()
                watched.drawn.clear()
                watched.early.clear()
            if not watched.dashboards:
                self._bus.unsubscribe(project_id, watched.feed)
                if watched.following is not None:
                    self._bus.unfollow_output(watched.following)
                del self._projects[project_id]

    def current(self, project_id: str) -> list[DashboardEvent]:
        """What a dashboard joining now needs to be up to date: the states, the miniatures."""
        watched = self._projects.get(project_id)
        if watched is None:
            return []
        events: list[DashboardEvent] = [
            SessionActivity(session_id=sid, state=state) for sid, state in watched.published.items()
        ]
        events += [
            SessionScreen(session_id=sid, lines=mini.shown)
            for sid, mini in watched.minis.items()
            if mini.shown is not None
        ]
        return events

    # --- the relay path -------------------------------------------------------------------

    def output(self, project_id: str, session_id: str, offset: int, data: bytes) -> None:
        """A session printed ``data`` at ``offset`` (called for every output frame: memory
        only)."""
        self.clock.printed(session_id)
        watched = self._projects.get(project_id)
        if watched is None or not watched.grids:
            return
        mini = watched.minis.get(session_id)
        if mini is None:
            watched.stale = True  # a session this grid has not drawn yet: seed it
            start, early = watched.early.setdefault(session_id, (offset, bytearray()))
            early += data
            if len(early) > 2 * MINI_BYTES:
                cut = len(early) - MINI_BYTES
                del early[:cut]
                watched.early[session_id] = (start + cut, early)
            return
        mini.add(data)
        watched.drawn.add(session_id)

    def _remote_output(self, project_id: str, session_id: str, output: OutputMessage) -> None:
        self.output(project_id, session_id, output.offset, bytes(output.data))

    # --- the tick -------------------------------------------------------------------------

    async def tick(self) -> None:
        drawing: list[tuple[str, str, Miniature]] = []
        now = time.monotonic()
        for project_id, watched in list(self._projects.items()):
            while not watched.feed.empty():
                if watched.feed.get_nowait().get("type") in _FACT_EVENTS:
                    watched.stale = True
            if watched.stale:
                watched.stale = False
                await self._reload(project_id, watched)
            await self._publish_states(project_id, watched)
            # The first output after a quiet spell shows at the next tick; a stream of it at
            # most once per interval per tile.
            due = {
                sid
                for sid in watched.drawn
                if now - watched.minis[sid].drawn_at >= self.screen_interval
            }
            for sid in due:
                watched.minis[sid].drawn_at = now
                drawing.append((project_id, sid, watched.minis[sid]))
            watched.drawn -= due
        if not drawing:
            return
        # pyte is pure Python: draw every changed miniature in one trip off the event loop.
        drawn = await asyncio.to_thread(lambda: [mini.draw() for _, _, mini in drawing])
        for (project_id, sid, _), lines in zip(drawing, drawn, strict=True):
            if lines is not None and project_id in self._projects:
                await self._bus.publish(project_id, SessionScreen(session_id=sid, lines=lines))

    async def _publish_states(self, project_id: str, watched: _Project) -> None:
        now = activity.states(watched.statuses, watched.waiting, self.clock, self.idle_after)
        for sid, state in now.items():
            if watched.published.get(sid) != state:
                watched.published[sid] = state
                await self._bus.publish(project_id, SessionActivity(session_id=sid, state=state))
        for sid in set(watched.published) - set(now):
            del watched.published[sid]

    async def _reload(self, project_id: str, watched: _Project) -> None:
        async with self._sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(TerminalSession).where(TerminalSession.project_id == project_id)
                )
            )
            watched.statuses = {s.id: s.status for s in rows}
            watched.waiting = await activity.waiting_sessions(db, [project_id])
            for s in rows:
                if s.status not in LIVE_SESSION:
                    self.clock.forget(s.id)
                if watched.grids and s.status in LIVE_SESSION and s.id not in watched.minis:
                    watched.minis[s.id] = await self._seed(db, s, watched)
                    watched.drawn.add(s.id)
            # Early output of sessions that are gone or not this project's any more.
            for sid in set(watched.early) - set(watched.minis):
                if watched.statuses.get(sid) not in LIVE_SESSION:
                    del watched.early[sid]

    async def _seed(self, db: AsyncSession, s: TerminalSession, watched: _Project) -> Miniature:
        """A miniature of ``s`` from the recording's last lines, then the output that arrived
        since and is not stored yet."""
        mini = Miniature.sized(s.cols, s.rows)
        start = max(0, s.output_offset - MINI_BYTES)
        first, tail = await recording.read(db, s.id, start, MINI_BYTES)
        mini.add(tail)
        mini.cut = start > 0
        # No await from here on: output arriving meanwhile goes to the miniature itself.
        stored_end = first + len(tail)
        early_start, early = watched.early.pop(s.id, (stored_end, bytearray()))
        if early_start > stored_end:
            # The early output lost its start: what is stored would not join it; begin at a line.
            mini.pending.clear()
            mini.cut = True
        mini.add(bytes(early[max(0, stored_end - early_start) :]))
        return mini
