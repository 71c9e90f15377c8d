"""The background work of integrations, started with the hub: the event dispatcher, webhook
delivery, notifications and Telegram polling. Every loop runs on every replica; leases on the
rows they work on keep replicas from doing the same work twice."""

from __future__ import annotations

import asyncio

from orchestratia.hub.services.integrations.telegram import workers as telegram
from orchestratia.hub.state import HubState


def chores(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start the integration loops; each returns once ``stop`` is set."""
    return [*telegram.chores(hub, stop)]
