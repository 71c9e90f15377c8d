"""The Telegram background loops: long polling of the bots, and sending notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from orchestratia.hub.services.integrations.telegram import notify, polling
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)


async def send_notifications(hub: HubState, stop: asyncio.Event) -> None:
    """Send due notifications; between rounds wait for ``notifications_due`` or the poll
    interval. A full batch goes round again at once."""
    while not stop.is_set():
        claimed = 0
        try:
            claimed = await notify.deliver_due(hub)
        except Exception:  # a database blip must not end notifications for good
            log.exception("telegram notifications failed; retrying")
        if claimed >= notify.BATCH:
            continue
        wake = asyncio.ensure_future(hub.notifications_due.wait())
        halt = asyncio.ensure_future(stop.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.wait((wake, halt), return_when=asyncio.FIRST_COMPLETED),
                hub.settings.integrations_poll_interval,
            )
        for waiter in (wake, halt):
            waiter.cancel()
        hub.notifications_due.clear()


def chores(hub: HubState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(polling.run(hub, stop)),
        asyncio.create_task(send_notifications(hub, stop)),
    ]
