"""The Redis a hub replica shares with the others: configured, reachable, and how it is guarded."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from orchestratia.hub.doctor.findings import Finding
from orchestratia.hub.settings import HubSettings

TIMEOUT = 3.0


async def check(settings: HubSettings) -> Finding:
    if settings.redis_url is None:
        return Finding("redis", "ok", "not set: this hub runs as a single process")
    url = settings.redis_url.get_secret_value()
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 6379}"  # never the password
    client = redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        await asyncio.wait_for(client.ping(), TIMEOUT)
    except (RedisError, OSError, TimeoutError) as exc:
        return Finding(
            "redis",
            "fail",
            f"{where} does not answer ({type(exc).__name__})",
            "start Redis or correct ORCHESTRATIA_REDIS_URL; replicas cannot reach each other",
        )
    finally:
        await client.aclose()
    if parts.password is None and parts.scheme != "rediss":
        return Finding(
            "redis",
            "warn",
            f"{where} answers without a password (prefix {settings.redis_prefix!r})",
            "the bus is sealed, but anyone reaching this Redis can disturb routing: set a "
            "password (redis://:password@host) and keep it on a private network",
        )
    return Finding("redis", "ok", f"{where} answers (prefix {settings.redis_prefix!r})")
