"""Scenario 3 of the fault suite: a partition during a task.

Two real daemons; alpha's link to the hub (its daemon and the CLI in its sessions) runs through a
``FaultProxy``. Alpha's stand-in agent starts the task, then works on it (waits for a gate file)
while the proxy blackholes alpha. The hub shows alpha disconnected, then, after
``session_lost_timeout``, its session lost: the task's epoch is bumped and it goes back to pending,
and auto-assignment hands it to beta's agent, which completes it. Then the link heals: alpha's
daemon reconnects with the session alive (the hub revives it), and alpha's agent, its work done,
reports completion for the epoch it was given. The report is stale and refused; the task keeps
beta's result; nothing is delivered to alpha again; it was completed once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from tests.chaos.fault_proxy import FaultProxy
from tests.chaos.profiles import Profile
from tests.e2e.processes import DaemonProcess, base_env, hub_with_admin
from tests.e2e.task_support import StandIn, TaskRig, task_rig
from tests.support import free_port, wait_sync

TITLE = "Partitioned work"


@contextmanager
def partition_rig(root: Path, profile: Profile) -> Iterator[tuple[TaskRig, FaultProxy]]:
    # A hub long up: past its restart grace (sessions are never lost during it).
    env = base_env(root / "hub") | profile.hub_env(grace=1.0)
    with hub_with_admin(root / "hub", env, root / "hub.log") as hub:

        def daemon(name: str) -> DaemonProcess:
            config = root / name / "agent.yaml"
            return DaemonProcess(config, base_env(root / "hub"), root / f"{name}.log")

        servers = {"alpha": False, "beta": False}
        with (
            FaultProxy(hub.port, free_port()) as proxy,
            task_rig(hub, daemon, root / "rig", "partition", servers) as rig,
        ):
            alpha = rig.servers["alpha"]
            # Alpha's daemon, and through it the CLI in its sessions, reach the hub via the proxy.
            alpha.daemon.kill(signal.SIGTERM)
            config = yaml.safe_load(alpha.daemon.config.read_text())
            config["hub_url"] = proxy.url
            alpha.daemon.config.write_text(yaml.safe_dump(config))
            alpha.daemon.start()
            rig.wait_online()
            yield rig, proxy


def completes(agent: StandIn, task_id: str) -> list[dict[str, Any]]:
    return [e for e in agent.commands("complete") if task_id in e["argv"]]


def starts(agent: StandIn, task_id: str) -> list[dict[str, Any]]:
    return [e for e in agent.commands("start") if task_id in e["argv"] and e["rc"] == 0]


def run_task_partition(root: Path, profile: Profile) -> dict[str, Any]:
    with partition_rig(root, profile) as (rig, proxy):
        alpha, beta = rig.servers["alpha"], rig.servers["beta"]
        gate = root / "alpha-gate"
        a1 = rig.start_agent(
            "a1",
            alpha,
            {
                "tasks": {
                    TITLE: {
                        "wait_for": str(gate),
                        "wait_max": 3600,
                        "result": {"summary": "by alpha"},
                    }
                }
            },
        )
        b1 = rig.start_agent("b1", beta, {"tasks": {TITLE: {"result": {"summary": "by beta"}}}})
        made = rig.api.patch(
            f"/api/v1/projects/{rig.project_id}/task-settings",
            json={"auto_assign": True, "lost_session_policy": "requeue"},
        )
        assert made.status_code == 200, made.text
        res = rig.api.post(
            "/api/v1/tasks",
            json={
                "project_id": rig.project_id,
                "title": TITLE,
                "spec": "work that outlives a partition",
                "assign_session_name": "a1",
            },
        )
        assert res.status_code == 201, res.text
        task_id = str(res.json()["id"])
        held = rig.wait_status(task_id, "running", 30)
        assert held["assigned_session_id"] == a1.id
        wait_sync(lambda: a1.screen().count("waiting for") > 0, 15, "a1 at work")

        cut = time.monotonic()
        proxy.blackhole()
        wait_sync(
            lambda: rig.server_status(alpha.id) == "disconnected",
            profile.detect_bar + 5,
            "alpha shown disconnected",
            0.05,
        )
        disconnected = time.monotonic() - cut
        lost_after = profile.heartbeat_timeout + profile.session_lost_timeout
        wait_sync(
            lambda: rig.session(a1.id)["status"] == "lost",
            lost_after + 30,
            "a1 lost",
            0.1,
        )
        lost = time.monotonic() - cut
        done = rig.wait_status(task_id, "done", 60)
        reassigned = time.monotonic() - cut
        assert done["assigned_session_id"] == b1.id, done

        proxy.heal()
        healed = time.monotonic()
        wait_sync(partial(rig.server_online, alpha.id), profile.reconnect_bar, "alpha back")
        # The daemon reported the session alive: the hub revived it, but its task stays fenced.
        wait_sync(lambda: rig.session(a1.id)["status"] == "running", 15, "a1 revived", 0.1)
        reconnected = time.monotonic() - healed
        gate.touch()  # alpha's agent finishes its (stale) run and reports it
        stale = wait_sync(lambda: completes(a1, task_id), 60, "alpha's stale report")

        final = rig.task(task_id)
        events = rig.events(task_id)
        completions = [
            e for e in events if e["kind"] == "status" and e["summary"].endswith("→ done")
        ]
        deliveries = rig.deliveries(task_id)
        to_alpha = [d for d in deliveries if d["session_id"] == a1.id]
        figures = {
            "hub_detect_s": round(disconnected, 3),
            "session_lost_after_cut_s": round(lost, 3),
            "done_by_beta_after_cut_s": round(reassigned, 3),
            "alpha_back_after_heal_s": round(reconnected, 3),
            "epoch": final["epoch"],
            "stale_report": stale[0]["reply"],
            "stale_reports_refused": sum(1 for e in stale if e["rc"] != 0),
            "completions_accepted": len(completions),
            "tasks_run_twice": len(completions) - 1,
            "starts": {"a1": len(starts(a1, task_id)), "b1": len(starts(b1, task_id))},
            "deliveries": [(d["kind"], d["session_id"] == a1.id, d["status"]) for d in deliveries],
        }
        assert len(stale) == 1 and stale[0]["rc"] != 0, figures
        assert "stale" in str(stale[0]["reply"]), figures
        assert final["status"] == "done" and final["result"]["summary"] == "by beta", figures
        assert final["assigned_session_id"] == b1.id, figures
        assert len(completions) == 1, figures
        assert completes(b1, task_id)[0]["rc"] == 0, figures
        # Each agent started it once; alpha was handed nothing after the partition.
        assert figures["starts"] == {"a1": 1, "b1": 1}, figures
        assert len(to_alpha) == 1, figures
        assert any(e["kind"] == "session_lost" for e in events), figures
        return figures
