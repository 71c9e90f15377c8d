"""The background work of integrations, started with the hub: the event dispatcher, webhook
delivery, notifications and Telegram polling. Every loop runs on every replica; leases on the
rows they work on keep replicas from doing the same work twice. (SSH tunnels run here too.)"""

from __future__ import annotations

import asyncio

from orchestratia.hub.state import HubState
from orchestratia.hub.tunnels import keeper


def chores(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start the integration loops; each returns once ``stop`` is set."""
    return [
        asyncio.create_task(keeper.keep(hub, stop), name="ssh tunnels"),
    ]
