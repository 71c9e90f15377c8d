"""Deliveries typed into real sessions (real tmux on a private socket, a fake hub)."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until
from tests.unit.agent_fakes import (
    PY,
    Daemon,
    FakeHub,
    frames,
    start_daemon,
    start_frame,
    typed,
)

IDLE = 0.5
# Echoes every line it reads as "got:<line>"; "busy" starts a stream of dots, "quiet" ends it.
READER = """
import sys, threading, time
busy = threading.Event()
def tick():
    while True:
        if busy.is_set():
            sys.stdout.write("."); sys.stdout.flush()
        time.sleep(0.05)
threading.Thread(target=tick, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    line = line.rstrip("\\n")
    if line == "busy":
        busy.set()
    elif line == "quiet":
        busy.clear()
    print("got:" + line, flush=True)
"""


def note(delivery_id: str, content: str, *, urgent: bool = False, sid: str = "s") -> dict[str, Any]:
    return {
        "type": "task_note",
        "session_id": sid,
        "delivery_id": delivery_id,
        "epoch": 1,
        "urgent": urgent,
        "task_id": "task1234-abcd",
        "content": content,
    }


def got(content: str, *, urgent: bool = False) -> bytes:
    kind = "URGENT note" if urgent else "Note"
    return f"got:[orchestratia] {kind} on task task1234: {content}\r\n".encode()


def acks(hub: FakeHub, sid: str = "s") -> dict[str, str]:
    return {a["delivery_id"]: a["status"] for a in frames(hub, "delivery_ack", sid)}


@asynccontextmanager
async def reader_session(hub: FakeHub, socket_name: str, tmp_path: Path) -> AsyncIterator[Daemon]:
    config = hub.config(
        tmux_socket=socket_name, state_dir=tmp_path / "state", delivery_idle_seconds=IDLE
    )
    daemon = await start_daemon(config)
    try:
        await hub.send(start_frame("s", tmp_path, shlex.join([PY, "-c", READER])))
        await wait_until(lambda: b"ready" in hub.output("s"), message="the reader")
        yield daemon
    finally:
        await daemon.stop()


async def test_a_delivery_is_typed_and_acked(socket_name: str, tmp_path: Path) -> None:
    async with FakeHub(heartbeat_interval=1.0) as hub, reader_session(hub, socket_name, tmp_path):
        await hub.send(note("d1", "hello there"))
        await wait_until(lambda: acks(hub) == {"d1": "delivered"}, message="the ack")
        await wait_until(lambda: got("hello there") in hub.output("s"), message="submitted")
        # A program, not a shell, reads the terminal: the line is typed as it is.
        assert frames(hub, "delivery_ack", "s")[0]["detail"] == ""
        await hub.send(note("d2", "nobody home", sid="ghost"))
        [failed] = await wait_until(lambda: frames(hub, "delivery_ack", "ghost"))
        assert failed["status"] == "failed" and "no session ghost" in failed["detail"]


async def test_busy_output_and_a_half_typed_line_hold_normal_deliveries(
    socket_name: str, tmp_path: Path
) -> None:
    async with (
        FakeHub(heartbeat_interval=1.0) as hub,
        reader_session(hub, socket_name, tmp_path) as daemon,
    ):
        await hub.send(typed("s", b"busy\r"))
        # Typed input crosses the tmux control client: give a loaded machine time, not a race.
        await wait_until(
            lambda: b"got:busy\r\n.." in hub.output("s"), timeout=15, message="busy output"
        )
        await hub.send(note("n1", "when you can"))
        # Output keeps coming for several idle periods: the normal delivery waits.
        start = len(hub.output("s"))
        await wait_until(lambda: hub.output("s").count(b".", start) >= 40, message="dots")
        assert acks(hub) == {}

        await hub.send(note("u1", "right now", urgent=True))  # urgent: busy does not matter
        await wait_until(lambda: got("right now", urgent=True) in hub.output("s"))
        # The ack follows the typing: wait for it rather than race it.
        await wait_until(lambda: acks(hub) == {"u1": "delivered"}, message="the urgent ack")

        # The output stops, but a human has half a line typed: still nothing.
        await hub.send(typed("s", b"quiet\rhalf"))
        await wait_until(lambda: b"got:quiet\r\n" in hub.output("s"))
        deliveries = daemon.runtime.deliveries
        await wait_until(lambda: deliveries.quiet_for("s") > 3 * IDLE, message="quiet output")
        assert acks(hub) == {"u1": "delivered"} and deliveries.queued("s") == ["n1"]

        await hub.send(typed("s", b" done\r"))  # Enter: the line is the human's, then ours
        await wait_until(lambda: acks(hub).get("n1") == "delivered", message="the normal one")
        await wait_until(lambda: got("when you can") in hub.output("s"))
        output = hub.output("s")
        assert output.index(b"got:half done\r\n") < output.index(got("when you can"))


async def test_a_resent_delivery_is_acked_not_retyped_after_a_restart(
    socket_name: str, tmp_path: Path
) -> None:
    async with FakeHub(heartbeat_interval=1.0) as hub:
        async with reader_session(hub, socket_name, tmp_path):
            await hub.send(note("d1", "only once", urgent=True))
            await wait_until(lambda: got("only once", urgent=True) in hub.output("s"))
            await wait_until(lambda: acks(hub) == {"d1": "delivered"})
        config = hub.config(
            tmux_socket=socket_name, state_dir=tmp_path / "state", delivery_idle_seconds=IDLE
        )
        second = await start_daemon(config)  # finds the session again
        try:
            await hub.send(note("d1", "only once", urgent=True))  # the hub lost our ack
            await wait_until(lambda: len(frames(hub, "delivery_ack", "s")) == 2)
            assert acks(hub) == {"d1": "delivered"}
            await hub.send(typed("s", b"marker\r"))  # anything typed again would come first
            await wait_until(lambda: b"got:marker\r\n" in hub.output("s"))
            assert hub.output("s").count(got("only once", urgent=True)) == 1
            typed_log = tmp_path / "state" / "s" / "deliveries.json"
            assert typed_log.stat().st_mode & 0o777 == 0o600
        finally:
            await second.stop()


async def shell_ready(hub: FakeHub) -> None:
    await hub.send(typed("s", b"echo ready$((1+1))\r"))  # the shell's output, not the echo
    await wait_until(lambda: b"ready2" in hub.output("s"), message="the shell")


@pytest.mark.parametrize("command", [None, "bash --norc --noprofile -i"], ids=["login", "bash"])
async def test_a_shell_at_its_prompt_gets_a_comment_it_never_runs(
    socket_name: str, tmp_path: Path, command: str | None
) -> None:
    pwned = tmp_path / "pwned"
    evil = f"look; touch {pwned} && echo $(touch {pwned}) `touch {pwned}` | tee {pwned}"
    async with FakeHub(heartbeat_interval=1.0) as hub:
        config = hub.config(
            tmux_socket=socket_name, state_dir=tmp_path / "state", delivery_idle_seconds=IDLE
        )
        daemon = await start_daemon(config)
        try:
            await hub.send(start_frame("s", tmp_path, command))  # a shell: /bin/sh or bash
            await shell_ready(hub)
            await hub.send(note("d1", evil))
            [ack] = await wait_until(lambda: frames(hub, "delivery_ack", "s"), message="the ack")
            # The shell reads lines in order: once this ran, the delivered line was read too.
            await hub.send(typed("s", b"echo done$((6*7))\r"))
            await wait_until(lambda: b"done42" in hub.output("s"), message="the next command")
            assert not pwned.exists()
            shown = f"# [orchestratia] Note on task task1234: look touch {pwned} echo touch"
            assert shown.encode() in hub.output("s")
            assert ack["status"] == "delivered"
            assert ack["detail"].startswith("typed as a comment: shell at prompt (")
        finally:
            await daemon.stop()


async def test_a_program_started_from_the_shell_gets_the_plain_line(
    socket_name: str, tmp_path: Path
) -> None:
    reader = tmp_path / "reader.py"
    reader.write_text(READER)
    async with FakeHub(heartbeat_interval=1.0) as hub:
        config = hub.config(
            tmux_socket=socket_name, state_dir=tmp_path / "state", delivery_idle_seconds=IDLE
        )
        daemon = await start_daemon(config)
        try:
            await hub.send(start_frame("s", tmp_path, None))  # the login shell at its prompt
            await shell_ready(hub)
            await hub.send(typed("s", f"{shlex.join([PY, str(reader)])}\r".encode()))
            await wait_until(lambda: b"ready" in hub.output("s"), message="the reader")
            await hub.send(note("d1", "hi; there"))
            await wait_until(lambda: got("hi; there") in hub.output("s"), message="submitted")
            await wait_until(lambda: acks(hub) == {"d1": "delivered"}, message="the ack")
            assert frames(hub, "delivery_ack", "s")[0]["detail"] == ""
        finally:
            await daemon.stop()
