"""The bus envelope: what one replica seals another opens once, on the same channel, in time."""

from __future__ import annotations

import time

import pytest

from orchestratia.hub.bus_envelope import MAX_AGE, STARTUP_GRACE, Envelope, bus_key


def test_sealed_messages_open_once_in_order_on_their_channel_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = bus_key(b"a shared secret key")
    sender, receiver = Envelope(key, b"sender01"), Envelope(key, b"receiv01")
    first, second = sender.seal("p:all", b"one"), sender.seal("p:all", b"two")
    assert receiver.open("p:to:x", first) is None  # another channel
    assert receiver.open("p:all", second) == b"two"
    assert receiver.open("p:all", first) is None  # older than one already opened
    assert receiver.open("p:all", second) is None  # replayed
    assert Envelope(bus_key(b"another hub"), b"x").open("p:all", sender.seal("p:all", b"3")) is None
    late = sender.seal("p:all", b"late")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + MAX_AGE + 1)
    assert receiver.open("p:all", late) is None  # too old to be trusted
    assert receiver.open("p:all", b"short") is None


def test_a_replica_that_just_started_drops_what_was_sealed_before_it_listened() -> None:
    key = bus_key(b"a shared secret key")
    sender = Envelope(key, b"sender01")
    captured = sender.seal("p:all", b"revoke nothing")
    # A new replica has no sender's last sequence yet: a message captured a while before it
    # started would otherwise open once, within MAX_AGE.
    newcomer = Envelope(key, b"newcomr1", started_at=time.time() + STARTUP_GRACE + 10)
    assert newcomer.open("p:all", captured) is None
    assert Envelope(key, b"newcomr2").open("p:all", sender.seal("p:all", b"fresh")) == b"fresh"
