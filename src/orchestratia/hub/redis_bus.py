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

The directory of who holds which daemon is ``hub.bus_directory``.

Everything a replica publishes goes out in order on one connection, so a session's output and
the status change after it arrive in that order. Output may be dropped (Redis slow or away: it is
repaired from the recording); control messages (revocations among them) are not
(``hub.bus_outbox``).
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
from orchestratia.hub.bus_directory import Directory
from orchestratia.hub.bus_envelope import Envelope
from orchestratia.hub.bus_outbox import Outbox
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

# A blackholed Redis must not hold the writer (or a claim) forever; reads of the subscription
# have their own one-second timeout.
SOCKET_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
REJECTED_LOG_INTERVAL = 10.0


class RedisBus(LocalBus):
    """``LocalBus`` for what stays in this process (feeds, handlers), Redis between replicas."""

    shared = True

    def __init__(
        self,
        url: str,
        prefix: str,
        key: bytes,
        replica_id: str | None = None,
        *,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        super().__init__(replica_id)
        self.token = uuid.uuid4().bytes[:8]  # this process on the bus (a restart is another)
        self._envelope = Envelope(key, self.token)
        self.rejected = 0  # messages that did not open: forged, altered, stale or replayed
        self._rejected_logged = float("-inf")
        self._redis = redis.from_url(
            url,
            health_check_interval=10,
            socket_timeout=socket_timeout,
            socket_connect_timeout=min(CONNECT_TIMEOUT, socket_timeout),
        )
        self._pubsub = self._redis.pubsub()
        self._p = prefix
        self.outbox = Outbox(self._redis, self._envelope)
        self._sessions: dict[str, set[Following]] = defaultdict(set)
        self._projects: dict[str, set[Following]] = defaultdict(set)
        self._resync: list[Callable[[], Awaitable[None]]] = []
        self._subscribed: tuple[set[str], set[str]] = (set(), set())  # output channels, patterns
        self._subscribing = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.directory = Directory(self._redis, prefix, self.replica_id, self._held)
        self.restarts = 0  # a reader or writer that died and was started again

    # --- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._envelope.started_at = time.time()
        await self._pubsub.subscribe(
            self._ch("ev"), self._ch("all"), self._ch("to", self.replica_id)
        )
        await self.directory.renew()
        self._tasks = [
            asyncio.create_task(self._supervise("bus-reader", self._read), name="bus-reader"),
            asyncio.create_task(self._supervise("bus-writer", self.outbox.run), name="bus-writer"),
            asyncio.create_task(self._keep_lease(), name="bus-lease"),
        ]

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` for the life of the bus: a bus whose reader died would silently stop
        hearing revocations, so whatever ends it, it starts again."""
        while True:
            try:
                await run()
                log.error("bus: %s stopped; starting it again", name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bus: %s died; starting it again", name)
            self.restarts += 1
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a publish cancelled mid-pipeline can sit in the client's own clean-up.
            await asyncio.wait(tasks, timeout=2.0)
        await self.directory.leave()
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self._redis.aclose()

    def _ch(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    def _queue(self, channel: str, payload: bytes, *, control: bool = True) -> None:
        self.outbox.put(channel, payload, control=control)

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
        self._queue(channel, pack_output_message(offset, data), control=False)

    # --- following output -------------------------------------------------------------------

    def follow_output(self, following: Following) -> None:
        group, key = self._group(following)
        group[key].add(following)
        self._resubscribe()

    def unfollow_output(self, following: Following) -> None:
        group, key = self._group(following)
        followers = group.get(key)
        if followers is None:
            return
        followers.discard(following)
        if not followers:
            del group[key]
        self._resubscribe()

    def _group(self, following: Following) -> tuple[dict[str, set[Following]], str]:
        if following.session_id is None:
            return self._projects, following.project_id
        return self._sessions, following.session_id

    def _wanted(self) -> tuple[set[str], set[str]]:
        """The output channels and patterns to subscribe: a session by its channel only when its
        project's pattern does not bring it already (else each message came twice)."""
        patterns = {self._ch("out", p, "*") for p in self._projects}
        channels = set()
        for session_id, followers in self._sessions.items():
            project_id = next(iter(followers)).project_id
            if project_id not in self._projects:
                channels.add(self._ch("out", project_id, session_id))
        return channels, patterns

    def _resubscribe(self) -> None:
        channels, patterns = self._wanted()
        old_channels, old_patterns = self._subscribed
        self._subscribed = channels, patterns
        if channels != old_channels or patterns != old_patterns:
            change = (channels - old_channels, patterns - old_patterns)
            self._spawn(self._subscribe(*change, old_channels - channels, old_patterns - patterns))

    async def _subscribe(
        self, channels: set[str], patterns: set[str], gone: set[str], gone_patterns: set[str]
    ) -> None:
        # One change at a time, in the order made; new subscriptions before dropping old ones
        # (a moment of duplicates, rejected as replays, rather than a gap).
        async with self._subscribing:
            try:
                if channels:
                    await self._pubsub.subscribe(*channels)
                if patterns:
                    await self._pubsub.psubscribe(*patterns)
                if gone:
                    await self._pubsub.unsubscribe(*gone)
                if gone_patterns:
                    await self._pubsub.punsubscribe(*gone_patterns)
            except (RedisError, OSError) as exc:
                # The reader's reconnect subscribes again to everything followed by then.
                log.warning("bus: (un)subscribing output failed (%s)", exc)

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
            if message is None:
                continue
            try:
                await self._dispatch(message)
            except Exception:
                # Whatever a message is (anyone reaching Redis can publish under a pattern this
                # replica follows), it must not end the reading.
                log.exception("bus: dropped a message")

    async def _reconnected(self) -> None:
        """Back after losing Redis: subscribe again, re-assert the lease and the daemons held,
        and let followers repair what they missed."""
        try:
            outputs, patterns = self._subscribed
            channels = [self._ch("ev"), self._ch("all"), self._ch("to", self.replica_id)]
            await self._pubsub.subscribe(*channels, *outputs)
            if patterns:
                await self._pubsub.psubscribe(*patterns)
            await self.directory.renew()
        except (RedisError, OSError) as exc:
            log.warning("bus: Redis still away (%s)", exc)
            return
        for callback in list(self._resync):
            try:
                await callback()
            except Exception:
                log.exception("bus: resync after reconnect failed")

    async def _dispatch(self, message: dict[str, Any]) -> None:
        raw_channel, sealed = message.get("channel"), message.get("data")
        if not isinstance(raw_channel, bytes) or not isinstance(sealed, bytes):
            return
        # Not UTF-8 is not ours (the seal binds the channel): replaced, it does not open.
        channel = raw_channel.decode(errors="replace")
        if self._envelope.sender(sealed) == self.token:
            return  # our own broadcast: handled here when it was sent
        data = self._envelope.open(channel, sealed)
        if data is None:
            self._rejected(channel)
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

    def _rejected(self, channel: str) -> None:
        self.rejected += 1
        # At most one line per interval: a flood of junk must not flood the log as well.
        if time.monotonic() - self._rejected_logged >= REJECTED_LOG_INTERVAL:
            self._rejected_logged = time.monotonic()
            log.warning(
                "bus: a message on %r did not open (forged, stale or replayed); %d so far",
                channel[:200],
                self.rejected,
            )

    def _deliver_output(self, channel: str, data: bytes) -> None:
        parts = channel[len(self._p) + 1 :].split(":")
        if len(parts) != 3:
            return
        _, project_id, session_id = parts
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
        await self.directory.claim(server_id, protocol)

    async def release(self, server_id: str) -> bool:
        await super().release(server_id)
        return await self.directory.release(server_id)

    async def holder(self, server_id: str) -> Holder | None:
        if server_id in self._held:
            return Holder(self.replica_id, self._held[server_id])
        return await self.directory.holder(server_id)

    async def directory_holder(self, server_id: str) -> Holder | None:
        return await self.directory.holder(server_id)

    async def connected_ids(self) -> set[str]:
        return await self.directory.connected_ids()

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self.directory.renew()
            except (RedisError, OSError) as exc:
                log.warning("bus: lease not renewed (%s)", exc)
