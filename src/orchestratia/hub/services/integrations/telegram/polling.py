"""Long polling (``getUpdates``) of every enabled bot in polling mode, one replica per bot.

A replica polls a bot while it holds the bot's lease (``poll_owner``/``poll_until``), renewed
before every long poll; a replica that dies leaves a lease that runs out, and another replica's
next sweep takes the bot over. Each update is handled, then the offset after it is stored:
handling is idempotent (``updates``), so a crash between the two only repeats harmless work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.integration_models import TelegramBot
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.sealing import SealingError
from orchestratia.hub.services.integrations.telegram import bots, updates
from orchestratia.hub.services.integrations.telegram.bot_api import BotApi, TelegramError
from orchestratia.hub.state import HubState

log = logging.getLogger(__name__)

# Beyond one long poll: how long a lease outlives its last renewal.
LEASE_MARGIN = 30.0
ERROR_BACKOFF_CAP = 60.0


def _lease(hub: HubState) -> timedelta:
    return timedelta(seconds=hub.settings.telegram_poll_timeout + LEASE_MARGIN)


async def _take(db: AsyncSession, hub: HubState, bot_id: str) -> TelegramBot | None:
    """Take or renew the lease on ``bot_id`` while it is an enabled polling bot; the bot, read
    fresh, if this replica now holds it."""
    now = utcnow()
    mine = TelegramBot.poll_owner == hub.replica_id
    taken = await db.execute(
        update(TelegramBot)
        .where(
            TelegramBot.id == bot_id,
            TelegramBot.enabled.is_(True),
            TelegramBot.mode == "polling",
            or_(TelegramBot.poll_owner.is_(None), TelegramBot.poll_until < now, mine),
        )
        .values(poll_owner=hub.replica_id, poll_until=now + _lease(hub))
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await db.get(TelegramBot, bot_id, populate_existing=True)


async def _store(hub: HubState, bot_id: str, **values: object) -> None:
    """Record the offset or last error, only while this replica still holds the bot."""
    async with hub.sessionmaker() as db:
        await db.execute(
            update(TelegramBot)
            .where(TelegramBot.id == bot_id, TelegramBot.poll_owner == hub.replica_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        await db.commit()


async def poll_bot(hub: HubState, bot_id: str, stop: asyncio.Event) -> None:
    """Poll one bot until ``stop``, or until its lease is lost (disabled, deleted, switched to
    webhook mode, taken by another replica after this one stalled)."""
    failures = 0
    while not stop.is_set():
        async with hub.sessionmaker() as db:
            bot = await _take(db, hub, bot_id)
            if bot is None:
                return
            try:
                token = bots.token_of(hub.keyring, bot)
            except SealingError:
                # A key this replica lacks: let go, so a replica that has it can poll.
                log.error("telegram bot %s: cannot open its token on this replica", bot_id)
                await _store(hub, bot_id, poll_owner=None, poll_until=None)
                return
        try:
            async with BotApi(hub.settings.telegram_api_base, token) as api:
                found = await _unless_stopped(
                    api.get_updates(bot.update_offset, hub.settings.telegram_poll_timeout), stop
                )
                if found is None:
                    return
                for item in found:
                    update_id = item.get("update_id")
                    if not isinstance(update_id, int) or update_id < bot.update_offset:
                        continue
                    await updates.handle(hub, bot, api, item)
                    bot.update_offset = update_id + 1
                    await _store(hub, bot_id, update_offset=bot.update_offset)
            if failures:
                await _store(hub, bot_id, last_error=None)
            failures = 0
        except TelegramError as exc:
            failures += 1
            await _store(hub, bot_id, last_error=exc.description)
            log.warning("telegram bot %s: polling failed: %s", bot_id, exc)
            pause = random.uniform(0, min(ERROR_BACKOFF_CAP, 2.0**failures))  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(pause, exc.retry_after or 0))


async def _unless_stopped(
    call: Coroutine[Any, Any, list[dict[str, Any]]], stop: asyncio.Event
) -> list[dict[str, Any]] | None:
    """The long poll's updates, or None once ``stop`` is set: only the HTTP request is cut
    short at shutdown, never a database write under way."""
    polling = asyncio.ensure_future(call)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((polling, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not polling.done():
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError, TelegramError):
            await polling
        return None
    return polling.result()


async def _pollable(hub: HubState) -> list[str]:
    async with hub.sessionmaker() as db:
        now = utcnow()
        rows = await db.scalars(
            select(TelegramBot.id).where(
                TelegramBot.enabled.is_(True),
                TelegramBot.mode == "polling",
                or_(
                    TelegramBot.poll_owner.is_(None),
                    TelegramBot.poll_until < now,
                    TelegramBot.poll_owner == hub.replica_id,
                ),
            )
        )
        return list(rows)


async def run(hub: HubState, stop: asyncio.Event) -> None:
    """The chore: every poll interval, start a poller for each bot this replica may take."""
    pollers: dict[str, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            try:
                for bot_id in await _pollable(hub):
                    running = pollers.get(bot_id)
                    if running is None or running.done():
                        pollers[bot_id] = asyncio.create_task(poll_bot(hub, bot_id, stop))
            except Exception:  # a database blip must not end polling for good
                log.exception("telegram polling sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), hub.settings.integrations_poll_interval)
    finally:
        # Pollers end by themselves once ``stop`` is set (their long polls are cut short).
        _, late = await asyncio.wait(pollers.values(), timeout=3) if pollers else (set(), set())
        for task in late:
            task.cancel()
        await _let_go(hub, list(pollers))


async def _let_go(hub: HubState, bot_ids: list[str]) -> None:
    """Hand the bots back at shutdown, so another replica (or the restarted hub) polls at once."""
    if not bot_ids:
        return
    with contextlib.suppress(Exception):
        async with hub.sessionmaker() as db:
            await db.execute(
                update(TelegramBot)
                .where(TelegramBot.id.in_(bot_ids), TelegramBot.poll_owner == hub.replica_id)
                .values(poll_owner=None, poll_until=None)
                .execution_options(synchronize_session=False)
            )
            await db.commit()
