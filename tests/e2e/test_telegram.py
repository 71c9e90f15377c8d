"""Telegram end to end (issue 15, acceptance 4): a hub process long-polling a stand-in Bot API
server, a real daemon, real tmux, the real pre-tool-use hook waiting on an approval and the
stand-in agent waiting on an answer.

A tap on Approve lets the waiting hook proceed; a second tap is ``already_applied``; a reply
answers the intervention and is typed into the agent's terminal once; an unlinked chat gets
nothing; the bot token never shows in the hub's log or its API answers."""

from __future__ import annotations

import json
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import ADMIN, HubProcess
from tests.e2e.task_support import TaskRig, cli_path, task_rig
from tests.integration.telegram_bot_api import BotApiStandIn, bot_api_standin, first
from tests.support import wait_sync

pytestmark = pytest.mark.e2e

SAMPLE = (
    Path(__file__).parent.parent
    / "unit"
    / "hook_samples"
    / "pretooluse"
    / "claude_ask_webfetch.json"
)
ALICE_CHAT = ALICE = 2001
STRANGER_CHAT = STRANGER = 3003
QUESTION = "Which queue should the jobs use?"
ANSWER = "Use the redis queue (answer 61c2e)"


@pytest.fixture
def bot_api() -> Iterator[BotApiStandIn]:
    with bot_api_standin() as standin:
        yield standin


@pytest.fixture
def hub_env(bot_api: BotApiStandIn) -> dict[str, str]:
    return {
        "ORCHESTRATIA_TELEGRAM_API_BASE": bot_api.url,
        "ORCHESTRATIA_TELEGRAM_POLL_TIMEOUT": "1",
        "ORCHESTRATIA_INTEGRATIONS_POLL_INTERVAL": "0.2",
    }


@pytest.fixture
def rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[TaskRig]:
    with task_rig(hub_process, daemon_factory, tmp_path, "telegram", {"alpha": True}) as made:
        yield made


def sent_with(bot_api: BotApiStandIn, chat: int, needle: str) -> list[dict[str, Any]]:
    return [m for m in bot_api.sent("sendMessage", chat) if needle in m["text"]]


def callback_answers(bot_api: BotApiStandIn, query_id: str) -> list[str]:
    return [
        str(a.get("text")) for a in bot_api.sent("answerCallbackQuery")
        if a["callback_query_id"] == query_id
    ]  # fmt: skip


def link_alice(rig: TaskRig, bot_api: BotApiStandIn) -> None:
    res = rig.api.put(
        f"/api/v1/projects/{rig.project_id}/telegram",
        json={"token": bot_api.token, "mode": "polling", "enabled": True},
    )
    assert res.status_code == 200, res.text
    assert res.json()["username"] == "orchestratia_test_bot"
    assert bot_api.token not in res.text
    got = rig.api.get(f"/api/v1/projects/{rig.project_id}/telegram")
    assert got.status_code == 200 and bot_api.token not in got.text, got.text
    code = rig.api.post("/api/v1/telegram/link-codes", json={"project_id": rig.project_id})
    assert code.status_code == 201, code.text
    assert code.json()["deep_link"].startswith("https://t.me/orchestratia_test_bot?start=")
    bot_api.push(bot_api.message(f"/start {code.json()['code']}", ALICE_CHAT, ALICE))
    wait_sync(lambda: sent_with(bot_api, ALICE_CHAT, "Linked to"), 15, "the link confirmed")
    links = rig.api.get(f"/api/v1/projects/{rig.project_id}/telegram").json()["links"]
    assert [(x["email"], x["telegram_username"]) for x in links] == [(ADMIN, "alice")]


def test_approve_a_waiting_hook_and_answer_an_agent_from_telegram(
    rig: TaskRig, bot_api: BotApiStandIn, hub_process: HubProcess, tmp_path: Path
) -> None:
    link_alice(rig, bot_api)

    # A stranger's chat: /start with a wrong code gets the fixed hint, anything else nothing.
    bot_api.push(bot_api.message("/start not-a-code", STRANGER_CHAT, STRANGER))
    bot_api.push(bot_api.message("/status", STRANGER_CHAT, STRANGER))
    stranger_tap = bot_api.push(bot_api.tap("approve", STRANGER_CHAT, STRANGER, 1))
    wait_sync(lambda: bot_api.sent("answerCallbackQuery"), 15, "the stranger's tap answered")
    stranger = bot_api.sent("sendMessage", STRANGER_CHAT)
    assert [m["text"] for m in stranger] == [
        "This chat is not linked to Orchestratia. Open the project's Telegram page in the "
        "dashboard, get a link code, and send /start &lt;code&gt; here."
    ]
    assert not stranger[0].get("reply_markup")
    assert stranger_tap and [a["text"] for a in bot_api.sent("answerCallbackQuery")] == [
        "This chat is not linked to Orchestratia."
    ]

    # The real hook, in a real session of the real daemon, asks about a WebFetch and waits.
    work = tmp_path / "hook-work"
    work.mkdir()
    command = (
        f"{shlex.quote(cli_path())} hook pre-tool-use --agent claude "
        f"< {shlex.quote(str(SAMPLE))} > hook-out.json; cat > received.txt"
    )
    started = rig.api.post(
        "/api/v1/sessions",
        json={"server_id": rig.servers["alpha"].id, "name": "hooked",
              "working_directory": str(work), "command": command},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    ask = wait_sync(
        first(lambda: rig.inbox(project_id=rig.project_id, kind="tool_approval")),
        30,
        "the hook's ask in the inbox",
    )
    assert ask["title"] == "WebFetch" and ask["detail"] == "https://example.org/docs/api"
    # The hub's own dispatcher tells the linked admin (nothing is queued by the test).
    card = wait_sync(
        first(lambda: sent_with(bot_api, ALICE_CHAT, "Approval needed")), 15, "the approval card"
    )
    assert "WebFetch" in card["text"] and "https://example.org/docs/api" in card["text"]
    labels = [b["text"] for b in card["reply_markup"]["inline_keyboard"][0]]
    assert labels == ["Approve", "Deny"]
    assert len(sent_with(bot_api, ALICE_CHAT, "Approval needed")) == 1  # one card per event
    assert not (work / "hook-out.json").exists() or not (work / "hook-out.json").read_text()

    first_tap = bot_api.tap("approve", ALICE_CHAT, ALICE, card["message_id"])
    bot_api.push(first_tap)
    out = wait_sync(
        lambda: (work / "hook-out.json").exists() and (work / "hook-out.json").read_text().strip(),
        30,
        "the hook's answer",
    )
    decided = json.loads(out)["hookSpecificOutput"]
    assert decided["permissionDecision"] == "allow", decided
    assert ADMIN in decided["permissionDecisionReason"]
    query_id = first_tap["callback_query"]["id"]
    assert wait_sync(lambda: callback_answers(bot_api, query_id), 10, "tap answered") == [
        "Approved."
    ]
    edited = wait_sync(
        first(lambda: bot_api.sent("editMessageText", ALICE_CHAT)), 10, "card edited"
    )
    assert edited["message_id"] == card["message_id"] and edited["text"].endswith(
        f"Approved</b> by {ADMIN}"
    )
    assert edited["text"].startswith("🔐 Approval needed\nclaude wants to use WebFetch")

    # A second tap (a double tap, or Telegram re-sending it) decides nothing more.
    second_tap = bot_api.tap("approve", ALICE_CHAT, ALICE, card["message_id"])
    bot_api.push(second_tap)
    again = wait_sync(
        lambda: callback_answers(bot_api, second_tap["callback_query"]["id"]), 10, "second tap"
    )
    assert again[0].startswith("already_applied"), again
    audit = [a for a in rig.audit(ask["id"]) if a["action"] == "inbox.decided"]
    assert [(a["actor_type"], a["actor_id"], a["details"]["action"]) for a in audit] == [
        ("user", ADMIN, "approve")
    ]

    # An agent asks for help; the reply in Telegram is typed into its terminal, once.
    agent = rig.start_agent(
        "worker",
        rig.servers["alpha"],
        {"tasks": {"Queue the jobs": {"help": {"question": QUESTION, "type": "help"},
                                      "result": {"summary": "queued"}}}},
    )  # fmt: skip
    made = rig.api.post(
        "/api/v1/tasks",
        json={"project_id": rig.project_id, "title": "Queue the jobs", "spec": "pick a queue",
              "assign_session_name": "worker"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    wait_sync(
        first(lambda: rig.inbox(project_id=rig.project_id, kind="intervention")),
        30,
        "the help request in the inbox",
    )
    question = wait_sync(
        first(lambda: sent_with(bot_api, ALICE_CHAT, QUESTION)), 15, "the question in Telegram"
    )
    assert "Reply to this message to answer" in question["text"]
    # Telegram hands out the message id before the hub has stored which question it carries;
    # a person cannot reply in that instant, a test can: wait for the hub's record first.
    wait_sync(
        lambda: _message_recorded(hub_process, question["message_id"]), 10, "the question stored"
    )
    bot_api.push(bot_api.reply(ANSWER, ALICE_CHAT, ALICE, question["message_id"]))
    got = wait_sync(lambda: agent.events("response", task_id), 20, "the answer in the terminal")
    assert got[0]["response"] == ANSWER
    wait_sync(lambda: sent_with(bot_api, ALICE_CHAT, "Answer sent"), 10, "the reply confirmed")
    bot_api.push(bot_api.reply("a second answer", ALICE_CHAT, ALICE, question["message_id"]))
    wait_sync(
        lambda: sent_with(bot_api, ALICE_CHAT, "refused"),
        10,
        "the second reply refused",
    )
    rig.wait_status(task_id, "done")
    assert [(r["task"], r["count"]) for r in agent.events("response")] == [(task_id, 1)]
    screen = agent.screen()
    assert screen.count(ANSWER) == 1 and "a second answer" not in screen, screen

    # /status and /screen answer the linked chat.
    bot_api.push(bot_api.message("/status", ALICE_CHAT, ALICE))
    status = wait_sync(
        first(lambda: sent_with(bot_api, ALICE_CHAT, "<b>Sessions</b>")), 10, "/status"
    )
    assert "worker" in status["text"] and "hooked" in status["text"]
    bot_api.push(bot_api.message("/screen worker", ALICE_CHAT, ALICE))
    shown = wait_sync(
        first(lambda: sent_with(bot_api, ALICE_CHAT, "<b>worker</b>\n<pre>")), 10, "/screen"
    )
    assert shown["text"].startswith("<b>worker</b>") and "standin&gt; " in shown["text"]
    assert len(shown["text"]) <= 4096

    # Nothing more ever reached the stranger; the token never reached the hub's log.
    assert len(bot_api.sent("sendMessage", STRANGER_CHAT)) == 1
    assert bot_api.token not in hub_process.log.read_text()
    assert bot_api.token.split(":")[1] not in hub_process.log.read_text()


def _message_recorded(hub: HubProcess, message_id: int) -> bool:
    """Whether the hub stored what its Telegram message ``message_id`` is about (read-only)."""
    with closing(sqlite3.connect(f"file:{hub.data_dir / 'hub.db'}?mode=ro", uri=True)) as db:
        found = db.execute(
            "SELECT 1 FROM telegram_messages WHERE message_id = ?", (message_id,)
        ).fetchone()
    return found is not None
