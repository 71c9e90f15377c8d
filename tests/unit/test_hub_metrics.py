"""The hub's instruments (``hub.metrics``): each hub has a registry of its own, and the calls the
hot paths (and the webhook worker) make land in the exposition under their documented names."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import generate_latest

from orchestratia.hub.db.types import utcnow
from orchestratia.hub.metrics import HubMetrics
from tests.metrics_support import value


def _text(metrics: HubMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_two_hubs_in_one_process_count_apart() -> None:
    first, second = HubMetrics(), HubMetrics()
    first.output_relayed(100)
    first.output_relayed(50)
    assert value(_text(first), "orchestratia_terminal_output_bytes_total") == 150
    assert value(_text(first), "orchestratia_terminal_output_frames_total") == 2
    assert value(_text(second), "orchestratia_terminal_output_bytes_total") == 0


def test_transitions_deliveries_and_webhook_attempts() -> None:
    metrics = HubMetrics()
    metrics.transitions_committed([("pending", "assigned"), ("assigned", "running")])
    queued = utcnow()
    metrics.delivery_acked(queued, queued + timedelta(seconds=4), "delivered")
    metrics.delivery_acked(queued, None, "delivered")  # never acked: nothing to measure
    metrics.observe_webhook_attempt("succeeded", 0.2)
    metrics.observe_webhook_attempt("timeout", 10.0)
    text = _text(metrics)
    transitions = "orchestratia_task_transitions_total"
    assert value(text, transitions, from_status="pending", to_status="assigned") == 1
    latency = "orchestratia_delivery_latency_seconds"
    assert value(text, latency + "_count", outcome="delivered") == 1
    assert value(text, latency + "_sum", outcome="delivered") == 4
    assert value(text, latency + "_bucket", outcome="delivered", le="2.5") == 0
    assert value(text, latency + "_bucket", outcome="delivered", le="5.0") == 1
    assert value(text, "orchestratia_webhook_attempts_total", outcome="timeout") == 1
    assert value(text, "orchestratia_webhook_attempt_duration_seconds_count") == 2
