"""What the running hub holds, built once in the lifespan and reached via ``app.state.hub``."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestratia.hub.bus import Bus, LocalBus
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.metrics import HubMetrics
from orchestratia.hub.sealing import Keyring
from orchestratia.hub.services.access.throttle import LoginThrottle
from orchestratia.hub.services.approvals.tool_approvals import ApprovalWaiters
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


@dataclass
class HubState:
    settings: HubSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    secret_key: bytes
    throttle: LoginThrottle
    keyring: Keyring
    bus: Bus = field(default_factory=LocalBus)
    registry: ConnectionRegistry = field(default_factory=ConnectionRegistry)
    relays: RelayRegistry = field(default_factory=RelayRegistry)
    scrollbacks: PendingReplies = field(default_factory=PendingReplies)
    approval_waiters: ApprovalWaiters = field(default_factory=ApprovalWaiters)
    rule_versions: RuleVersionsTold = field(default_factory=RuleVersionsTold)
    booted_at: datetime = field(default_factory=utcnow)
    guards: SocketGuards = field(default_factory=SocketGuards)
    output_meter: OutputMeter = field(default_factory=OutputMeter)
    metrics: HubMetrics = field(default_factory=HubMetrics)
    grid: GridWatch = field(init=False)
    output_writer: OutputWriter = field(init=False)  # started and stopped by the lifespan
    # Stop all agents: sessions told Ctrl-C whose grace is still running (a second stop-all
    # leaves them alone), and the stops under way (kept so a caller hanging up can't end one).
    stopping: set[str] = field(default_factory=set)
    stops: set[asyncio.Task[object]] = field(default_factory=set)
    # Names this process in leases on shared rows (webhook attempts, Telegram polling), so
    # replicas on one database never do the same piece of work twice.
    replica_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    # Set after a commit that recorded integration events: the dispatcher runs at once
    # instead of at its next poll.
    integrations_due: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when deliveries or notifications were queued, to wake their workers early.
    webhooks_due: asyncio.Event = field(default_factory=asyncio.Event)
    notifications_due: Wakeup = field(default_factory=Wakeup)
    # Set after a change to an SSH tunnel, so the tunnel keeper looks now.
    tunnels_due: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
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

    def in_restart_grace(self, now: datetime) -> bool:
        """Right after start-up daemons are still reconnecting; don't call them offline yet."""
        return now < self.booted_at + timedelta(seconds=self.settings.restart_grace)
