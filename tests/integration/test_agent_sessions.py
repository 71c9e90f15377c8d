"""The daemon's session runtime against real tmux (a private server per test) and a fake hub."""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from orchestratia.agent.approvals.rule_cache import policy_dir
from orchestratia.agent.terminal.tmux import TmuxServer
from tests.support import wait_until
from tests.unit.agent_fakes import (
    LINE_SIZE,
    PY,
    FakeHub,
    assert_contiguous,
    closed,
    daemon_and_hub,
    endless_printer,
    frames,
    printed,
    printer,
    start_daemon,
    start_frame,
    typed,
)


async def test_program_output_is_streamed_exactly(socket_name: str, tmp_path: Path) -> None:
    lines = 23_302  # just over 1 MB
    async with daemon_and_hub(socket_name, tmp_path) as (hub, daemon, _config):
        await hub.send(start_frame("s1", tmp_path, printer(lines)))
        final = await closed(hub, "s1")
        expected = printed(lines)
        assert hub.output("s1") == expected
        assert final["exit_code"] == 0 and final["final_offset"] == len(expected)
        assert_contiguous(hub, "s1")
        [started] = frames(hub, "session_started", "s1")
        assert started["tmux_name"] == "orc-s1" and started["recovered"] is False
        assert started["working_dir"] == str(tmp_path) and started["pid"] > 0
        # Fully acked: the tmux session and the session's files are gone.
        await wait_until(lambda: "s1" not in daemon.runtime.sessions, message="forgotten")
        assert not (tmp_path / "state" / "s1").exists()
        assert not await TmuxServer(socket_name).exists("orc-s1")
        assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


async def test_reconnects_resend_exactly_what_the_hub_lacks(
    socket_name: str, tmp_path: Path
) -> None:
    lines = 40_000
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        await hub.send(start_frame("s1", tmp_path, printer(lines, pause=0.005)))
        for drop in range(1, 6):
            await wait_until(received_more_than(hub, "s1", drop * 200_000), timeout=30)
            await hub.drop_all()
            await wait_until(connections_reach(hub, drop + 1), message="reconnected")
        await closed(hub, "s1")
        assert hub.output("s1") == printed(lines)
        assert_contiguous(hub, "s1")
        hellos = hub.of_type("hello")
        assert len(hellos) == 6
        assert [s["session_id"] for s in hellos[-1]["sessions"]] == ["s1"]


async def test_window_bounds_unacked_output(socket_name: str, tmp_path: Path) -> None:
    window = 128 * 1024
    async with FakeHub(ack_output=False) as hub:
        config = hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state")
        daemon = await start_daemon(config, window=window)
        try:
            await hub.send(start_frame("s1", tmp_path, printer(20_000)))
            await wait_until(lambda: len(hub.output("s1")) >= window, timeout=10)
            # A second, short session streams in full meanwhile: the daemon kept sending, only
            # not the unacked session's bytes past the window.
            await hub.send(start_frame("s2", tmp_path, printer(10)))
            await wait_until(lambda: hub.output("s2") == printed(10), message="s2 streamed")
            assert len(hub.output("s1")) < window + 64 * 1024  # one chunk may straddle it
            hub.ack_output = True
            await hub.send({"type": "session_output_ack", "session_id": "s1", "offset": window})
            await closed(hub, "s1")
            assert hub.output("s1") == printed(20_000)
        finally:
            await daemon.stop()


async def test_restarted_daemon_resumes_the_same_program(socket_name: str, tmp_path: Path) -> None:
    lines = 30_000
    async with FakeHub(heartbeat_interval=1.0) as hub:
        config = hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state")
        first = await start_daemon(config)
        await hub.send(start_frame("s1", tmp_path, printer(lines, pause=0.01)))
        await wait_until(lambda: len(hub.output("s1")) > 300_000, timeout=30)
        pid = frames(hub, "session_started", "s1")[0]["pid"]
        await first.stop()
        held = len(hub.output("s1"))
        # The program keeps writing while no daemon runs.
        log = tmp_path / "state" / "s1" / "output.log"
        logged = log.stat().st_size
        await wait_until(lambda: log.stat().st_size > logged + 100_000, message="writing on")

        second = await start_daemon(config)
        try:
            # "connected" comes before the hello is sent: wait for the second daemon's own one.
            [live] = (await hub.nth("hello", 2))["sessions"]
            assert (live["session_id"], live["pid"], live["alive"]) == ("s1", pid, True)
            assert live["tmux_name"] == "orc-s1" and live["offset"] <= held
            assert psutil.Process(pid).is_running()
            final = await closed(hub, "s1")
            assert hub.output("s1") == printed(lines)
            assert final["exit_code"] == 0
            assert_contiguous(hub, "s1")
        finally:
            await second.stop()


async def test_typing_reaches_the_shell(socket_name: str, tmp_path: Path) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, daemon, _config):
        await hub.send(start_frame("sh", tmp_path, None))  # the login shell
        await wait_until(lambda: frames(hub, "session_started", "sh"))
        await hub.send(typed("sh", b"echo hel''lo; tput cols\r"))
        await wait_until(lambda: b"\r\nhello\r\n120\r\n" in hub.output("sh"), message="echo")
        await hub.send({"type": "session_resize", "session_id": "sh", "cols": 99, "rows": 30})
        await wait_until(lambda: daemon.runtime.control.ready is not None)
        tmux = TmuxServer(socket_name)

        async def resized() -> bool:
            width = await tmux.run("display-message", "-p", "-t", "=orc-sh:", "#{pane_width}")
            return width.strip() == "99"

        await wait_until(resized, message="the pane resized")
        await hub.send(typed("sh", b"tput cols\r"))
        await wait_until(lambda: b"\r\n99\r\n" in hub.output("sh"), message="resized")


async def test_environment_and_session_token(
    socket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATIA_API_KEY", "orc_server_key_must_not_leak")
    dump = (
        "import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
        "if k.startswith('ORCHESTRATIA_') or k == 'TERM'}))"
    )
    command = shlex.join([PY, "-c", dump])
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, config):
        await hub.send(
            start_frame("e1", tmp_path, command, session_token="orcs_tok", role="orchestrator")
        )
        await hub.send(start_frame("e2", tmp_path, command))
        await closed(hub, "e1")
        await closed(hub, "e2")
        with_token = json.loads(hub.output("e1"))
        assert with_token == {
            "ORCHESTRATIA_HUB_URL": config.hub_url,
            "ORCHESTRATIA_API_KEY": "orcs_tok",
            "ORCHESTRATIA_SESSION_ID": "e1",
            "ORCHESTRATIA_PROJECT_ID": "proj1",
            "ORCHESTRATIA_ROLE": "orchestrator",
            "ORCHESTRATIA_POLICY_DIR": str(policy_dir(config)),  # the pre-tool-use hook's rules
            "TERM": "xterm-256color",
        }
        assert "ORCHESTRATIA_API_KEY" not in json.loads(hub.output("e2"))


async def test_kill_leaves_no_process(socket_name: str, tmp_path: Path) -> None:
    script = (
        "sleep 1000 & echo $! >> pids; setsid sleep 1000 & echo $! >> pids; "
        "(trap '' HUP; exec sleep 1000) & echo $! >> pids; echo ready > ready; wait"
    )
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        await hub.send(start_frame("k1", tmp_path, shlex.join(["sh", "-c", script])))
        [started] = await wait_until(lambda: frames(hub, "session_started", "k1"))
        await wait_until(lambda: (tmp_path / "ready").exists(), message="children started")
        pane_pid = started["pid"]
        pids = [pane_pid, *map(int, (tmp_path / "pids").read_text().split())]
        await hub.send({"type": "session_kill", "session_id": "k1"})
        final = await closed(hub, "k1")
        assert final["exit_code"] == 137
        await wait_until(lambda: not any(_running(pid) for pid in pids), message="all gone")
        assert not await TmuxServer(socket_name).exists("orc-k1")


async def test_close_leaves_no_tmux_session(socket_name: str, tmp_path: Path) -> None:
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        await hub.send(start_frame("c1", tmp_path, None))
        await wait_until(lambda: frames(hub, "session_started", "c1"))
        await hub.send({"type": "session_close", "session_id": "c1"})
        final = await closed(hub, "c1")
        assert final["exit_code"] == 129  # SIGHUP, as when a terminal is closed
        assert final["final_offset"] == len(hub.output("c1"))
        assert "orc-c1" not in {s.name for s in await TmuxServer(socket_name).list_sessions()}
        await wait_until(lambda: not (tmp_path / "state" / "c1").exists(), message="cleaned up")

        async def no_tmux_session() -> bool:  # the control client's anchor went with the last
            return await TmuxServer(socket_name).list_sessions() == []

        await wait_until(no_tmux_session, message="no tmux session left")


async def test_secrets_are_masked_before_leaving(socket_name: str, tmp_path: Path) -> None:
    token = "ghp_" + "Ab1" * 12
    program = f"import sys; sys.stdout.write('key={token[:6]}'); sys.stdout.flush(); sys.stdout.write('{token[6:]} and hunter2-secret!')"  # noqa: E501
    async with FakeHub() as hub:
        config = hub.config(
            tmux_socket=socket_name,
            state_dir=tmp_path / "state",
            redact_patterns=[r"hunter2-[a-z]+"],
        )
        daemon = await start_daemon(config)
        try:
            await hub.send(start_frame("r1", tmp_path, shlex.join([PY, "-c", program])))
            await closed(hub, "r1")
            out = hub.output("r1")
            assert out == b"key=ghp_[REDACTED:github_token] and [REDACTED:custom]!"
            counts: dict[str, int] = {}
            for frame in frames(hub, "session_output", "r1"):
                for kind, n in (frame.get("redactions") or {}).items():
                    counts[kind] = counts.get(kind, 0) + n
            assert counts == {"github_token": 1, "custom": 1}
            raw_log_gone = not (tmp_path / "state" / "r1").exists()
            await wait_until(lambda: raw_log_gone or not (tmp_path / "state" / "r1").exists())
        finally:
            await daemon.stop()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def received_more_than(hub: FakeHub, session_id: str, size: int) -> Callable[[], bool]:
    return lambda: len(hub.output(session_id)) > size


def connections_reach(hub: FakeHub, count: int) -> Callable[[], bool]:
    return lambda: hub.connections >= count


DAEMON = (
    "import asyncio, sys\n"
    "from pathlib import Path\n"
    "from orchestratia.agent.config import AgentConfig\n"
    "from orchestratia.agent.daemon import run\n"
    "asyncio.run(run(AgentConfig.load(Path(sys.argv[1])), Path(sys.argv[2])))\n"
)


async def test_sigkilled_daemon_loses_and_repeats_nothing(socket_name: str, tmp_path: Path) -> None:
    stop = tmp_path / "stop-printing"
    async with FakeHub(heartbeat_interval=1.0) as hub:
        config_path = tmp_path / "agent.yaml"
        hub.config(tmux_socket=socket_name, state_dir=tmp_path / "state").save(config_path)
        argv = [PY, "-c", DAEMON, str(config_path), str(tmp_path / "agent.state.json")]
        daemon = await asyncio.create_subprocess_exec(*argv)
        try:
            await wait_until(lambda: hub.of_type("hello"), timeout=10, message="hello")
            await hub.send(start_frame("s1", tmp_path, endless_printer(stop)))
            for kill in range(1, 4):
                await wait_until(received_more_than(hub, "s1", kill * 600_000), timeout=30)
                daemon.kill()  # SIGKILL: no chance to save anything
                await daemon.wait()
                killed_at = len(hub.output("s1"))
                daemon = await asyncio.create_subprocess_exec(*argv)
                await wait_until(received_more_than(hub, "s1", killed_at), timeout=5)
            stop.touch()
            await closed(hub, "s1", timeout=60)
        finally:
            daemon.kill()
            await daemon.wait()
        lines = len(hub.output("s1")) // LINE_SIZE
        assert lines > 3 * 600_000 // LINE_SIZE and hub.output("s1") == printed(lines)
        assert_contiguous(hub, "s1")
        pids = {s["pid"] for hello in hub.of_type("hello") for s in hello["sessions"]}
        assert pids == {frames(hub, "session_started", "s1")[0]["pid"]}  # the same program


async def test_last_output_before_exit_is_never_lost(socket_name: str, tmp_path: Path) -> None:
    # tmux 3.3 drops what a pane's process wrote just before exiting if it reaps the process
    # first (a few percent of runs under load); many sessions ending at once provoke it.
    count, lines = 20, 2_000
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        for i in range(count):
            await hub.send(start_frame(f"e{i}", tmp_path, printer(lines)))
        for i in range(count):
            final = await closed(hub, f"e{i}")
            assert final["exit_code"] == 0
            assert hub.output(f"e{i}") == printed(lines), f"session e{i}"


async def test_ctrl_c_reaches_the_program_and_exit_codes_pass_through(
    socket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bash, the usual login shell: dash reports 130 for a command that survived a Ctrl-C.
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    monkeypatch.setenv("SHELL", bash)
    handles_int = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: print('caught', flush=True))\n"
        "print('ready', flush=True)\n"
        "while sys.stdin.readline().strip() != 'quit': pass\n"
        "sys.exit(3)\n"
    )
    async with daemon_and_hub(socket_name, tmp_path) as (hub, _daemon, _config):
        await hub.send(start_frame("c", tmp_path, shlex.join([PY, "-c", handles_int])))
        await hub.send(start_frame("t", tmp_path, "kill -TERM $$"))
        await wait_until(lambda: b"ready" in hub.output("c"))
        await hub.send(typed("c", b"\x03"))
        await wait_until(lambda: b"caught" in hub.output("c"), message="SIGINT handled")
        await hub.send(typed("c", b"quit\r"))
        assert (await closed(hub, "c"))["exit_code"] == 3  # the session outlived the Ctrl-C
        assert (await closed(hub, "t"))["exit_code"] == 128 + 15
