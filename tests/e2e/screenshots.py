"""``make screenshots``: every dashboard page of a real, lived-in hub, at desktop and phone size.

Starts a hub and two daemons on a temporary data dir (the same processes the end-to-end tests
run), seeds a project a reviewer would recognise (stand-in agents working, waiting for a person
and done, a shell streaming build output, a pipeline, rules, an invite, an API key, a share
link: the audit log fills itself), then saves each page of ``PAGES`` at 1366x900 and 390x844
into ``screenshots/`` and prints the files. Run it with ``python -m tests.e2e.screenshots``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from tests.e2e.browser_pages import log_in, open_page
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.processes import DaemonProcess, HubProcess, base_env, hub_with_admin
from tests.e2e.task_support import Server, TaskRig, task_rig
from tests.integration.telegram_bot_api import BotApiStandIn, bot_api_standin
from tests.sshd_support import SSHD, running_sshd
from tests.support import free_port, wait_sync
from tests.webhook_receiver import webhook_receiver


@dataclass(frozen=True)
class Shot:
    """A page to photograph: ``path`` is formatted with the ids ``seed`` returns; ``settle_ms``
    gives live parts (terminals, sockets) time to draw after the load event."""

    name: str
    path: str
    logged_in: bool = True
    settle_ms: int = 250


# Every page of the dashboard, in the order a reviewer would walk through them. A new page is
# one line here (its ids come from ``seed``).
PAGES: tuple[Shot, ...] = (
    Shot("login", "/login", logged_in=False),
    Shot("overview", "/overview?project_id={project}"),
    Shot("overview-all-projects", "/overview?all=1"),
    Shot("fleet", "/fleet?project_id={project}"),
    Shot("fleet-add-over-ssh", "/fleet?project_id={project}#add-over-ssh"),
    Shot("server", "/servers/{server}"),
    Shot("sessions", "/sessions?project_id={project}", settle_ms=1000),
    Shot("session-terminal", "/sessions/{shell}", settle_ms=1000),
    Shot("share-link", "/share/{share}", logged_in=False, settle_ms=1000),
    Shot("tasks", "/tasks?project_id={project}", settle_ms=500),
    Shot("task-running", "/tasks/{running}"),
    Shot("task-needs-human", "/tasks/{needs_human}"),
    Shot("task-done", "/tasks/{done}"),
    Shot("pipelines", "/pipelines?project_id={project}"),
    Shot("pipeline", "/pipelines/{pipeline}"),
    Shot("activity", "/activity?project_id={project}"),
    Shot("inbox", "/inbox", settle_ms=500),
    Shot("permissions", "/permissions?project_id={project}"),
    Shot("team", "/team?project_id={project}"),
    Shot("api-keys", "/api-keys"),
    Shot("webhooks", "/webhooks"),
    Shot("webhook", "/webhooks/{webhook}"),
    Shot("audit", "/audit"),
    Shot("usage", "/usage"),
    Shot("account", "/account"),
    Shot("mail-settings", "/settings/mail"),
    Shot("telegram", "/telegram?project_id={project}"),
    Shot("invite-accept", "/invite/{invite}", logged_in=False),
    Shot("not-found", "/tasks/no-such-task"),
)
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}

BUILD_LOG = (
    'for i in $(seq 1 40); do echo "[build] step $i/40: compiled module_$i.py ok"; done; '
    "echo 'tests: 212 passed, 3 skipped in 41.2s'; read -r _"
)


def seed_webhooks(rig: TaskRig, receiver_url: str) -> str:
    """Two endpoints of the project, one with a test event in its log; the first one's id."""
    made = []
    for body in (
        {"url": receiver_url, "description": "Slack #deploys"},
        {"url": receiver_url + "/pager", "description": "on-call pager", "ordered": True,
         "events": ["task.failed", "intervention.created", "approval.requested"]},
    ):  # fmt: skip
        res = rig.api.post("/api/v1/webhooks", json={"project_id": rig.project_id, **body})
        assert res.status_code == 201, res.text
        made.append(str(res.json()["id"]))
    res = rig.api.post(f"/api/v1/webhooks/{made[0]}/test", timeout=30)
    assert res.status_code == 200, res.text
    return made[0]


def seed(rig: TaskRig, root: Path) -> dict[str, str]:
    """A realistic project; the ids ``PAGES`` paths name."""
    api, project = rig.api, rig.project_id
    alpha, beta = rig.servers["build-1"], rig.servers["gpu-2"]
    never = str(root / "never")  # the running agent's gate: its task stays running
    scripts: list[tuple[str, Server, dict[str, Any]]] = [
        ("claude-api", alpha, {"tasks": {"Add rate limiting": {"wait_for": never}}}),
        ("claude-docs", alpha, {
            "tasks": {
                "Write the upgrade guide": {
                    "help": {
                        "question": "Should the guide cover upgrades from 0.x?",
                        "context": "No one runs 0.x in the fleet; the README still mentions it.",
                    }
                }
            }
        }),
        ("codex-tests", beta, {
            "tasks": {"Remove the legacy config loader": {"fail": "3 tests still import it"}},
            "default": {"result": {"summary": "Fixed the race in the login test; 40 runs green."}},
        }),
    ]  # fmt: skip
    # Side by side: each agent waits on its own Python start-up.
    with ThreadPoolExecutor(len(scripts)) as pool:
        worker, asker, finisher = pool.map(lambda a: rig.start_agent(*a), scripts)

    def task(title: str, spec: str, **body: object) -> str:
        res = api.post(
            "/api/v1/tasks", json={"project_id": project, "title": title, "spec": spec, **body}
        )
        assert res.status_code == 201, res.text
        return str(res.json()["id"])

    def assign(task_id: str, session: str) -> None:
        res = api.post(f"/api/v1/tasks/{task_id}/assign", json={"session_name": session})
        assert res.status_code == 200, res.text

    ids = {"project": project, "server": alpha.id}
    ids["running"] = task(
        "Add rate limiting", "Limit /api/v1/login to 10/min per IP.", priority="high"
    )
    ids["needs_human"] = task("Write the upgrade guide", "docs/upgrading.md for 1.4.")
    ids["done"] = task("Fix the flaky login test", "tests/e2e/test_login.py fails 1 in 20.")
    failed = task("Remove the legacy config loader", "Delete config_v1.py and its callers.")
    for task_id, agent in (
        (ids["running"], worker),
        (ids["needs_human"], asker),
        (ids["done"], finisher),
        (failed, finisher),
    ):
        assign(task_id, agent.name)
    task("Migrate CI to Python 3.12", "Bump the matrix; fix deprecations.", labels=["ci"])
    cancelled = task("Try a second cache layer", "Measure first.")
    assert api.delete(f"/api/v1/tasks/{cancelled}").status_code == 200

    pipeline = api.post(
        "/api/v1/pipelines",
        json={
            "project_id": project,
            "name": "release 1.4",
            "tasks": [
                {"id": "notes", "title": "Draft the release notes", "spec": "From CHANGELOG."},
                {"id": "tag", "title": "Tag and build 1.4.0", "spec": "make dist",
                 "depends_on": [{"task": "notes", "type": "blocks"}]},
                {"id": "announce", "title": "Announce the release", "spec": "Blog + mail.",
                 "depends_on": [{"task": "tag", "type": "blocks"}]},
            ],
        },
    )  # fmt: skip
    assert pipeline.status_code == 201, pipeline.text
    ids["pipeline"] = str(pipeline.json()["pipeline_id"])

    shell = api.post(
        "/api/v1/sessions",
        json={"server_id": beta.id, "name": "build-log", "working_directory": str(root),
              "command": BUILD_LOG, "cols": 110, "rows": 30},
    )  # fmt: skip
    assert shell.status_code == 201, shell.text
    ids["shell"] = str(shell.json()["id"])
    brief = api.post(
        "/api/v1/sessions",
        json={"server_id": beta.id, "name": "one-off", "working_directory": str(root),
              "command": "echo done"},
    )  # fmt: skip
    assert brief.status_code == 201, brief.text
    share = api.post(f"/api/v1/sessions/{ids['shell']}/share", json={"mode": "read"})
    assert share.status_code == 201, share.text
    ids["share"] = str(share.json()["token"])

    for rule in (
        {"name": "git reads", "tool_pattern": "Bash", "param_pattern": "git status*",
         "action": "allow"},
        {"name": "no force push", "tool_pattern": "Bash", "param_pattern": "git push --force*",
         "action": "deny"},
        {"name": "ask before installs", "tool_pattern": "Bash", "param_pattern": "pip install*",
         "action": "ask"},
    ):  # fmt: skip
        assert api.post("/api/v1/approval-rules", json=rule).status_code == 201
    invite = api.post(
        f"/api/v1/projects/{project}/invites", json={"email": "dana@example.com", "role": "member"}
    )
    assert invite.status_code == 201, invite.text
    ids["invite"] = str(invite.json()["link"]).rsplit("/", 1)[1]  # no mail server: it is shown
    key = api.post("/api/v1/api-keys", json={"name": "ci deploy", "scopes": ["tasks:read"]})
    assert key.status_code == 201, key.text

    rig.wait_status(ids["running"], "running")
    rig.wait_status(ids["needs_human"], "needs_human")
    rig.wait_status(ids["done"], "done")
    rig.wait_status(failed, "failed")
    wait_sync(lambda: rig.session(ids["shell"])["output_offset"] > 1000, 15, "build output")
    return ids


def seed_tunnels(rig: TaskRig, stack: ExitStack) -> None:
    """Servers over SSH in every state a reviewer should see: up, a host key waiting for
    confirmation, a changed host key refused, and a server the hub cannot reach (real sshd
    instances of the tunnel tests, left running while the pages are photographed)."""
    api = rig.api

    def add(name: str, host: str, port: int, user: str) -> dict[str, Any]:
        res = api.post("/api/v1/tunnels", json={"project_id": rig.project_id, "name": name,
                       "host": host, "port": port, "username": user, "generate": True,
                       "remote_port": free_port()})  # fmt: skip
        assert res.status_code == 201, res.text
        return dict(res.json())

    def offered(tunnel: dict[str, Any]) -> str:
        return str(wait_sync(lambda: api.get(f"/api/v1/tunnels/{tunnel['id']}").json()[
            "offered_fingerprint"], 15, f"{tunnel['name']}'s host key"))  # fmt: skip

    def confirm_until_up(tunnel: dict[str, Any]) -> None:
        res = api.post(f"/api/v1/tunnels/{tunnel['id']}/confirm-host-key",
                       json={"fingerprint": offered(tunnel)})  # fmt: skip
        assert res.status_code == 200, res.text
        wait_sync(lambda: api.get(f"/api/v1/tunnels/{tunnel['id']}").json()["status"] == "up",
                  15, f"{tunnel['name']} up")  # fmt: skip

    add("old-ci", "192.0.2.10", 22, "ci")  # TEST-NET-1: never answers
    if not SSHD.exists():
        return
    sshd, _ = stack.enter_context(running_sshd())
    up = add("build-nat", "127.0.0.1", sshd.port, sshd.user)
    sshd.authorize(up["public_key"])
    confirm_until_up(up)
    offered(add("lab-box", "127.0.0.1", sshd.port, sshd.user))
    changed_sshd, _ = stack.enter_context(running_sshd())
    changed = add("gpu-dmz", "127.0.0.1", changed_sshd.port, changed_sshd.user)
    changed_sshd.authorize(changed["public_key"])
    confirm_until_up(changed)
    changed_sshd.restart(new_host_key=True)
    wait_sync(
        lambda: api.get(f"/api/v1/tunnels/{changed['id']}").json()["status"] == "host_key_mismatch",
        15,
        "the changed host key refused",
    )


def stop_sessions(rig: TaskRig) -> None:
    """Kill every session still running: an agent waiting on its gate reads no terminal, so
    taking tmux away alone would leave it behind."""
    listed = rig.api.get("/api/v1/sessions", params={"project_id": rig.project_id})
    assert listed.status_code == 200, listed.text
    live = [s["id"] for s in listed.json()["sessions"] if s["status"] in ("starting", "running")]
    for sid in live:
        assert rig.api.post(f"/api/v1/sessions/{sid}/kill").status_code == 202
    wait_sync(
        lambda: all(rig.session(sid)["status"] not in ("starting", "running") for sid in live),
        15,
        "every session ended",
    )


def link_telegram(rig: TaskRig, bot_api: BotApiStandIn) -> None:
    """The project's bot (on the stand-in Bot API) with the admin's chat linked."""
    res = rig.api.put(f"/api/v1/projects/{rig.project_id}/telegram", json={"token": bot_api.token})
    assert res.status_code == 200, res.text
    code = rig.api.post("/api/v1/telegram/link-codes", json={"project_id": rig.project_id})
    assert code.status_code == 201, code.text
    bot_api.push(bot_api.message(f"/start {code.json()['code']}", 2001, 2001))
    wait_sync(lambda: bot_api.sent("sendMessage", 2001), 15, "the admin's chat linked")


@contextmanager
def running_hub(root: Path, bot_api: BotApiStandIn) -> Iterator[HubProcess]:
    # The webhooks seeded post to a receiver on this machine; the bot talks to a stand-in.
    env = base_env(root / "hub") | {
        "ORCHESTRATIA_WEBHOOK_ALLOW_PRIVATE": "true",
        "ORCHESTRATIA_TELEGRAM_API_BASE": bot_api.url,
    }
    with hub_with_admin(root / "hub", env, root / "hub.log") as hub:
        yield hub


def photograph(hub: HubProcess, ids: dict[str, str], out: Path, size: str) -> list[Path]:
    """Every page of ``PAGES`` at one of ``SIZES``, in a browser of its own (sizes run in
    parallel threads; Playwright's sync API wants one instance per thread)."""
    width, height = SIZES[size]
    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            anonymous = open_page(browser, width, height)
            signed_in = open_page(browser, width, height)
            log_in(signed_in, hub)
            for shot in PAGES:
                page: Page = signed_in if shot.logged_in else anonymous
                page.goto(hub.url + shot.path.format(**ids), wait_until="load")
                page.wait_for_timeout(shot.settle_ms)
                target = out / f"{shot.name}-{size}.png"
                page.screenshot(path=str(target), full_page=True)
                saved.append(target)
        finally:
            browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    out: Path = parser.parse_args().out
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (scripts/test-deps.sh installs Debian's chromium)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="orc-screenshots-") as tmp:
        root = Path(tmp)
        daemons: list[DaemonProcess] = []

        def daemon(name: str) -> DaemonProcess:
            made = DaemonProcess(
                root / name / "agent.yaml", base_env(root / "hub"), root / f"{name}.log"
            )
            daemons.append(made)
            return made

        try:
            with (
                webhook_receiver() as receiver,
                bot_api_standin() as bot_api,
                running_hub(root, bot_api) as hub,
                task_rig(hub, daemon, root, "acme-web", {"build-1": False, "gpu-2": False}) as rig,
                ExitStack() as sshds,
            ):
                print(f"hub and daemons up in {time.monotonic() - began:.0f} s", file=sys.stderr)
                ids = seed(rig, root)
                ids["webhook"] = seed_webhooks(rig, receiver.url)
                seed_tunnels(rig, sshds)
                link_telegram(rig, bot_api)
                print(f"seeded after {time.monotonic() - began:.0f} s", file=sys.stderr)
                try:
                    with ThreadPoolExecutor(len(SIZES)) as pool:
                        shots = pool.map(lambda size: photograph(hub, ids, out, size), SIZES)
                        saved = [path for per_size in shots for path in per_size]
                finally:
                    stop_sessions(rig)
        finally:
            for d in daemons:
                d.kill(signal.SIGKILL)
    for path in saved:
        print(path)
    print(f"{len(saved)} screenshots in {time.monotonic() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
