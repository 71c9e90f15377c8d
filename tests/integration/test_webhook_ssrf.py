"""With private targets not allowed, webhook requests to loopback, private, link-local and
metadata addresses (also behind a name) are refused where the connection is made: each is a
failed attempt in the log, and no connection reaches the listeners on those addresses."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration import webhook_support as ws
from tests.integration.running_hub import RunningHub
from tests.support import wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {
        "webhook_allow_private": False,  # the default, stated: this is what the test is about
        "webhook_retry_base": 0.2,
        "webhook_retry_cap": 0.5,
        "webhook_connect_timeout": 1.0,
        "integrations_poll_interval": 0.2,
    }


@pytest.fixture
async def listeners() -> AsyncIterator[tuple[ws.Receiver, ws.Receiver]]:
    """Receivers on IPv4 and IPv6 loopback that would answer 200 to anything."""
    v4, v6 = ws.Receiver(secrets=[]), ws.Receiver(secrets=[], host="::1")
    await v4.start()
    await v6.start()
    try:
        yield v4, v6
    finally:
        await v4.stop()
        await v6.stop()


async def test_private_targets_are_refused_at_connect_time(
    hub: RunningHub, listeners: tuple[ws.Receiver, ws.Receiver]
) -> None:
    sessions, keyring = hub.state.sessionmaker, hub.state.keyring
    v4, v6 = listeners
    where = await ws.project(sessions)
    targets = {
        v4.url: "127.0.0.1",
        f"http://10.0.0.1:{v4.port}/hook": "10.0.0.1",
        "http://169.254.169.254/latest/meta-data": "169.254.169.254",
        v6.url: "::1",
        f"http://localhost:{v4.port}/hook": "localhost resolves to",
    }
    endpoints = {url: (await ws.endpoint(sessions, keyring, where, url))[0] for url in targets}
    for row in endpoints.values():
        await ws.queue_events(sessions, [row], 1, window=1.0)
    hub.state.webhooks_due.set()
    refused: dict[str, int] = {}
    for url, row in endpoints.items():
        done = functools.partial(ws.settled, sessions, row.id)
        (delivery,) = await wait_until(done, 15, f"{url} to fail")
        assert delivery.status == "failed"
        (series,) = (await ws.attempts(sessions, row.id)).values()
        for tried in series:
            assert not tried.ok and tried.status_code is None
            assert tried.error and tried.error.startswith("refused: "), tried.error
            assert targets[url] in tried.error
        refused[url] = len(series)
    # Every target was tried (and refused) at least once, each try logged as an attempt.
    assert sorted(refused) == sorted(targets) and min(refused.values()) >= 1
    assert (v4.connections, v6.connections) == (0, 0)
