"""What ``/metrics`` reads at scrape time: gauges taken from the hub's state when asked, rather
than kept up to date on every connect, view and decision.

The database figures (inbox depth, live sessions) cost a query, so they are cached for
``FIGURES_TTL`` seconds: a scraper every second, or several scrapers, cost one query per TTL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orchestratia.hub.services import load_figures
from orchestratia.hub.services.load_figures import LoadFigures
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)

FIGURES_TTL = 5.0
DASHBOARD_PATH = "/ws/dashboard"


class FiguresCache:
    """The last database figures and when they were read; one refresh at a time."""

    def __init__(self, ttl: float = FIGURES_TTL) -> None:
        self.ttl = ttl
        self.figures: LoadFigures | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, hub: HubState) -> None:
        if time.monotonic() - self._read_at < self.ttl:
            return
        async with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return  # another scrape refreshed it while this one waited
            try:
                async with hub.sessionmaker() as db:
                    self.figures = await load_figures.read(db)
            except Exception:
                # A scrape during a database outage still shows the live figures; the stale
                # database ones are dropped rather than reported as current.
                log.warning("metrics: cannot read the database figures", exc_info=True)
                self.figures = None
            self._read_at = time.monotonic()


class LiveCollector(Collector):
    """Gauges read from ``hub`` (and the cached database figures) on every collection."""

    def __init__(self, hub: HubState, cache: FiguresCache) -> None:
        self.hub = hub
        self.cache = cache

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hub = self.hub
        yield GaugeMetricFamily(
            "orchestratia_connected_daemons",
            "Daemons with a live WebSocket to this replica.",
            value=len(hub.registry.connected_ids()),
        )
        viewers = GaugeMetricFamily(
            "orchestratia_viewers",
            "Browser sockets open on this replica: dashboards and terminal viewers.",
            labels=["kind"],
        )
        viewers.add_metric(["dashboard"], hub.guards.admitted(DASHBOARD_PATH))
        viewers.add_metric(["terminal"], hub.relays.viewer_count())
        yield viewers
        yield from _pool(hub)
        figures = self.cache.figures
        if figures is None:
            return
        sessions = GaugeMetricFamily(
            "orchestratia_live_sessions",
            "Terminal sessions not yet ended, by status (whole hub, from the database).",
            labels=["status"],
        )
        for status, count in sorted(figures.sessions.items()):
            sessions.add_metric([status], count)
        yield sessions
        inbox = GaugeMetricFamily(
            "orchestratia_inbox_depth",
            "Inbox items waiting for a person, by kind (whole hub, from the database).",
            labels=["kind"],
        )
        inbox.add_metric(["intervention"], figures.inbox_interventions)
        inbox.add_metric(["tool_approval"], figures.inbox_tool_approvals)
        yield inbox


def _pool(hub: HubState) -> Iterator[GaugeMetricFamily]:
    """The SQLAlchemy pool's use, as far as the pool class keeps count (a queue pool does; a
    static or null pool, SQLite's in-memory case, has no size to report)."""
    pool = hub.engine.pool
    checked_out = getattr(pool, "checkedout", None)
    if callable(checked_out):
        yield GaugeMetricFamily(
            "orchestratia_db_pool_checked_out_connections",
            "Database connections currently checked out of the pool.",
            value=int(checked_out()),
        )
    size = getattr(pool, "size", None)
    if callable(size):
        yield GaugeMetricFamily(
            "orchestratia_db_pool_size_connections",
            "Connections the database pool keeps (overflow comes on top).",
            value=int(size()),
        )


class ScrapeTarget:
    """The hub's ``/metrics``: its registry with the live collector attached."""

    def __init__(self, hub: HubState) -> None:
        self.hub = hub
        self.cache = FiguresCache()
        hub.metrics.registry.register(LiveCollector(hub, self.cache))

    async def render(self) -> bytes:
        """The Prometheus text exposition of everything this hub measures."""
        await self.cache.refresh(self.hub)
        return generate_latest(self.hub.metrics.registry)
