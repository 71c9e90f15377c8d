"""Scenario 2 of the fault suite: a blackhole, one-way loss and half-open TCP between a real
daemon process and a real hub process (``FaultProxy`` between them) while a session prints.

For each fault: both sides must notice within the profile's bar (the hub shows the server
disconnected: it closed the socket; the daemon leaves ``connected``, as its state file says), the
session keeps running (same pane pid, program alive), and once the link heals the daemon
reconnects and what the program printed meanwhile reaches the hub. At the end the hub's recording
equals the daemon's capture log byte for byte, tiles its offsets with no overlap, and the
program's numbered lines run without a gap or a repeat.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from orchestratia.agent.daemon import state_path_for
from tests.chaos.fault_proxy import FaultProxy
from tests.chaos.profiles import Profile
from tests.e2e.processes import DaemonProcess, base_env, hub_with_admin
from tests.e2e.terminal_support import Rig, make_rig
from tests.support import free_port, wait_sync

# Numbered lines until a stop file appears, then one last line and exit 0.
TICKER = r"""
import os, sys, time
stop, period = sys.argv[1], float(sys.argv[2])
i = 0
while not os.path.exists(stop):
    sys.stdout.write("tick %07d %s\n" % (i, "0123456789abcdef" * 3))
    sys.stdout.flush()
    i += 1
    time.sleep(period)
sys.stdout.write("ticker done %d\n" % i)
"""
TICK = re.compile(rb"tick (\d{7}) ")

FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    "blackhole": FaultProxy.blackhole,
    "drop_to_daemon": lambda p: p.drop("to_daemon"),
    "drop_to_hub": lambda p: p.drop("to_hub"),
    # The hub's socket is reset; the daemon's is held open and silent, and the other way round.
    "half_open_daemon_held": lambda p: p.half_open("daemon"),
    "half_open_hub_held": lambda p: p.half_open("hub"),
}


@dataclass
class LinkRig:
    rig: Rig
    proxy: FaultProxy
    profile: Profile

    @property
    def state_file(self) -> Path:
        return state_path_for(self.rig.daemon.config)

    def daemon_state(self) -> str | None:
        try:
            return str(json.loads(self.state_file.read_text())["state"])
        except (OSError, ValueError, KeyError):
            return None

    def log_size(self, sid: str) -> int:
        return (self.rig.root / "agent-state" / sid / "output.log").stat().st_size

    def log_bytes(self, sid: str) -> bytes:
        return (self.rig.root / "agent-state" / sid / "output.log").read_bytes()


@contextmanager
def link_rig(root: Path, profile: Profile) -> Iterator[LinkRig]:
    """A hub process, and a daemon process whose hub URL is a ``FaultProxy`` in front of it."""
    # A hub long up: past its restart grace, as when a link fails in steady state.
    env = base_env(root / "hub") | profile.hub_env(grace=1.0)
    with hub_with_admin(root / "hub", env, root / "hub.log") as hub:
        daemon_env = base_env(root / "hub") | profile.hub_env(grace=1.0)
        daemon = DaemonProcess(root / "daemon" / "agent.yaml", daemon_env, root / "daemon.log")
        with FaultProxy(hub.port, free_port()) as proxy:

            def launch() -> None:
                # The session's CLI gets the same URL: it is cut off with its daemon.
                config = yaml.safe_load(daemon.config.read_text())
                config["hub_url"] = proxy.url
                daemon.config.write_text(yaml.safe_dump(config))
                daemon.start()

            rig = make_rig(hub, daemon, root / "rig", launch)
            try:
                yield LinkRig(rig, proxy, profile)
            finally:
                daemon.kill(signal.SIGKILL)
                rig.api.close()


def fault_once(lr: LinkRig, name: str, sid: str, pid: int) -> dict[str, Any]:
    """One fault: detect on both sides, heal, reconnect, catch up. Its figures."""
    rig, bar = lr.rig, lr.profile.detect_bar
    assert rig.server_status() == "online" and lr.daemon_state() == "connected"
    pane = psutil.Process(pid)
    printed_before = lr.log_size(sid)
    started = time.monotonic()
    FAULTS[name](lr.proxy)
    seen: dict[str, float] = {}

    def both_noticed() -> bool:
        now = time.monotonic() - started
        if "hub" not in seen and rig.server_status() == "disconnected":
            seen["hub"] = now
        if "daemon" not in seen and lr.daemon_state() != "connected":
            seen["daemon"] = now
        return len(seen) == 2

    wait_sync(both_noticed, bar + 5, f"both sides to notice {name} (seen: {seen})", 0.02)
    # The outage goes on a little: the program must print while nothing can reach the hub.
    wait_sync(lambda: lr.log_size(sid) > printed_before + 2048, 10, "output during the outage")
    assert pane.is_running() and rig.session(sid)["pid"] == pid
    healed = time.monotonic()
    printed_at_heal = lr.log_size(sid)
    lr.proxy.heal()
    rig.wait_online(lr.profile.reconnect_bar)
    reconnected = time.monotonic()
    wait_sync(lambda: rig.offset(sid) >= printed_at_heal, 30, "the outage's output to arrive", 0.02)
    arrived = time.monotonic()
    figures = {
        "hub_detect_s": round(seen["hub"], 3),
        "daemon_detect_s": round(seen["daemon"], 3),
        "reconnect_after_heal_s": round(reconnected - healed, 3),
        "outage_output_after_heal_s": round(arrived - healed, 3),
        "printed_during_outage_bytes": printed_at_heal - printed_before,
        "proxy_dropped_bytes": lr.proxy.dropped_total,
    }
    assert seen["hub"] <= bar and seen["daemon"] <= bar, (name, figures)
    assert pane.is_running() and rig.session(sid)["pid"] == pid, "the session was restarted"
    return figures


def run_link_faults(
    root: Path, profile: Profile, faults: list[str] | None = None
) -> dict[str, Any]:
    """Every fault of ``FAULTS`` (or ``faults``) in turn on one stream; the figures per fault and
    for the stream."""
    with link_rig(root, profile) as lr:
        rig = lr.rig
        script = rig.script("ticker.py", TICKER)
        stop = rig.root / "ticker.stop"
        started = rig.start("ticker", rig.python(script, stop, 0.02))
        sid, pid = started["id"], started["pid"]
        wait_sync(lambda: rig.offset(sid) > 0, 15, "the ticker's first output")
        results: dict[str, Any] = {}
        for i, name in enumerate(faults or list(FAULTS)):
            if i and profile.settle:
                time.sleep(profile.settle)  # the link's uptime is the point, not a wait for it
            results[name] = fault_once(lr, name, sid, pid)
            lr.proxy.dropped_total = 0
        stop.touch()
        wait_sync(lambda: rig.session(sid)["status"] == "exited", 30, "the ticker to end", 0.05)
        log = lr.log_bytes(sid)
        recording = rig.recording(sid)
        overlap, holes = tiling(rig.stored_chunks(sid), len(recording))
        numbers = [int(m.group(1)) for m in TICK.finditer(recording)]
        stream = {
            "bytes": len(recording),
            "bytes_lost": len(log) - len(recording),
            "bytes_duplicated": overlap,
            "holes": holes,
            "ticks": len(numbers),
            "ticks_in_order": numbers == list(range(len(numbers))),
        }
        assert recording == log, stream
        assert (overlap, holes) == (0, 0), stream
        assert stream["ticks_in_order"], stream
        assert rig.session(sid)["exit_code"] == 0
        return {"faults": results, "stream": stream}


def tiling(chunks: list[tuple[int, int]], total: int) -> tuple[int, int]:
    """Bytes stored twice and holes among stored (offset, length) chunks covering [0, total)."""
    overlap = holes = position = 0
    for offset, length in sorted(chunks):
        if offset < position:
            overlap += min(position, offset + length) - offset
        elif offset > position:
            holes += 1
        position = max(position, offset + length)
    return overlap, holes + (position != total)
