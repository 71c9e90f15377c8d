"""The daemon's Prometheus instruments, one registry per daemon (tests run several in one
process). Served locally by ``agent.metrics_server`` when ``metrics_listen`` is set."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LINK_STATES = ("connecting", "connected", "backoff", "stopped")


class AgentMetrics:
    """Counters fed by the daemon's hot paths; gauges read at scrape time from ``watch``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._link_state = "stopped"  # the last one seen, to tell a reconnect from a first connect
        self.pane_bytes = Counter(
            "orchestratia_agent_pane_read_bytes",
            "Bytes read from the sessions' pane output logs (before redaction).",
            registry=r,
        )
        self.frames_sent = Counter(
            "orchestratia_agent_frames_sent",
            "Frames the sessions sent to the hub (output, lifecycle, delivery acks), by type.",
            ["type"],
            registry=r,
        )
        self.reconnects = Counter(
            "orchestratia_agent_hub_reconnects",
            "Connection attempts to the hub after the first (after a failure or a drop).",
            registry=r,
        )
        self.delivery_acks = Counter(
            "orchestratia_agent_delivery_acks",
            "Acknowledgements of hub deliveries sent to the hub, by status.",
            ["status"],
            registry=r,
        )

    def pane_read(self, size: int) -> None:
        self.pane_bytes.inc(size)

    def frame_sent(self, frame_type: str, status: str | None = None) -> None:
        """A frame went to the hub; a ``delivery_ack`` also counts under its ``status``."""
        self.frames_sent.labels(type=frame_type).inc()
        if frame_type == "delivery_ack" and status is not None:
            self.delivery_acks.labels(status=status).inc()

    def link_changed(self, state: str) -> None:
        """The hub link moved to ``state``; a new attempt after a failure is a reconnect."""
        if state == "connecting" and self._link_state == "backoff":
            self.reconnects.inc()
        self._link_state = state

    def watch(self, sessions_running: Callable[[], int], link_state: Callable[[], str]) -> None:
        """Read these at every scrape: live sessions and the hub link's state."""
        self.registry.register(_LiveCollector(sessions_running, link_state))


class _LiveCollector(Collector):
    def __init__(self, sessions_running: Callable[[], int], link_state: Callable[[], str]) -> None:
        self._sessions_running = sessions_running
        self._link_state = link_state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "orchestratia_agent_sessions_running",
            "Terminal sessions of this daemon that are alive.",
            value=self._sessions_running(),
        )
        state = self._link_state()
        link = GaugeMetricFamily(
            "orchestratia_agent_hub_link_state",
            "The hub link's state: 1 for the current one, 0 for the others.",
            labels=["state"],
        )
        for name in LINK_STATES:
            link.add_metric([name], 1.0 if name == state else 0.0)
        yield link
