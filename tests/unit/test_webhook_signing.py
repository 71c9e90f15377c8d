"""Webhook signatures as the reference ``standardwebhooks`` package checks them, and the
retry schedule's full jitter."""

from __future__ import annotations

import base64
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orchestratia.hub.services.integrations import retry, signing


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_reference_package_verifies_our_signature() -> None:
    secret, body, now = signing.new_secret(), b'{"type":"task.created","data":{}}', int(time.time())
    headers = signing.signed_headers([secret], "msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "task.created", "data": {}}
    stamp = datetime.fromtimestamp(now, UTC)
    assert headers["webhook-signature"] == Webhook(secret).sign("msg_1", stamp, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new, body = signing.new_secret(), signing.new_secret(), b"{}"
    headers = signing.signed_headers([new, old], "msg_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    assert [retry.ceiling(n, 5, 60) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert retry.ceiling(10_000, 5, 21_600) == 21_600


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(7)
    for attempts in (1, 3, 8):
        top = retry.ceiling(attempts, 0.2, 1.0)
        draws = [retry.backoff_delay(attempts, 0.2, 1.0, rng) for _ in range(2000)]
        assert all(0 <= d <= top for d in draws)
        # Full jitter, not "half plus jitter": waits near zero and near the ceiling both occur.
        assert min(draws) < 0.05 * top and max(draws) > 0.95 * top


def test_no_retry_is_scheduled_past_give_up() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry.next_attempt_at(now, 1, 5, 60, now - timedelta(seconds=1)) is None
    later = retry.next_attempt_at(now, 1, 5, 60, now + timedelta(days=1))
    assert later is not None and now <= later <= now + timedelta(seconds=10)
