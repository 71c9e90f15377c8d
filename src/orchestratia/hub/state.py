"""What the running hub holds, built once in the lifespan and reached via ``app.state.hub``."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestratia.hub.bus import Bus, LocalBus, new_replica_id
from orchestratia.hub.bus_envelope import bus_key
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.metrics import HubMetrics
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.services.access.throttle import LoginThrottle
from orchestratia.hub.services.approvals.tool_approvals import ApprovalWaiters
from orchestratia.hub.services.fleet.heartbeat_batch import HeartbeatBatch
from orchestratia.hub.services.fleet.throughput import OutputMeter
from orchestratia.hub.services.integrations.events import wake_on_commit
from orchestratia.hub.services.integrations.worker import Wakeup
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.ws.grid_watch import GridWatch
from orchestratia.hub.ws.output_writer import OutputWriter
from orchestratia.hub.ws.pending import PendingReplies
from orchestratia.hub.ws.registry import ConnectionRegistry
from orchestratia.hub.ws.rule_push import RuleVersionsTold
from orchestratia.hub.ws.socket_guards import SocketGuards
from orchestratia.hub.ws.terminal_relay import RelayRegistry
from orchestratia.protocol.cluster import ApprovalDecided


@dataclass
class HubState:
    settings: HubSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    secret_key: bytes
    throttle: LoginThrottle
    keyring: Keyring
    # Set from ``settings.redis_url`` when not given: Redis between replicas, or this process.
    bus: Bus = field(default=None)  # type: ignore[assignment]
    registry: ConnectionRegistry = field(default_factory=ConnectionRegistry)
    relays: RelayRegistry = field(default_factory=RelayRegistry)
    scrollbacks: PendingReplies = field(default_factory=PendingReplies)
    approval_waiters: ApprovalWaiters = field(default_factory=ApprovalWaiters)
    rule_versions: RuleVersionsTold = field(default_factory=RuleVersionsTold)
    booted_at: datetime = field(default_factory=utcnow)
    guards: SocketGuards = field(default_factory=SocketGuards)
    output_meter: OutputMeter = field(default_factory=OutputMeter)
    heartbeats: HeartbeatBatch = field(default_factory=HeartbeatBatch)  # written by a chore
    metrics: HubMetrics = field(default_factory=HubMetrics)
    grid: GridWatch = field(init=False)
    output_writer: OutputWriter = field(init=False)  # started and stopped by the lifespan
    # Stop all agents: sessions told Ctrl-C whose grace is still running (a second stop-all
    # leaves them alone), and the stops under way (kept so a caller hanging up can't end one).
    stopping: set[str] = field(default_factory=set)
    stops: set[asyncio.Task[object]] = field(default_factory=set)
    # Names this process in leases on shared rows (webhook attempts, Telegram polling), so
    # replicas on one database never do the same piece of work twice.
    replica_id: str = field(default_factory=new_replica_id)
    # Set after a commit that recorded integration events: the dispatcher runs at once
    # instead of at its next poll.
    integrations_due: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when deliveries or notifications were queued, to wake their workers early.
    webhooks_due: asyncio.Event = field(default_factory=asyncio.Event)
    notifications_due: Wakeup = field(default_factory=Wakeup)
    # Set after a change to an SSH tunnel, so the tunnel keeper looks now.
    tunnels_due: asyncio.Event = field(default_factory=asyncio.Event)

    # Work started from synchronous code (an after-commit hook) that must not be collected.
    background: set[asyncio.Future[None]] = field(default_factory=set)
    # Output bytes per project since the last count told the other replicas (the overview).
    output_counted: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    auth_slots: asyncio.Semaphore = field(init=False)  # see settings.max_concurrent_auth

    def __post_init__(self) -> None:
        self.auth_slots = asyncio.Semaphore(self.settings.max_concurrent_auth)
        if self.bus is None:
            self.bus = _bus_for(self.settings, self.replica_id)
        self.approval_waiters.tell_others = self._tell_approval_decided
        self.grid = GridWatch(
            self.bus,
            self.sessionmaker,
            self.settings.grid_idle_seconds,
            self.settings.grid_screen_interval,
        )
        self.output_writer = OutputWriter(
            self.engine,
            self.registry,
            self.metrics,
            self.settings.output_batch_bytes,
            self.settings.output_batch_seconds,
        )
        self.bus.subscribe_revocations(self.guards.apply)
        wake_on_commit(self.sessionmaker, self.integrations_due)

    def _tell_approval_decided(self, approval_id: str) -> None:
        message = ApprovalDecided(origin=self.replica_id, approval_id=approval_id)
        self.spawn(self.bus.broadcast(message))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def in_restart_grace(self, now: datetime) -> bool:
        """Right after start-up daemons are still reconnecting; don't call them offline yet."""
        return now < self.booted_at + timedelta(seconds=self.settings.restart_grace)


def _bus_for(settings: HubSettings, replica_id: str) -> Bus:
    if settings.redis_url is None:
        return LocalBus(replica_id)
    from orchestratia.hub.redis_bus import RedisBus  # only a clustered hub needs redis loaded

    url, key = settings.redis_url.get_secret_value(), bus_key(settings.resolved_secret_key())
    return RedisBus(url, settings.redis_prefix, key, replica_id)
