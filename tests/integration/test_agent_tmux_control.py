"""The control-mode tmux client: byte-exact input without a process per keystroke."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestratia.agent.sessions.output_log import OutputLog
from orchestratia.agent.terminal.tmux import TmuxError, TmuxServer
from orchestratia.agent.terminal.tmux_control import ANCHOR, ControlClient, attach_anchored
from tests.support import wait_until
from tests.unit.agent_fakes import PY, RAW_READER


async def test_control_input_is_byte_exact(tmux: TmuxServer, tmp_path: Path) -> None:
    payload = (
        b"\x03\x04\x1a\x00\r\n\t\x1b[A\x1bOP\x1b"
        + "é ✓ 🙂 日本".encode()
        + b"\x1b[200~pasted\nline two; $(rm -rf /) #{pane_pid} 'q\"\x1b[201~"
        + bytes(range(256)) * 40  # > 10 KB: several commands, written at once
    )
    out = tmp_path / "received.bin"
    log = OutputLog(tmp_path / "output.log")
    argv = [PY, "-c", RAW_READER, str(len(payload)), str(out)]
    await tmux.new_session("raw", tmp_path, argv, log_path=log.path)
    await wait_until(lambda: b"READY" in log.read(0), message="reader in raw mode")
    control = ControlClient(tmux, "raw")
    await control.start()
    try:
        await control.send_bytes("raw", payload)
        await wait_until(lambda: out.exists() and out.stat().st_size == len(payload), timeout=10)
        assert out.read_bytes() == payload
    finally:
        await control.close()
    assert not control.alive
    assert await tmux.exists("raw")  # detaching leaves the session alone


async def test_control_client_is_fast_and_reports_errors(tmux: TmuxServer, tmp_path: Path) -> None:
    await tmux.new_session("c", tmp_path, ["cat"])
    control = ControlClient(tmux, "c")
    await control.start()
    try:
        started = time.perf_counter()
        for _ in range(20):
            await tmux.send_bytes("c", b"x")  # a tmux client process per keystroke
        spawned = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(20):
            await control.send_bytes("c", b"x")
        controlled = time.perf_counter() - started
        assert controlled * 3 < spawned, (controlled, spawned)
        assert (await control.command("display-message", "-p", "hello")) == "hello\n"
        with pytest.raises(TmuxError, match="zzz"):
            await control.command("send-keys", "-t", "=zzz:", "x")
        assert control.alive  # an error in one command does not end the client
        await tmux.kill_session("c")
        await wait_until(lambda: not control.alive, message="client exits with its session")
        with pytest.raises(TmuxError, match="not running"):
            await control.send_bytes("c", b"x")
    finally:
        await control.close()


async def test_control_client_refuses_a_missing_session(tmux: TmuxServer, tmp_path: Path) -> None:
    await tmux.new_session("other", tmp_path, ["cat"])
    control = ControlClient(tmux, "missing")
    with pytest.raises(TmuxError):
        await control.start()
    await control.close()


async def test_anchored_client_outlives_the_sessions_it_types_into(
    tmux: TmuxServer, tmp_path: Path
) -> None:
    control = await attach_anchored(tmux)
    try:
        assert await tmux.exists(ANCHOR)
        for name in ("a", "b"):
            log = OutputLog(tmp_path / f"{name}.log")
            await tmux.new_session(name, tmp_path, ["cat"], log_path=log.path)
            await control.send_bytes(name, f"to {name}\r".encode())
            await wait_until(echoed_twice(log, f"to {name}\r\n".encode()))
            await tmux.kill_session(name)
        assert control.alive
        second = await attach_anchored(tmux)  # finds the anchor there already
        assert second.alive
        await second.close()
    finally:
        await control.close()


def echoed_twice(log: OutputLog, line: bytes) -> Callable[[], bool]:
    """The line as the terminal echoed it, then as ``cat`` printed it."""
    return lambda: line * 2 in log.read(0)
