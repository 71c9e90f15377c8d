"""Webhook delivery against a real receiver: signatures the reference ``standardwebhooks``
package accepts (also in a rotation's overlap), backoff with full jitter until the series
gives up, order per endpoint, the test event and redelivery, a redirect left unfollowed, and
an endpoint disabled after failing for too long."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from orchestratia.hub.actions import webhook_worker
from orchestratia.hub.db.integration_models import WebhookEndpoint
from orchestratia.hub.db.models import AuditEvent
from orchestratia.hub.services.integrations import retry, signing, webhook_delivery
from orchestratia.hub.services.integrations.webhook_http import USER_AGENT
from orchestratia.protocol.integration_events import WebhookPayload
from tests.integration import webhook_support as ws
from tests.integration.running_hub import RunningHub
from tests.support import wait_until

FAST = {
    "webhook_allow_private": True,  # the receiver listens on 127.0.0.1
    "webhook_retry_base": 0.2,
    "webhook_retry_cap": 1.0,
    "webhook_retry_window": 4.0,
    "webhook_timeout": 3.0,
    "webhook_connect_timeout": 1.0,
    "integrations_poll_interval": 0.2,
}


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture
async def where(hub: RunningHub) -> tuple[str, str]:
    return await ws.project(hub.state.sessionmaker)


@pytest.fixture
async def receiver() -> AsyncIterator[ws.Receiver]:
    running = ws.Receiver(secrets=[])
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_every_request_verifies_with_both_secrets_during_a_rotation(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    sessions, old = hub.state.sessionmaker, signing.new_secret()
    endpoint, new = await ws.endpoint(
        sessions, hub.state.keyring, where, receiver.url, previous_secret=old
    )
    receiver.secrets = [old, new]
    ids = await ws.queue_events(sessions, [endpoint], 3, window=30)
    hub.state.webhooks_due.set()
    done = await wait_until(lambda: ws.settled(sessions, endpoint.id), 15, "deliveries")
    assert [d.status for d in done] == ["succeeded"] * 3
    assert sorted(receiver.by_id()) == sorted(ids)
    assert [r.verified_by for r in receiver.requests] == [[0, 1]] * 3
    assert all(len(r.signature.split(" ")) == 2 for r in receiver.requests)
    assert {r.headers["user-agent"] for r in receiver.requests} == {USER_AGENT}
    assert USER_AGENT.startswith("Orchestratia-Webhooks/")
    assert WebhookPayload.model_validate_json(receiver.requests[0].body).type == "server.online"
    payload = json.loads(receiver.requests[0].body)
    assert list(payload) == ["type", "timestamp", "data"]
    assert payload["type"] == "server.online" and payload["data"]["server"]["status"] == "online"
    logged = await ws.attempts(sessions, endpoint.id)
    assert {len(v) for v in logged.values()} == {1}
    first = logged[ids[0]][0]
    assert (first.ok, first.status_code, first.replica) == (True, 200, hub.state.replica_id)
    assert first.response_excerpt == f"answer 200 to {ids[0]}"

    # Once the overlap ended only the new secret signs.
    async with sessions() as db:
        row = await db.get_one(WebhookEndpoint, endpoint.id)
        row.previous_secret_expires_at = row.created_at - timedelta(seconds=1)
        await db.commit()
    receiver.secrets = [new, old]
    (later,) = await ws.queue_events(sessions, [endpoint], 1, window=30)
    hub.state.webhooks_due.set()
    await wait_until(lambda: later in receiver.by_id(), 10, "the event after the overlap")
    assert receiver.by_id()[later][0].verified_by == [0]


async def test_failures_back_off_with_full_jitter_until_the_series_gives_up(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    sessions = hub.state.sessionmaker
    endpoint, secret = await ws.endpoint(sessions, hub.state.keyring, where, receiver.url)
    receiver.secrets, receiver.answer = [secret], lambda _id, _n: 500
    (event_id,) = await ws.queue_events(
        sessions, [endpoint], 1, window=FAST["webhook_retry_window"]
    )
    hub.state.webhooks_due.set()
    (delivery,) = await wait_until(lambda: ws.settled(sessions, endpoint.id), 20, "give-up")
    assert delivery.status == "failed" and delivery.last_status_code == 500
    series = (await ws.attempts(sessions, endpoint.id))[event_id]
    assert [a.number for a in series] == list(range(1, len(series) + 1))
    assert len(series) == delivery.attempts >= 3
    assert len(receiver.requests) == len(series) and not receiver.unverified()
    assert {r.webhook_id for r in receiver.requests} == {event_id}
    for before, after in itertools.pairwise(series):
        ended = before.started_at + timedelta(milliseconds=before.latency_ms or 0)
        gap = (after.started_at - ended).total_seconds()
        bound = retry.ceiling(before.number, FAST["webhook_retry_base"], FAST["webhook_retry_cap"])
        # A due retry is taken up at the worker's next poll; the slack covers the transactions
        # and a loaded two-core CI machine (the spread itself is checked in the unit tests).
        slack = FAST["integrations_poll_interval"] + 1.0
        assert -0.05 <= gap <= bound + slack, (before.number, gap, bound)
    # The last attempt was due before give_up_at (the worker picks it up within moments).
    assert series[-1].started_at <= delivery.give_up_at + timedelta(seconds=0.5)
    assert all(a.error == "HTTP 500" and not a.ok for a in series)


async def test_an_ordered_endpoint_gets_each_event_only_after_the_one_before(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    sessions = hub.state.sessionmaker
    endpoint, secret = await ws.endpoint(
        sessions, hub.state.keyring, where, receiver.url, ordered=True
    )
    receiver.secrets = [secret]
    # The first two requests fail (the first event's, if order holds); the rest get through.
    receiver.answer = lambda _id, _n: 500 if len(receiver.requests) < 2 else 200
    first = await ws.queue_events(sessions, [endpoint], 4, window=30)
    hub.state.webhooks_due.set()
    await wait_until(lambda: ws.settled(sessions, endpoint.id), 15, "ordered deliveries")
    seen = [r.webhook_id for r in receiver.requests]
    assert seen == [first[0]] * 3 + first[1:]


async def test_send_test_and_redeliver_keep_the_id_and_go_on_numbering(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    sessions = hub.state.sessionmaker
    endpoint, secret = await ws.endpoint(sessions, hub.state.keyring, where, receiver.url)
    receiver.secrets = [secret]
    made = await webhook_worker.send_test(hub.state, endpoint)
    assert (made.ok, made.status_code, made.number) == (True, 200, 1)
    (tested,) = receiver.requests
    assert tested.verified_by == [0] and json.loads(tested.body)["type"] == "webhook.test"

    receiver.answer = lambda _id, _n: 503
    (event_id,) = await ws.queue_events(sessions, [endpoint], 1, window=1.0)
    hub.state.webhooks_due.set()
    await wait_until(lambda: ws.settled(sessions, endpoint.id), 15, "the series to fail")
    tries = len((await ws.attempts(sessions, endpoint.id))[event_id])
    receiver.answer = lambda _id, _n: 200
    async with sessions() as db:
        row = await db.get_one(WebhookEndpoint, endpoint.id)
        assert await webhook_delivery.redeliver_failed(db, row) == 1
        await db.commit()
    hub.state.webhooks_due.set()
    done = await wait_until(lambda: ws.settled(sessions, endpoint.id), 10, "redelivery")
    assert {d.status for d in done} == {"succeeded"}
    series = (await ws.attempts(sessions, endpoint.id))[event_id]
    assert [a.number for a in series] == list(range(1, tries + 2)) and series[-1].ok
    assert len(receiver.by_id()[event_id]) == tries + 1 and not receiver.unverified()


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    sessions = hub.state.sessionmaker
    elsewhere = ws.Receiver(secrets=[])
    await elsewhere.start()
    try:
        endpoint, secret = await ws.endpoint(sessions, hub.state.keyring, where, receiver.url)
        receiver.secrets, receiver.redirect_to = [secret], elsewhere.url
        made = await webhook_worker.send_test(hub.state, endpoint)
        assert not made.ok and made.status_code == 302
        assert made.error == f"redirect not followed (HTTP 302 to {elsewhere.url})"
        assert (len(receiver.requests), elsewhere.connections) == (1, 0)
    finally:
        await elsewhere.stop()


async def test_answers_are_read_up_to_a_cap_and_slow_ones_time_out(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    endpoint, secret = await ws.endpoint(
        hub.state.sessionmaker, hub.state.keyring, where, receiver.url
    )
    receiver.secrets, receiver.reply = [secret], b"x" * 2_000_000
    made = await webhook_worker.send_test(hub.state, endpoint)
    assert made.ok and made.response_excerpt == "x" * 1024
    receiver.reply, receiver.stall = None, FAST["webhook_timeout"] + 2
    made = await webhook_worker.send_test(hub.state, endpoint)
    assert not made.ok and made.error == "timed out (limit 3 s)" and made.status_code is None
    assert made.latency_ms is not None and 2900 <= made.latency_ms < 4500
    assert len(receiver.requests) == 2 and not receiver.unverified()


@pytest.mark.parametrize(
    "hub_overrides", [FAST | {"webhook_disable_after": 1.0, "webhook_retry_window": 60.0}]
)
async def test_sustained_failure_disables_the_endpoint_and_tells_the_owner(
    hub: RunningHub, where: tuple[str, str], receiver: ws.Receiver
) -> None:
    sessions = hub.state.sessionmaker
    endpoint, secret = await ws.endpoint(sessions, hub.state.keyring, where, receiver.url)
    receiver.secrets, receiver.answer = [secret], lambda _id, _n: 500
    feed = hub.state.bus.subscribe(where[1])
    await ws.queue_events(sessions, [endpoint], 3, window=60)
    hub.state.webhooks_due.set()
    done = await wait_until(lambda: ws.settled(sessions, endpoint.id), 15, "disabling")
    assert {d.status for d in done} == {"failed"}
    assert all(d.last_error and "endpoint disabled" in d.last_error for d in done)
    async with sessions() as db:
        row = await db.get_one(WebhookEndpoint, endpoint.id)
        assert not row.enabled and row.disabled_at is not None and row.failing_since is not None
        assert row.disabled_reason and "no successful delivery since" in row.disabled_reason
        audit = (await db.scalars(select(AuditEvent).where(AuditEvent.target_id == row.id))).one()
    assert (audit.action, audit.actor_type, audit.project_id) == (
        "webhook.disabled",
        "system",
        where[1],
    )
    notice = await wait_until(lambda: not feed.empty() and feed.get_nowait(), 5, "the notice")
    assert notice["type"] == "webhook_disabled" and notice["endpoint_id"] == endpoint.id

    # An attempt under way when the endpoint was disabled is still logged.
    async def all_logged() -> bool:
        logged = await ws.attempts(sessions, endpoint.id)
        return sum(len(v) for v in logged.values()) == len(receiver.requests)

    await wait_until(all_logged, 5, "every request in the log")
    assert not receiver.unverified()
    # A new event for the disabled endpoint is not sent.
    (later,) = await ws.queue_events(sessions, [endpoint], 1, window=60)
    async with sessions() as db:
        due = await webhook_delivery.claim_due(db, "probe", hub.state.settings, 10)
    assert due == [] and later not in receiver.by_id()

    # The owner re-enables it once the receiver works and asks for the failed ones again.
    receiver.answer = lambda _id, _n: 200
    async with sessions() as db:
        row = await db.get_one(WebhookEndpoint, endpoint.id)
        webhook_delivery.reenable(row)
        assert await webhook_delivery.redeliver_failed(db, row) == 3
        await db.commit()
    hub.state.webhooks_due.set()
    done = await wait_until(lambda: ws.settled(sessions, endpoint.id), 15, "the redeliveries")
    assert [d.status for d in done] == ["succeeded"] * 4
    async with sessions() as db:
        row = await db.get_one(WebhookEndpoint, endpoint.id)
        assert row.enabled and row.failing_since is None and row.disabled_at is None
