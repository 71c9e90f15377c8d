"""The directory of which replica holds which daemon's socket, on Redis (``RedisBus``'s).

Hash ``P:daemons`` (server id → ``replica|protocol``) and sorted set ``P:replicas`` (replica →
lease expiry). A replica renews its lease and re-asserts the daemons it holds every
``LEASE_SECONDS / 3``; a dead replica's entries are ignored once its lease lapses.

Whoever reaches Redis can write anything into the hash, so every entry is parsed defensively: one
that does not parse (not UTF-8, no protocol number) counts as absent, never as an error.
"""

from __future__ import annotations

import contextlib
import time

import redis.asyncio as redis
from redis.exceptions import RedisError

from orchestratia.hub.bus import LEASE_SECONDS, Holder

ALIVE_CACHE_SECONDS = 1.0
_RELEASE = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.sub(held, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
# Re-assert the daemons a replica holds (after Redis lost them, say) without overwriting a newer
# claim by another live replica that this one has not heard of yet. An entry of a replica whose
# lease has lapsed (or one that does not parse) is overwritten: it holds nothing.
_REASSERT = """
local mine = ARGV[1] .. '|'
local now = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  local ours = not held or string.sub(held, 1, string.len(mine)) == mine
  if not ours then
    local other = string.match(held, '^(.+)|%d+$')
    local lease = other and redis.call('ZSCORE', KEYS[2], other)
    ours = not lease or tonumber(lease) < now
  end
  if ours then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 0
"""
# Delete stale entries only if they are still what was read: a replica may have claimed the
# server between the read and this.
_FORGET = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""


def parse_entry(raw: object) -> Holder | None:
    """``replica|protocol`` as a ``Holder``; None for anything else."""
    text = _strict_text(raw)
    if text is None:
        return None
    replica_id, _, protocol = text.rpartition("|")
    if not replica_id or not protocol.isascii() or not protocol.isdigit() or len(protocol) > 9:
        return None
    return Holder(replica_id, int(protocol))


class Directory:
    def __init__(
        self, client: redis.Redis, prefix: str, replica_id: str, held: dict[str, int]
    ) -> None:
        self._redis = client
        self._key = f"{prefix}:daemons"
        self._replicas = f"{prefix}:replicas"
        self.replica_id = replica_id
        self._held = held  # the bus's own map of what this replica holds
        self._alive: set[str] = set()
        self._alive_at = float("-inf")
        self._release = client.register_script(_RELEASE)
        self._reassert = client.register_script(_REASSERT)
        self._forget = client.register_script(_FORGET)

    async def claim(self, server_id: str, protocol: int) -> None:
        with contextlib.suppress(RedisError, OSError):  # re-asserted by the lease keeper
            await self._redis.hset(self._key, server_id, f"{self.replica_id}|{protocol}")

    async def release(self, server_id: str) -> bool:
        try:
            args = [server_id, self.replica_id]
            return bool(await self._release(keys=[self._key], args=args))
        except (RedisError, OSError):
            return True  # nobody can tell otherwise: as a single hub would, call it gone

    async def holder(self, server_id: str) -> Holder | None:
        """The live replica the directory in Redis names (None when Redis is away)."""
        try:
            raw = await self._redis.hget(self._key, server_id)
            holder = None if raw is None else parse_entry(raw)
            if holder is None:
                return None
            return holder if holder.replica_id in await self.live() else None
        except (RedisError, OSError):
            return None

    async def connected_ids(self) -> set[str]:
        try:
            entries = await self._redis.hgetall(self._key)
            live = await self.live()
        except (RedisError, OSError):
            return set(self._held)
        connected, stale = set(self._held), []
        for server_id, raw in entries.items():
            holder, name = parse_entry(raw), _strict_text(server_id)
            if holder is not None and name is not None and holder.replica_id in live:
                connected.add(name)
            else:
                stale += [server_id, raw]
        if stale:
            with contextlib.suppress(RedisError, OSError):
                await self._forget(keys=[self._key], args=stale)
        return connected

    async def live(self) -> set[str]:
        now = time.time()
        if time.monotonic() - self._alive_at > ALIVE_CACHE_SECONDS:
            members = await self._redis.zrangebyscore(self._replicas, now, "+inf")
            self._alive = {_text(m) for m in members} | {self.replica_id}
            self._alive_at = time.monotonic()
        return self._alive

    def forget_liveness(self) -> None:
        self._alive_at = float("-inf")

    async def renew(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(self._replicas, {self.replica_id: time.time() + LEASE_SECONDS})
        pipe.zremrangebyscore(self._replicas, "-inf", time.time() - LEASE_SECONDS)
        await pipe.execute()
        if self._held:
            args: list[str | float] = [self.replica_id, time.time()]
            for server_id, protocol in self._held.items():
                args += [server_id, f"{self.replica_id}|{protocol}"]
            await self._reassert(keys=[self._key, self._replicas], args=args)

    async def leave(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(self._replicas, self.replica_id)


def _strict_text(value: object) -> str | None:
    try:
        return value.decode() if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        return None


def _text(value: object) -> str:
    # Replies are bytes (no decode_responses: output is binary); a member that is not UTF-8 is
    # nobody's id, so it matches no entry.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
