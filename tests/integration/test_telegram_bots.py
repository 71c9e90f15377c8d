"""A project's Telegram bot over the REST API against the stand-in Bot API server: settings
checked with Telegram and sealed (never returned), owners only, other tenants 404; a 429 from
Telegram retried after its ``retry_after``; a viewer's tap refused; an unlinked chat gets
nothing; one replica polls a bot and another takes over when its lease lapses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from orchestratia.hub.db.integration_models import (
    TelegramBot,
)
from orchestratia.hub.sealed_columns import TELEGRAM_TOKEN
from tests.integration.approval_support import ask
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import add_user, register_server, tenant_b
from tests.integration.running_hub import RunningHub, make_settings, serving
from tests.integration.telegram_bot_api import BotApiStandIn, bot_api_standin, first, fixture
from tests.support import wait_until

VIEWER_CHAT = 4004


@pytest.fixture
def bot_api() -> Iterator[BotApiStandIn]:
    with bot_api_standin() as standin:
        yield standin


@pytest.fixture
def hub_overrides(bot_api: BotApiStandIn) -> dict[str, Any]:
    return {
        "telegram_api_base": bot_api.url,
        "telegram_poll_timeout": 1,
        "integrations_poll_interval": 0.2,
    }


async def set_up_bot(client: httpx.AsyncClient, project_id: str, token: str) -> httpx.Response:
    return await client.put(
        f"/api/v1/projects/{project_id}/telegram", json={"token": token, "mode": "polling"}
    )


async def link(
    client: httpx.AsyncClient, bot_api: BotApiStandIn, project_id: str, chat: int
) -> None:
    res = await client.post("/api/v1/telegram/link-codes", json={"project_id": project_id})
    assert res.status_code == 201, res.text
    bot_api.push(bot_api.message(f"/start {res.json()['code']}", chat, chat))
    await wait_until(
        lambda: [m for m in bot_api.sent("sendMessage", chat) if "Linked to" in m["text"]],
        timeout=15,
        message="the chat linked",
    )


async def test_bot_settings_are_checked_sealed_and_owners_only(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, bot_api: BotApiStandIn
) -> None:
    url = f"/api/v1/projects/{project_id}/telegram"
    assert (await admin.get(url)).status_code == 404
    bad_shape = await set_up_bot(admin, project_id, "not a token")
    assert bad_shape.status_code == 422 and "token" in bad_shape.text
    refused = await set_up_bot(admin, project_id, "999999:AAHwrongTOKENwrongTOKENwrong")
    assert refused.status_code == 422, refused.text
    assert "Telegram refused" in refused.text and "Unauthorized" in refused.text
    assert "wrongTOKEN" not in refused.text
    no_public_url = await admin.put(url, json={"token": bot_api.token, "mode": "webhook"})
    assert no_public_url.status_code == 422 and "public_url" in no_public_url.text

    made = await set_up_bot(admin, project_id, bot_api.token)
    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["username"], body["mode"], body["enabled"], body["links"]) == (
        "orchestratia_test_bot", "polling", True, []
    )  # fmt: skip
    assert bot_api.token not in made.text and bot_api.token not in (await admin.get(url)).text
    async with hub.state.sessionmaker() as db:
        row = await db.scalar(select(TelegramBot).where(TelegramBot.project_id == project_id))
        assert row is not None and bot_api.token not in row.token_sealed
        assert hub.state.keyring.open(row.token_sealed, TELEGRAM_TOKEN.aad(row.id)) == bot_api.token
    assert [r.action for r in await audit_rows(hub, "telegram.bot_created")] == [
        "telegram.bot_created"
    ]
    # Mode and switch change without sending the token again.
    paused = await admin.put(url, json={"mode": "polling", "enabled": False})
    assert paused.status_code == 200 and paused.json()["enabled"] is False

    viewer = await add_user(hub, admin, "vera@a.example", project_id, "viewer")
    bob = await tenant_b(hub)
    try:
        assert (await viewer.get(url)).status_code == 403
        assert (await set_up_bot(viewer, project_id, bot_api.token)).status_code == 403
        assert (await viewer.delete(url)).status_code == 403
        for method, path, json in [
            ("GET", url, None),
            ("PUT", url, {"token": bot_api.token}),
            ("DELETE", url, None),
            ("POST", "/api/v1/telegram/link-codes", {"project_id": project_id}),
        ]:
            res = await bob.request(method, path, json=json)
            assert res.status_code == 404, (method, path, res.text)
    finally:
        await viewer.aclose()
        await bob.aclose()

    assert (await admin.delete(url)).status_code == 204
    assert (await admin.get(url)).status_code == 404
    assert len(await audit_rows(hub, "telegram.bot_deleted")) == 1


async def test_viewer_tap_refused_and_429_retried(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, bot_api: BotApiStandIn
) -> None:
    assert (await set_up_bot(admin, project_id, bot_api.token)).status_code == 200
    viewer = await add_user(hub, admin, "vera@a.example", project_id, "viewer")
    server = await register_server(admin, project_id)
    agent = httpx.AsyncClient(
        base_url=f"{hub.url}/api/v1/server", headers={"X-API-Key": server["api_key"]}
    )
    try:
        await link(viewer, bot_api, project_id, VIEWER_CHAT)
        # Telegram is busy: the first send gets 429 with retry_after 1. The ask reaches the
        # viewer through the hub's own dispatcher.
        bot_api.fail_next("sendMessage", fixture("error_429"))
        approval = await ask(agent)
        card = await wait_until(
            first(
                lambda: [
                    m
                    for m in bot_api.sent("sendMessage", VIEWER_CHAT)
                    if "make deploy" in m["text"] and "message_id" in m
                ]
            ),
            timeout=20,
            message="the approval card after the retry",
        )
        sends = [
            c
            for c in bot_api.calls
            if c.method == "sendMessage"
            and c.params.get("chat_id") == VIEWER_CHAT
            and "make deploy" in c.params["text"]
        ]
        assert len(sends) == 2 and sends[1].at - sends[0].at >= 1.0, sends

        # The viewer taps Approve: refused, and the tool call still waits.
        tap = bot_api.tap("approve", VIEWER_CHAT, VIEWER_CHAT, card["message_id"])
        bot_api.push(tap)
        answers = await wait_until(
            lambda: [
                a["text"]
                for a in bot_api.sent("answerCallbackQuery")
                if a["callback_query_id"] == tap["callback_query"]["id"]
            ],
            timeout=10,
            message="the viewer's tap answered",
        )
        assert answers[0].startswith("refused") and "read-only" in answers[0], answers
        state = await agent.get(f"/approvals/{approval['id']}")
        assert state.json()["status"] == "pending"
        assert not bot_api.sent("editMessageText")

        # Someone else's chat tapping the same card is not linked: nothing decided, no data.
        stranger = bot_api.tap("approve", VIEWER_CHAT, 5005, card["message_id"])
        bot_api.push(stranger)
        await wait_until(
            lambda: [
                a
                for a in bot_api.sent("answerCallbackQuery")
                if a["callback_query_id"] == stranger["callback_query"]["id"]
            ],
            timeout=10,
            message="the stranger's tap answered",
        )
        assert (await agent.get(f"/approvals/{approval['id']}")).json()["status"] == "pending"
    finally:
        await agent.aclose()
        await viewer.aclose()


async def test_one_replica_polls_a_bot_and_another_takes_over(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, bot_api: BotApiStandIn,
    database_url: str,
) -> None:  # fmt: skip
    assert (await set_up_bot(admin, project_id, bot_api.token)).status_code == 200

    async def owner(reader: RunningHub = hub) -> str | None:
        async with reader.state.sessionmaker() as db:
            row = await db.scalar(select(TelegramBot).where(TelegramBot.project_id == project_id))
            return row.poll_owner if row else None

    assert await wait_until(owner, timeout=10, message="a poller") == hub.state.replica_id
    settings = make_settings(
        # The same data dir: replicas share the keys that seal the token.
        database_url, hub.settings.data_dir, telegram_api_base=bot_api.url,
        telegram_poll_timeout=1, integrations_poll_interval=0.2,
    )  # fmt: skip
    async with serving(settings) as second:
        await asyncio.sleep(1.5)  # several sweeps of the second replica
        assert await owner() == hub.state.replica_id
        # The first replica stops; its bot is handed back and the second one takes it over.
        hub.server.should_exit = True
        # (read through the second replica: the first one's engine is gone)
        await wait_until(
            lambda: _is(owner(second), second.state.replica_id), timeout=15, message="the takeover"
        )
        bot_api.push(bot_api.message("/start nothing-valid", 6006, 6006))
        await wait_until(
            lambda: bot_api.sent("sendMessage", 6006), timeout=10, message="the new poller"
        )


async def _is(read: Awaitable[str | None], expected: str) -> bool:
    return await read == expected


async def test_telegram_page_for_owners_and_members(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, bot_api: BotApiStandIn
) -> None:
    page = await admin.get(f"/telegram?project_id={project_id}")
    assert page.status_code == 200 and 'id="telegram-form"' in page.text
    assert "no Telegram bot turned on" in page.text
    assert (await set_up_bot(admin, project_id, bot_api.token)).status_code == 200
    viewer = await add_user(hub, admin, "vera@a.example", project_id, "viewer")
    try:
        await link(viewer, bot_api, project_id, VIEWER_CHAT)
        owner_page = (await admin.get(f"/telegram?project_id={project_id}")).text
        assert "@orchestratia_test_bot" in owner_page and "vera@a.example" in owner_page
        assert 'id="telegram-code"' in owner_page and bot_api.token not in owner_page
        viewer_page = (await viewer.get(f"/telegram?project_id={project_id}")).text
        assert 'id="telegram-form"' not in viewer_page and "Unlink my chat" in viewer_page
        link_id = (await admin.get(f"/api/v1/projects/{project_id}/telegram")).json()["links"]
        assert (
            await viewer.delete(f"/api/v1/telegram/links/{link_id[0]['id']}")
        ).status_code == 204
        gone = await admin.get(f"/api/v1/projects/{project_id}/telegram")
        assert gone.json()["links"] == []
        assert len(await audit_rows(hub, "telegram.unlinked")) == 1
    finally:
        await viewer.aclose()


async def test_webhook_mode_takes_updates_with_the_secret_token(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, bot_api: BotApiStandIn
) -> None:
    hub.state.settings.public_url = hub.url  # where Telegram would reach this hub
    made = await admin.put(
        f"/api/v1/projects/{project_id}/telegram", json={"token": bot_api.token, "mode": "webhook"}
    )
    assert made.status_code == 200, made.text
    bot_id = made.json()["id"]
    [registered] = bot_api.sent("setWebhook")
    assert registered["url"] == f"{hub.url}/api/v1/telegram/webhook/{bot_id}"
    secret = registered["secret_token"]
    update = bot_api.message("/start not-a-code", 7007, 7007) | {"update_id": 1}
    async with httpx.AsyncClient(base_url=hub.url) as telegram:
        path = f"/api/v1/telegram/webhook/{bot_id}"
        wrong = await telegram.post(
            path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
        )
        assert wrong.status_code == 401
        assert (await telegram.post(path, json=update)).status_code == 401
        assert not bot_api.sent("sendMessage", 7007)
        taken = await telegram.post(
            path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
        assert taken.status_code == 200, taken.text
    [hint] = bot_api.sent("sendMessage", 7007)
    assert hint["text"].startswith("This chat is not linked") and not hint.get("reply_markup")
    await asyncio.sleep(0.5)  # no poller runs for a webhook bot
    assert not bot_api.sent("getUpdates")
