"""The bus between hub replicas over Redis (on when ``ORCHESTRATIA_REDIS_URL`` is set).

Channels, all under the cluster's prefix ``P`` (``ORCHESTRATIA_REDIS_PREFIX``):

- ``P:ev``: dashboard events (every replica hears every project's and fills the feeds it has);
- ``P:all``: messages to every replica (``protocol.cluster``), revocations among them;
- ``P:to:<replica>``: messages to one replica (to the daemon it holds);
- ``P:out:<project>:<session>``: terminal output, binary, subscribed by the replicas that follow
  the session (a viewer) or its project (a sessions grid).

Pub/sub loses what is published while a subscriber is away, so nothing here is the record:
output is repaired from the recording by offset (``on_resync`` and the followers' own checks),
dashboards re-fetch, and the directory re-asserts itself every few seconds.

The directory: hash ``P:daemons`` (server id → ``replica|protocol``) and sorted set
``P:replicas`` (replica → lease expiry). A replica renews its lease and re-asserts the daemons it
holds every ``LEASE_SECONDS / 3``; a dead replica's entries are ignored once its lease lapses.

Everything a replica publishes goes out in order on one connection, so a session's output and
the status change after it arrive in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from orchestratia.hub.bus import LEASE_SECONDS, Following, Holder, LocalBus
from orchestratia.hub.bus_envelope import Envelope
from orchestratia.protocol.cluster import (
    ClusterMessage,
    OutputMessageError,
    RevocationMessage,
    cluster_message_adapter,
    pack_output_message,
    unpack_output_message,
)
from orchestratia.protocol.dashboard_events import DashboardEvent, wire
from orchestratia.protocol.revocations import Revocation

log = logging.getLogger(__name__)

# What may wait to be published while Redis is slow or away; past it messages are dropped (and
# repaired as any lost message is), never the hub's memory.
PUBLISH_QUEUE_BYTES = 64 * 1024 * 1024
PUBLISH_BATCH = 512
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
# claim by another replica that this one has not heard of yet.
_REASSERT = """
local mine = ARGV[1] .. '|'
for i = 2, #ARGV, 2 do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  if not held or string.sub(held, 1, string.len(mine)) == mine then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 0
"""


class RedisBus(LocalBus):
    """``LocalBus`` for what stays in this process (feeds, handlers), Redis between replicas."""

    shared = True

    def __init__(self, url: str, prefix: str, key: bytes, replica_id: str | None = None) -> None:
        super().__init__(replica_id)
        self.token = uuid.uuid4().bytes[:8]  # this process on the bus (a restart is another)
        self._envelope = Envelope(key, self.token)
        self.rejected = 0  # messages that did not open: forged, altered, stale or replayed
        self._redis = redis.from_url(url, health_check_interval=10)
        self._pubsub = self._redis.pubsub()
        self._p = prefix
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._queued_bytes = 0
        self._sessions: dict[str, set[Following]] = defaultdict(set)
        self._projects: dict[str, set[Following]] = defaultdict(set)
        self._resync: list[Callable[[], Awaitable[None]]] = []
        self._alive: set[str] = set()
        self._alive_at = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []
        self._release = self._redis.register_script(_RELEASE)
        self._reassert = self._redis.register_script(_REASSERT)
        self.dropped = 0  # messages not published (queue full or Redis away)

    # --- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self._pubsub.subscribe(
            self._ch("ev"), self._ch("all"), self._ch("to", self.replica_id)
        )
        await self._renew()
        self._tasks = [
            asyncio.create_task(self._read(), name="bus-reader"),
            asyncio.create_task(self._write(), name="bus-writer"),
            asyncio.create_task(self._keep_lease(), name="bus-lease"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(self._ch("replicas"), self.replica_id)
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self._redis.aclose()

    def _ch(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    def _queue(self, channel: str, payload: bytes) -> None:
        if self._queued_bytes + len(payload) > PUBLISH_QUEUE_BYTES:
            self.dropped += 1  # Redis is away or slow: followers repair, dashboards re-fetch
            return
        sealed = self._envelope.seal(channel, payload)
        self._queued_bytes += len(sealed)
        self._outbox.put_nowait((channel, sealed))

    # --- publishing -------------------------------------------------------------------------

    async def publish(self, project_id: str, event: DashboardEvent) -> None:
        message = wire(event)
        self.deliver_event(project_id, message)
        payload = {"p": project_id, "e": message}
        self._queue(self._ch("ev"), json.dumps(payload).encode())

    async def publish_revocation(self, event: Revocation) -> None:
        await self.broadcast(RevocationMessage(origin=self.replica_id, revocation=event))

    async def broadcast(self, message: ClusterMessage) -> None:
        await self._handle_here(message)  # at once here; the others hear it over Redis
        self._queue(self._ch("all"), message.model_dump_json().encode())

    async def send_to(self, replica_id: str, message: ClusterMessage) -> None:
        if replica_id == self.replica_id:
            await self._handle_here(message)
        else:
            self._queue(self._ch("to", replica_id), message.model_dump_json().encode())

    async def _handle_here(self, message: ClusterMessage) -> None:
        if isinstance(message, RevocationMessage):
            self.deliver_revocation(message.revocation)
        else:
            await self.deliver_message(message)

    def publish_output(
        self, project_id: str, session_id: str, offset: int, data: bytes | memoryview
    ) -> None:
        channel = self._ch("out", project_id, session_id)
        self._queue(channel, pack_output_message(offset, data))

    async def _write(self) -> None:
        """Publish what is queued, in order, many commands per round trip."""
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < PUBLISH_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            self._queued_bytes -= sum(len(payload) for _, payload in batch)
            pipe = self._redis.pipeline(transaction=False)
            for channel, payload in batch:
                pipe.publish(channel, payload)
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:
                self.dropped += len(batch)
                log.warning("bus: %d messages not published (%s)", len(batch), exc)
                await asyncio.sleep(0.5)

    # --- following output -------------------------------------------------------------------

    def follow_output(self, following: Following) -> None:
        if following.session_id is None:
            group, channel = self._projects, self._ch("out", following.project_id, "*")
            key = following.project_id
        else:
            group = self._sessions
            key = following.session_id
            channel = self._ch("out", following.project_id, following.session_id)
        first = not group[key]
        group[key].add(following)
        if first:
            is_pattern = following.session_id is None
            self._spawn(self._subscribe(channel, pattern=is_pattern, on=True))

    def unfollow_output(self, following: Following) -> None:
        if following.session_id is None:
            group, key = self._projects, following.project_id
            channel = self._ch("out", following.project_id, "*")
        else:
            group, key = self._sessions, following.session_id
            channel = self._ch("out", following.project_id, following.session_id)
        followers = group.get(key)
        if followers is None:
            return
        followers.discard(following)
        if not followers:
            del group[key]
            self._spawn(self._subscribe(channel, pattern=following.session_id is None, on=False))

    async def _subscribe(self, channel: str, *, pattern: bool, on: bool) -> None:
        try:
            if pattern:
                await (
                    self._pubsub.psubscribe(channel) if on else self._pubsub.punsubscribe(channel)
                )
            else:
                await (self._pubsub.subscribe(channel) if on else self._pubsub.unsubscribe(channel))
        except (RedisError, OSError) as exc:
            # The reader's reconnect subscribes again to everything followed by then.
            log.warning("bus: (un)subscribing %s failed (%s)", channel, exc)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.append(task)
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)  # type: ignore[arg-type]

    def on_resync(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._resync.append(callback)

    # --- reading ------------------------------------------------------------------------------

    async def _read(self) -> None:
        backoff = 0.2
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
                backoff = 0.2
            except (RedisError, OSError) as exc:
                log.warning("bus: lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                await self._reconnected()
                continue
            if message is not None:
                await self._dispatch(message)

    async def _reconnected(self) -> None:
        """Back after losing Redis: subscribe again, re-assert the lease and the daemons held,
        and let followers repair what they missed."""
        try:
            channels = [self._ch("ev"), self._ch("all"), self._ch("to", self.replica_id)]
            channels += [
                self._ch("out", next(iter(f)).project_id, sid) for sid, f in self._sessions.items()
            ]
            await self._pubsub.subscribe(*channels)
            if self._projects:
                await self._pubsub.psubscribe(*[self._ch("out", p, "*") for p in self._projects])
            await self._renew()
        except (RedisError, OSError) as exc:
            log.warning("bus: Redis still away (%s)", exc)
            return
        for callback in list(self._resync):
            try:
                await callback()
            except Exception:
                log.exception("bus: resync after reconnect failed")

    async def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        sealed: bytes = message["data"]
        if self._envelope.sender(sealed) == self.token:
            return  # our own broadcast: handled here when it was sent
        data = self._envelope.open(channel, sealed)
        if data is None:
            self.rejected += 1
            log.warning("bus: a message on %s did not open (forged, stale or replayed)", channel)
            return
        kind = channel[len(self._p) + 1 :].split(":", 1)[0]
        try:
            if kind == "out":
                self._deliver_output(channel, data)
            elif kind == "ev":
                event = json.loads(data)
                self.deliver_event(event["p"], event["e"])
            else:
                await self._handle_here(cluster_message_adapter.validate_json(data))
        except Exception:
            # A malformed message (another version, a stray publisher) must not stop the bus.
            log.exception("bus: dropped a message on %s", channel)

    def _deliver_output(self, channel: str, data: bytes) -> None:
        _, project_id, session_id = channel[len(self._p) + 1 :].split(":")
        try:
            output = unpack_output_message(data)
        except OutputMessageError as exc:
            log.warning("bus: bad output message on %s (%s)", channel, exc)
            return
        for following in list(self._sessions.get(session_id, ())):
            following.handler(project_id, session_id, output)
        for following in list(self._projects.get(project_id, ())):
            following.handler(project_id, session_id, output)

    # --- directory ------------------------------------------------------------------------------

    async def claim(self, server_id: str, protocol: int) -> None:
        await super().claim(server_id, protocol)
        with contextlib.suppress(RedisError, OSError):  # re-asserted by the lease keeper
            await self._redis.hset(self._ch("daemons"), server_id, f"{self.replica_id}|{protocol}")

    async def release(self, server_id: str) -> bool:
        await super().release(server_id)
        try:
            keys = [self._ch("daemons")]
            return bool(await self._release(keys=keys, args=[server_id, self.replica_id]))
        except (RedisError, OSError):
            return True  # nobody can tell otherwise: as a single hub would, call it gone

    async def holder(self, server_id: str) -> Holder | None:
        if server_id in self._held:
            return Holder(self.replica_id, self._held[server_id])
        try:
            raw = await self._redis.hget(self._ch("daemons"), server_id)
            if raw is None:
                return None
            replica_id, _, protocol = _text(raw).rpartition("|")
            return Holder(replica_id, int(protocol)) if replica_id in await self._live() else None
        except (RedisError, OSError):
            return None

    async def connected_ids(self) -> set[str]:
        try:
            entries = await self._redis.hgetall(self._ch("daemons"))
            live = await self._live()
        except (RedisError, OSError):
            return set(self._held)
        connected, stale = set(self._held), []
        for server_id, raw in entries.items():
            if _text(raw).rpartition("|")[0] in live:
                connected.add(_text(server_id))
            else:
                stale.append(server_id)
        if stale:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.hdel(self._ch("daemons"), *stale)
        return connected

    async def _live(self) -> set[str]:
        now = time.time()
        if time.monotonic() - self._alive_at > ALIVE_CACHE_SECONDS:
            members = await self._redis.zrangebyscore(self._ch("replicas"), now, "+inf")
            self._alive = {_text(m) for m in members} | {self.replica_id}
            self._alive_at = time.monotonic()
        return self._alive

    async def _renew(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(self._ch("replicas"), {self.replica_id: time.time() + LEASE_SECONDS})
        pipe.zremrangebyscore(self._ch("replicas"), "-inf", time.time() - LEASE_SECONDS)
        await pipe.execute()
        if self._held:
            args: list[str] = [self.replica_id]
            for server_id, protocol in self._held.items():
                args += [server_id, f"{self.replica_id}|{protocol}"]
            await self._reassert(keys=[self._ch("daemons")], args=args)

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self._renew()
            except (RedisError, OSError) as exc:
                log.warning("bus: lease not renewed (%s)", exc)


def _text(value: object) -> str:
    # Replies are bytes (no decode_responses: output is binary); ids and leases are ASCII.
    return value.decode() if isinstance(value, bytes) else str(value)
