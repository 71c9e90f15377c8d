"""Email notifications on real processes: a hub, a daemon, the stand-in agent in tmux asking for
help, and a real SMTP server. The members whose preferences include help requests get exactly one
mail each, with a link to the inbox; a member who opted out gets none.

The help request's event is dispatched by the hub itself; the test reads who was queued a
notification from the hub's database (``tests.notify_support``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import ADMIN, HubProcess
from tests.e2e.task_support import TaskRig, task_rig
from tests.mail_catcher import MailCatcher, invite_link, mail_catcher, text_of
from tests.notify_support import notified_in_hub_database
from tests.support import wait_sync

pytestmark = pytest.mark.e2e

PUBLIC = "https://hub.example.test"
QUESTION = "Which region should the bucket live in?"
PASSWORD = "a-members-password"


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with mail_catcher() as running:
        yield running


@pytest.fixture
def rig(hub_process: HubProcess, daemon_factory: Any, tmp_path: Path) -> Iterator[TaskRig]:
    with task_rig(hub_process, daemon_factory, tmp_path, "notify", {"alpha": False}) as rig:
        yield rig


def join(rig: TaskRig, catcher: MailCatcher, email: str, role: str) -> httpx.Client:
    """Invite ``email`` by mail, accept the mailed link, and log in as them."""
    url = f"/api/v1/projects/{rig.project_id}/invites"
    assert rig.api.post(url, json={"email": email, "role": role}).status_code == 201
    mail = wait_sync(lambda: [m for m in catcher.messages if m["To"] == email], 10, "the invite")
    token = invite_link(mail[0]).rsplit("/invite/", 1)[1]
    client = httpx.Client(base_url=rig.hub.url, timeout=10)
    rig.hub.closing.append(client)
    res = client.post("/api/v1/invites/accept", json={"token": token, "password": PASSWORD})
    assert res.status_code in (200, 201), res.text
    client.cookies.clear()
    res = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert res.status_code == 200, res.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
    return client


@pytest.mark.parametrize("hub_env", [{"ORCHESTRATIA_PUBLIC_URL": PUBLIC}], indirect=True)
def test_a_help_request_mails_those_who_want_it_once(rig: TaskRig, catcher: MailCatcher) -> None:
    assert rig.api.put("/api/v1/settings/mail", json=catcher.settings()).status_code == 200
    join(rig, catcher, "mia@e2e.example", "member")  # keeps the defaults: help requests mailed
    olaf = join(rig, catcher, "olaf@e2e.example", "viewer")
    prefs = olaf.put("/api/v1/account/notifications", json={"email": ["task.failed"]})
    assert prefs.status_code == 200, prefs.text
    invites = len(catcher.messages)

    rig.start_agent(
        "worker",
        rig.servers["alpha"],
        {"tasks": {"Make a bucket": {"help": {"question": QUESTION, "type": "help"}}}},
    )
    res = rig.api.post(
        "/api/v1/tasks",
        json={
            "project_id": rig.project_id,
            "title": "Make a bucket",
            "assign_session_name": "worker",
        },
    )
    assert res.status_code == 201, res.text
    items = wait_sync(
        lambda: rig.inbox(project_id=rig.project_id, kind="intervention"), 30, "the help request"
    )
    queued = notified_in_hub_database(rig.hub.data_dir, items[0]["id"])
    assert len(queued) == 2

    notices = wait_sync(
        lambda: catcher.messages[invites:] if len(catcher.messages) >= invites + 2 else None,
        15,
        "the two notification mails",
    )
    time.sleep(2 * 1.0)  # two more idle polls of the worker: nothing else may arrive
    assert len(catcher.messages) == invites + 2
    assert sorted(str(m["To"]) for m in notices) == sorted([ADMIN, "mia@e2e.example"])
    for mail in notices:
        # A long subject is folded onto a continuation line; a mail client shows it trimmed.
        assert str(mail["Subject"]).strip() == f"[notify] An agent asks for help: {QUESTION}"
        body = text_of(mail)
        assert QUESTION in body
        assert f"{PUBLIC}/inbox?project_id={rig.project_id}" in body
