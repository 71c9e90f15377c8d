"""``/metrics`` on an in-process hub with a fake daemon: the exposition parses, counters and gauges
follow what the hub relays, and ``metrics_token`` closes it to scrapers without the token."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration import webhook_support as ws
from tests.integration.running_hub import RunningHub, make_settings, serving
from tests.integration.viewer_support import Live
from tests.metrics_support import samples, total, value
from tests.support import wait_until


async def scrape(hub: RunningHub, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=hub.url) as client:
        res = await client.get("/metrics", headers=headers)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/plain")
    return res.text


async def test_metrics_follow_output_viewers_and_daemons(live: Live) -> None:
    before = await scrape(live.hub)
    assert value(before, "orchestratia_connected_daemons") == 1
    assert value(before, "orchestratia_live_sessions", status="running") == 1
    assert value(before, "orchestratia_inbox_depth", kind="intervention") == 0
    assert value(before, "orchestratia_db_pool_checked_out_connections") is not None
    bytes_before = total(before, "orchestratia_terminal_output_bytes_total")
    frames_before = total(before, "orchestratia_terminal_output_frames_total")
    writes_before = total(before, "orchestratia_recording_write_seconds_count")

    await live.daemon.stream(live.session_id, b"x" * 5000, frame_bytes=1000)
    async with live.viewer():

        async def watched() -> str | None:
            text = await scrape(live.hub)
            return text if value(text, "orchestratia_viewers", kind="terminal") == 1 else None

        after = await wait_until(watched, timeout=10, message="the terminal viewer counted")

    async def left() -> bool:
        return value(await scrape(live.hub), "orchestratia_viewers", kind="terminal") == 0

    await wait_until(left, timeout=10, message="the viewer gone from the gauge")
    assert total(after, "orchestratia_terminal_output_bytes_total") == bytes_before + 5000
    assert total(after, "orchestratia_terminal_output_frames_total") == frames_before + 5
    # The five frames, sent at once, were stored by group commit: at least one, and not more
    # commits than frames.
    writes = total(after, "orchestratia_recording_write_seconds_count") - writes_before
    assert 1 <= writes <= 5
    # Every family carries help text, and the names say their unit.
    assert all(name.startswith("orchestratia_") for name, _ in samples(after))


async def test_metrics_token_is_required_when_set(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", metrics_token="scrape-me-0123")
    async with serving(settings) as hub:
        async with httpx.AsyncClient(base_url=hub.url) as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer scrape-me-9999"}
            assert (await client.get("/metrics", headers=wrong)).status_code == 401
        text = await scrape(hub, "scrape-me-0123")
        assert value(text, "orchestratia_connected_daemons") == 0


async def test_webhook_attempts_are_counted_by_outcome(database_url: str, tmp_path: Path) -> None:
    overrides = {
        "webhook_allow_private": True,  # the receiver listens on 127.0.0.1
        "webhook_retry_base": 0.1,
        "webhook_retry_cap": 0.2,
        "integrations_poll_interval": 0.1,
    }
    receiver = ws.Receiver(secrets=[], answer=lambda _id, n: 503 if n == 1 else 200)
    await receiver.start()
    try:
        async with serving(make_settings(database_url, tmp_path / "data", **overrides)) as hub:
            sessions = hub.state.sessionmaker
            where = await ws.project(sessions)
            endpoint, secret = await ws.endpoint(sessions, hub.state.keyring, where, receiver.url)
            receiver.secrets = [secret]
            await ws.queue_events(sessions, [endpoint], 1, window=30)
            hub.state.webhooks_due.set()
            await wait_until(lambda: ws.settled(sessions, endpoint.id), 20, "the delivery settled")
            text = await scrape(hub)
            attempts = "orchestratia_webhook_attempts_total"
            assert value(text, attempts, outcome="http_error") == 1
            assert value(text, attempts, outcome="succeeded") == 1
            assert value(text, "orchestratia_webhook_attempt_duration_seconds_count") == 2
    finally:
        await receiver.stop()
