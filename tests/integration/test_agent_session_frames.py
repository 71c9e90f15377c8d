"""Session frames at the edges: bad input, snapshots, scrollback, capture gaps, daemon wiring."""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pyte
import pytest

from orchestratia.agent.daemon import run
from orchestratia.agent.terminal.tmux import TmuxServer
from orchestratia.agent.terminal.tmux_control import ANCHOR, ControlClient
from tests.support import wait_until
from tests.unit.agent_fakes import (
    PY,
    FakeHub,
    assert_contiguous,
    closed,
    daemon_and_hub,
    frames,
    printed,
    printer,
    start_daemon,
    start_frame,
    typed,
)

# Prints a screen, then waits for a line before printing a secret, then sleeps.
SCREEN = (
    "import sys, time\n"
    "sys.stdout.write('\\x1b[1;32mgreen\\x1b[0m ready\\n'); sys.stdout.flush()\n"
    "sys.stdin.readline()\n"
    "sys.stdout.write('key=ghp_' + 'Zz9' * 12 + '\\n'); sys.stdout.flush()\n"
    "time.sleep(1000)\n"
)


async def test_bad_frames_never_stop_the_runtime(socket_name: str, tmp_path: Path) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, daemon, _config):
        await hub.send(typed("ghost", b"ls\r"))
        await hub.send({"type": "snapshot_request", "session_id": "ghost", "request_id": "r"})
        errors = await wait_until(lambda: at_least(2, frames(hub, "session_error", "ghost")))
        assert errors[0]["error"] == "no session ghost on this server"
        await hub.send({"type": "session_input", "session_id": "x", "data": "not base64!"})
        await hub.send({"type": "session_start", "session_id": "x"})  # fields missing
        await hub.send({"type": "session_output_ack", "session_id": "ghost", "offset": 5})
        await hub.send(start_frame("bad id!", tmp_path, "true"))
        await hub.send(start_frame("nodir", tmp_path / "missing", "true"))
        [nodir] = await wait_until(lambda: frames(hub, "session_error", "nodir"))
        assert "does not exist" in nodir["error"] and "missing" in nodir["error"]
        assert frames(hub, "session_error", "bad id!")
        assert "x" not in daemon.runtime.sessions and not frames(hub, "session_error", "x")

        await hub.send(start_frame("ok", tmp_path, printer(10)))
        await closed(hub, "ok")
        assert hub.output("ok") == printed(10)


async def test_a_repeated_start_reports_the_running_session(
    socket_name: str, tmp_path: Path
) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        await hub.send(start_frame("s1", tmp_path, "cat"))
        await hub.send(start_frame("s1", tmp_path, "cat"))
        first, again = await wait_until(lambda: at_least(2, frames(hub, "session_started", "s1")))
        assert first == again
        names = [s.name for s in await TmuxServer(socket_name).list_sessions()]
        assert set(names) == {ANCHOR, "orc-s1"}


async def test_snapshot_and_scrollback_are_redacted(socket_name: str, tmp_path: Path) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        command = shlex.join([PY, "-c", SCREEN])
        await hub.send(start_frame("v", tmp_path, command, cols=50, rows=10))
        await wait_until(lambda: b"ready" in hub.output("v"))
        await hub.send(typed("v", b"\r"))
        await wait_until(lambda: b"REDACTED" in hub.output("v"))
        await hub.send({"type": "snapshot_request", "session_id": "v", "request_id": "q1"})
        [snap] = await wait_until(lambda: frames(hub, "session_snapshot", "v"))
        assert (snap["request_id"], snap["cols"], snap["rows"]) == ("q1", 50, 10)
        assert snap["offset"] == len(hub.output("v"))  # the screen is all the output so far
        screen = base64.b64decode(snap["screen"])
        assert b"green" in screen and b"[REDACTED:github_token]" in screen
        assert b"Zz9" not in screen
        assert (snap["cursor_x"], snap["cursor_y"]) == (0, 3)  # after "\r\n", "key=…\r\n"

        await hub.send({"type": "capture_scrollback", "session_id": "v", "request_id": "q2"})
        [text] = await wait_until(lambda: frames(hub, "scrollback_captured", "v"))
        assert text["request_id"] == "q2"
        assert "green ready" in text["text"] and "key=ghp_[REDACTED:github_token]" in text["text"]


WRAPPED_BODY = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
# At 16 columns "key=ghp_<36>" takes three rows; a coloured head, so escapes cut it too.
WRAPPED = (
    "import sys, time\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "sys.stdin.readline()\n"
    f"sys.stdout.write('key=\\x1b[31mghp_\\x1b[0m{WRAPPED_BODY}\\nafter\\n'); sys.stdout.flush()\n"
    "time.sleep(1000)\n"
)


async def test_a_secret_the_terminal_wrapped_is_masked_in_the_snapshot(
    socket_name: str, tmp_path: Path
) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        command = shlex.join([PY, "-c", WRAPPED])
        await hub.send(start_frame("w", tmp_path, command, cols=16, rows=8))
        await wait_until(lambda: b"ready" in hub.output("w"))
        await hub.send(typed("w", b"\r"))
        await wait_until(lambda: b"after" in hub.output("w"))
        await hub.send({"type": "snapshot_request", "session_id": "w", "request_id": "q"})
        [snap] = await wait_until(lambda: frames(hub, "session_snapshot", "w"))
        screen = base64.b64decode(snap["screen"])
        pieces = {WRAPPED_BODY[i : i + 4].encode() for i in range(len(WRAPPED_BODY) - 3)}
        assert [p for p in pieces if p in screen] == []
        # Masked cell for cell: the rows keep their layout, so the cursor still fits the screen.
        term = pyte.Screen(16, 8)
        pyte.ByteStream(term).feed(screen)
        rows = [line.rstrip() for line in term.display]
        assert rows[:7] == [
            "ready",
            "",
            "key=ghp_[REDACTE",
            "D:github_token]*",
            "*" * 12,
            "after",
            "",
        ]
        assert (term.cursor.x, term.cursor.y) == (snap["cursor_x"], snap["cursor_y"]) == (0, 6)


async def test_a_broken_capture_is_repaired_and_reported(socket_name: str, tmp_path: Path) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, daemon, _config):
        await hub.send(start_frame("g", tmp_path, "cat"))
        await hub.send(typed("g", b"one\r"))
        await wait_until(lambda: b"one\r\none\r\n" in hub.output("g"))
        tmux = TmuxServer(socket_name)
        server_pid = int(await tmux.run("display", "-p", "-t", "=orc-g:", "#{pid}"))
        log_path = str(daemon.runtime.sessions["g"].paths.log)
        children = psutil.Process(server_pid).children()
        [pipe] = [c for c in children if any(f.path == log_path for f in c.open_files())]
        pipe.kill()  # the capture's `cat` dies
        pipe.wait(5)
        await hub.send(typed("g", b"lost\r"))  # tmux notices on its next write
        [gap] = await wait_until(lambda: frames(hub, "session_gap", "g"), timeout=10)
        assert gap["offset"] == len(b"one\r\none\r\n")
        assert gap["reason"] == "capture stopped; restarted"
        await hub.send(typed("g", b"after\r"))
        await wait_until(lambda: hub.output("g").endswith(b"after\r\nafter\r\n"))
        assert_contiguous(hub, "g")


async def test_session_that_ended_while_the_daemon_was_down(
    socket_name: str, tmp_path: Path
) -> None:
    async with FakeHub() as hub:
        config = hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state")
        first = await start_daemon(config)
        await hub.send(start_frame("d", tmp_path, "cat"))
        await hub.send(typed("d", b"before\r"))
        await wait_until(lambda: b"before\r\nbefore\r\n" in hub.output("d"))
        await first.stop()
        # While no daemon runs: more output, then the program exits and the session goes.
        tmux = TmuxServer(socket_name)
        await tmux.send_bytes("orc-d", b"while down\r\x04")

        async def dead() -> bool:
            return (await tmux.pane_dead_status("orc-d")).dead

        await wait_until(dead)
        second = await start_daemon(config)
        try:
            # "connected" comes before the hello is sent: wait for the second daemon's own one.
            [live] = (await hub.nth("hello", 2))["sessions"]
            assert (live["session_id"], live["alive"], live["exit_code"]) == ("d", False, 0)
            final = await closed(hub, "d")
            assert hub.output("d").endswith(b"while down\r\nwhile down\r\n")
            assert final == {
                "type": "session_closed",
                "session_id": "d",
                "exit_code": 0,
                "final_offset": len(hub.output("d")),
            }
            await wait_until(lambda: not (tmp_path / "state" / "d").exists(), message="removed")
            assert not await tmux.exists("orc-d")
        finally:
            await second.stop()


async def test_session_killed_behind_the_daemons_back(socket_name: str, tmp_path: Path) -> None:
    async with FakeHub() as hub:
        config = hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state")
        first = await start_daemon(config)
        await hub.send(start_frame("v", tmp_path, "cat"))
        await hub.send(typed("v", b"hi\r"))
        await wait_until(lambda: b"hi\r\nhi\r\n" in hub.output("v"))
        await first.stop()
        await TmuxServer(socket_name).kill_session("orc-v")  # by someone else, while down
        second = await start_daemon(config)
        try:
            # "connected" comes before the hello is sent: wait for the second daemon's own one.
            [live] = (await hub.nth("hello", 2))["sessions"]
            assert (live["session_id"], live["alive"], live["exit_code"]) == ("v", False, None)
            final = await closed(hub, "v")
            assert final["exit_code"] is None and final["final_offset"] == len(hub.output("v"))
            assert hub.output("v").endswith(b"hi\r\nhi\r\n")
        finally:
            await second.stop()


async def test_input_survives_a_dead_control_client(socket_name: str, tmp_path: Path) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, daemon, _config):
        await hub.send(start_frame("i", tmp_path, "cat"))
        control = await wait_until(lambda: daemon.runtime.control.ready)
        assert control is not None and control._proc is not None
        control._proc.kill()
        await wait_until(lambda: not control.alive)
        await hub.send(typed("i", b"still\r"))  # typed by a tmux process meanwhile
        await wait_until(lambda: b"still\r\nstill\r\n" in hub.output("i"))

        def replaced() -> ControlClient | None:
            new = daemon.runtime.control.ready
            return new if new is not control and new is not None and new.alive else None

        await wait_until(replaced, message="a new control client")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_daemon_run_wires_sessions_and_leaves_them_running(
    socket_name: str, tmp_path: Path
) -> None:
    async with FakeHub() as hub:
        config = hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state")
        daemon = asyncio.create_task(run(config, tmp_path / "agent.state.json"))
        await wait_until(lambda: hub.of_type("hello"), message="hello")
        await hub.send(start_frame("w", tmp_path, "cat"))
        await hub.send(typed("w", b"wired\r"))
        await wait_until(lambda: b"wired\r\nwired\r\n" in hub.output("w"))
        [started] = frames(hub, "session_started", "w")
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(daemon, 10)
        assert await TmuxServer(socket_name).exists("orc-w")  # sessions outlive the daemon
        assert psutil.Process(started["pid"]).is_running()
        assert (tmp_path / "state" / "w" / "ack.json").exists()


def at_least(count: int, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return found if len(found) >= count else []


WAIT_THEN_PRINT = (
    "import sys\n"
    "sys.stdin.readline()\n"
    "out = sys.stdout.buffer\n"
    "for i in range(int(sys.argv[1])):\n"
    "    out.write(b'%07d abcdefghijklmnopqrstuvwxyz0123456789\\n' % i)\n"
    "out.flush()\n"
)


async def test_output_held_up_in_a_stalled_capture_is_not_lost(
    socket_name: str, tmp_path: Path
) -> None:
    lines = 100  # few enough that tmux sees the program exit while the capture is stalled
    async with daemon_and_hub(socket_name, tmp_path) as (hub, daemon, _config):
        await hub.send(
            start_frame("slow", tmp_path, shlex.join([PY, "-c", WAIT_THEN_PRINT, str(lines)]))
        )
        await wait_until(lambda: "slow" in daemon.runtime.sessions)
        tmux = TmuxServer(socket_name)
        server = psutil.Process(int(await tmux.run("display", "-p", "#{pid}")))
        log_path = daemon.runtime.sessions["slow"].paths.log
        [capture] = [
            c for c in server.children() if any(f.path == str(log_path) for f in c.open_files())
        ]
        capture.suspend()  # the capture's `cat` stalls, as on a loaded machine
        try:
            await hub.send(typed("slow", b"go\r"))

            async def exited() -> bool:
                return (await tmux.pane_dead_status("orc-slow")).dead

            await wait_until(exited, timeout=10, message="program exited")
            await asyncio.sleep(0.5)  # the runtime sees the dead pane and must not kill it yet
            assert await tmux.exists("orc-slow")
        finally:
            capture.resume()
        final = await closed(hub, "slow")
        expected = b"go\r\n" + printed(lines)
        assert hub.output("slow") == expected
        assert final["final_offset"] == len(expected)
