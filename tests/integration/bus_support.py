"""Two Redis buses under a prefix of their own on the machine's Redis, as two replicas see it."""

from __future__ import annotations

from orchestratia.hub.bus_envelope import bus_key

REDIS_URL = "redis://127.0.0.1:6379/0"
BUS_KEY = bus_key(b"bus-test-secret")  # both replicas' key, as from a shared secret key
