"""The Telegram background loops: long polling of the bots, and sending notifications."""

from __future__ import annotations

import asyncio

from orchestratia.hub.services.integrations import worker
from orchestratia.hub.services.integrations.telegram import notify, polling
from orchestratia.hub.state import HubState


def chores(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(polling.run(hub, stop), name="telegram polling"),
        asyncio.create_task(
            worker.run(
                stop,
                hub.notifications_due.listener(),
                hub.settings.integrations_poll_interval,
                lambda: notify.deliver_due(hub),
                notify.BATCH,
                "telegram notifications",
            ),
            name="telegram notifications",
        ),
    ]
