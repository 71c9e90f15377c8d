"""The hub's Prometheus instruments, in one registry per app (``HubState.metrics``).

One registry per app, not prometheus-client's global one: several hubs in one process (the test
suite) would otherwise share, and refuse to re-register, the same names. Counters and histograms
are fed from the hot paths with one call each; gauges that are cheaper to read than to keep up
to date (connections, viewers, the inbox, the database pool) are read at scrape time by
``hub.metrics_scrape``. Every value is this replica's own: Prometheus adds replicas up.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

# What a webhook attempt came to, for ``observe_webhook_attempt``: a 2xx answer, any other
# answer, no answer in time, refused before connecting (address policy), or a network error.
WebhookOutcome = Literal["succeeded", "http_error", "timeout", "refused", "network_error"]

# Writes to the database: a local SQLite commit is ~1 ms, a remote PostgreSQL one ~5 to 50 ms.
WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Deliveries wait for an idle prompt on the daemon (3 s by default) before they are typed.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
HTTP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HubMetrics:
    """The instruments one hub feeds; ``registry`` is what ``/metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.output_bytes = Counter(
            "orchestratia_terminal_output_bytes",
            "Terminal output bytes received from daemons and relayed to viewers and the recording.",
            registry=r,
        )
        self.output_frames = Counter(
            "orchestratia_terminal_output_frames",
            "Terminal output frames (carrying new bytes) received from daemons and relayed.",
            registry=r,
        )
        self.recording_write = Histogram(
            "orchestratia_recording_write_seconds",
            "Time to store one batch of output (all sessions, one commit) in the recordings.",
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.task_transitions = Counter(
            "orchestratia_task_transitions",
            "Task status changes that were committed, by previous and new status.",
            ["from_status", "to_status"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "orchestratia_delivery_latency_seconds",
            "Time from queuing a hub-to-session delivery to the daemon's acknowledgement.",
            ["outcome"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.webhook_attempts = Counter(
            "orchestratia_webhook_attempts",
            "Webhook HTTP attempts made by this replica, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.webhook_attempt_duration = Histogram(
            "orchestratia_webhook_attempt_duration_seconds",
            "Duration of one webhook HTTP attempt, connection included.",
            buckets=HTTP_BUCKETS,
            registry=r,
        )

        self.chore_runs = Counter(
            "orchestratia_chore_runs",
            "Runs of the hub's periodic chores made by this replica, by chore; a chore the "
            "replicas share is run by one of them per interval.",
            ["chore"],
            registry=r,
        )

    def output_relayed(self, size: int) -> None:
        """One frame of ``size`` new output bytes came in from a daemon."""
        self.output_frames.inc()
        self.output_bytes.inc(size)

    def transitions_committed(self, moves: Iterable[tuple[str, str]]) -> None:
        """Count task status changes once their transaction committed."""
        for old, new in moves:
            self.task_transitions.labels(from_status=old, to_status=new).inc()

    def delivery_acked(self, created_at: datetime, acked_at: datetime | None, status: str) -> None:
        """A delivery queued at ``created_at`` was acknowledged (``status``) at ``acked_at``."""
        if acked_at is None:
            return
        seconds = max(0.0, (acked_at - created_at).total_seconds())
        self.delivery_latency.labels(outcome=status).observe(seconds)

    def observe_webhook_attempt(self, outcome: WebhookOutcome, seconds: float) -> None:
        """One webhook request ended in ``outcome`` after ``seconds``; called by the delivery
        worker for every attempt it makes."""
        self.webhook_attempts.labels(outcome=outcome).inc()
        self.webhook_attempt_duration.observe(max(0.0, seconds))
