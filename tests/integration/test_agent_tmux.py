"""The daemon's tmux layer against real tmux, each test on its own private server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import psutil
import pytest

from orchestratia.agent.sessions.output_log import OutputLog, ensure_capture
from orchestratia.agent.sessions.views import redact_snapshot
from orchestratia.agent.terminal.tmux import SessionInfo, SessionNotFound, Snapshot, TmuxServer
from tests.support import wait_until
from tests.unit.agent_fakes import RAW_READER

TMUX = shutil.which("tmux")
PY = sys.executable

PRODUCER = """
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    out.write(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\\n" % i)
out.flush()
"""


def produced(lines: int) -> bytes:
    return b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\n" % i for i in range(lines))


def gone(pid: int) -> bool:
    # A zombie is dead; whether its new parent reaps it is outside our control.
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_pipe_pane_captures_a_1mb_stream_exactly(tmux: TmuxServer, tmp_path: Path) -> None:
    lines = 23_302  # 45 bytes a line: just over 1 MB
    log = OutputLog(tmp_path / "s1" / "output.log")
    await tmux.new_session("s1", tmp_path, [PY, "-c", PRODUCER, str(lines)], log_path=log.path)
    expected = produced(lines).replace(b"\n", b"\r\n")  # the PTY's onlcr
    assert len(expected) > 1_000_000

    async def exited() -> bool:
        return (await tmux.pane_dead_status("s1")).dead

    await wait_until(exited, timeout=30, message="producer to exit")
    status = await tmux.pane_dead_status("s1")
    assert (status.exit_status, status.exit_code) == (0, 0)
    await wait_until(lambda: log.size() >= len(expected), timeout=10, message="log to fill")
    data = log.path.read_bytes()
    assert len(data) == len(expected)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert log.path.stat().st_mode & 0o777 == 0o600
    assert log.gaps() == []


async def test_send_bytes_reaches_the_pty_byte_exact(tmux: TmuxServer, tmp_path: Path) -> None:
    payload = (
        b"\x03\x04\x1a\x1c\x11\x13\x7f\x00\r\n\t"  # Ctrl-C/D/Z/\, XON/XOFF, DEL, NUL, CR, LF
        + b"\x1b[A\x1bOP\x1b[1;5C\x1b"  # arrow, F1, Ctrl-Right, a lone ESC
        + "é ✓ 🙂 日本".encode()
        + b"\x1b[200~pasted\nline two; $(rm -rf /) #{pane_pid}\x1b[201~"  # bracketed paste
        + bytes(range(256))
        + bytes(reversed(range(256))) * 40  # > 10 KB: several send-keys chunks
    )
    out = tmp_path / "received.bin"
    log = OutputLog(tmp_path / "output.log")
    argv = [PY, "-c", RAW_READER, str(len(payload)), str(out)]
    await tmux.new_session("raw", tmp_path, argv, log_path=log.path)
    await wait_until(lambda: b"READY" in log.read(0), message="reader in raw mode")
    await tmux.send_bytes("raw", payload)
    await wait_until(lambda: out.exists() and out.stat().st_size == len(payload), timeout=10)
    assert out.read_bytes() == payload


async def test_resize_changes_what_the_program_sees(
    tmux: TmuxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The size of the terminal the daemon was started in must not reach its sessions: programs
    # believe COLUMNS and LINES over the pane's real size.
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    await tmux.new_session("sh", tmp_path, ["sh"], cols=100, rows=30)
    await tmux.send_bytes("sh", b"tput cols > before; tput lines >> before\r")
    before = tmp_path / "before"
    await wait_until(lambda: before.exists() and before.read_text() == "100\n30\n")
    await tmux.resize("sh", 123, 45)
    await tmux.send_bytes("sh", b"tput cols > after; tput lines >> after\r")
    after = tmp_path / "after"
    await wait_until(lambda: after.exists() and after.read_text() == "123\n45\n")
    [info] = await tmux.list_sessions()
    assert (info.cols, info.rows) == (123, 45)
    with pytest.raises(ValueError):
        await tmux.resize("sh", 0, 10)


KILL_SCRIPT = """
sleep 1000 & echo $! >> pids
setsid sleep 1000 & echo $! >> pids
env -i setsid sleep 1000 & echo $! >> pids
(trap '' HUP; exec sleep 1000) & echo $! >> pids
sh -c 'sleep 1000 & echo $! >> pids; exec sleep 1000' & echo $! >> pids
(setsid sleep 1000 & echo $! >> pids)
echo ready > ready
wait
"""


async def test_kill_tree_leaves_no_process(tmux: TmuxServer, tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    pane_pid = await tmux.new_session("k", tmp_path, ["sh", "-c", KILL_SCRIPT], log_path=log)
    await wait_until(lambda: (tmp_path / "ready").exists(), message="processes to start")
    # The backgrounded `sh -c` writes its child's pid in its own time.
    await wait_until(lambda: len((tmp_path / "pids").read_text().split()) == 7, message="pids")
    pids = [pane_pid, *map(int, (tmp_path / "pids").read_text().split())]
    try:
        assert not any(gone(pid) for pid in pids)
        killed = await tmux.kill_tree("k")
        assert set(pids) <= set(killed)
        await wait_until(lambda: all(gone(pid) for pid in pids), message="all processes gone")
        assert not await tmux.exists("k")
    finally:
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


async def test_close_leaves_no_session(tmux: TmuxServer, tmp_path: Path) -> None:
    pid = await tmux.new_session("c", tmp_path, ["sh"])
    status = await tmux.close("c")
    assert status.dead and status.exit_signal == signal.SIGHUP
    assert not await tmux.exists("c")
    assert gone(pid)
    assert await tmux.list_sessions() == []

    # A program that ignores SIGHUP does not keep the session alive past the grace period.
    stubborn = (
        "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        "open('ignoring', 'w').close(); time.sleep(60)"
    )
    pid = await tmux.new_session("c2", tmp_path, [PY, "-c", stubborn])
    await wait_until(lambda: (tmp_path / "ignoring").exists(), message="SIGHUP ignored")
    try:
        status = await tmux.close("c2", grace=0.3)
        assert not status.dead
        assert not await tmux.exists("c2")
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
    with pytest.raises(SessionNotFound):
        await tmux.close("c2")


async def test_sessions_are_rediscovered_by_a_restarted_daemon(
    tmux: TmuxServer, tmp_path: Path
) -> None:
    pid_a = await tmux.new_session(
        "a", tmp_path, ["cat"], cols=90, rows=20, log_path=tmp_path / "a"
    )
    pid_b = await tmux.new_session("b", tmp_path, ["sh", "-c", "exit 3"], log_path=tmp_path / "b")
    restarted = TmuxServer(tmux.socket_name)  # a fresh object, as after a daemon restart

    async def listing() -> dict[str, SessionInfo]:
        return {s.name: s for s in await restarted.list_sessions()}

    async def b_exited() -> bool:
        return (await listing())["b"].dead

    await wait_until(b_exited, message="b to exit")
    sessions = await listing()
    a, b = sessions["a"], sessions["b"]
    assert (a.pane_pid, a.dead, a.capturing, a.cols, a.rows) == (pid_a, False, True, 90, 20)
    assert (b.pane_pid, b.dead, b.exit_status) == (pid_b, True, 3)  # remain-on-exit kept it
    assert (await restarted.pane_dead_status("b")).exit_code == 3
    assert await restarted.exists("a") and not await restarted.exists("zzz")


async def test_exit_status_survives_tmuxs_missed_sigchld(tmux: TmuxServer, tmp_path: Path) -> None:
    # tmux 3.3a with pipe-pane sometimes never reaps a pane; TmuxServer nudges it to.
    names = [f"x{i}" for i in range(10)]
    for name in names:
        await tmux.new_session(name, tmp_path, ["sh", "-c", "exit 7"], log_path=tmp_path / name)
    await tmux.new_session("sig", tmp_path, ["sh", "-c", "kill -TERM $$"], log_path=tmp_path / "s")

    async def all_dead() -> bool:
        return all([(await tmux.pane_dead_status(n)).dead for n in [*names, "sig"]])

    await wait_until(all_dead, message="all panes to exit")
    for name in names:
        assert (await tmux.pane_dead_status(name)).exit_status == 7
    sig = await tmux.pane_dead_status("sig")
    assert (sig.exit_signal, sig.exit_code) == (signal.SIGTERM, 128 + signal.SIGTERM)
    assert {s.exit_status for s in await tmux.list_sessions() if s.name in names} == {7}


SCREEN_SCRIPT = (
    "stty -echo; printf 'hello \\033[1;32mgreen\\033[0m\\033[5;10H'; read x; "
    "printf '\\033[?1049h\\033[HALT screen\\033[3;7H\\033[?1h\\033[?25l'; read x; sleep 1000"
)


async def test_snapshot_has_cursor_modes_and_alternate_screen(
    tmux: TmuxServer, tmp_path: Path
) -> None:
    await tmux.new_session("v", tmp_path, ["sh", "-c", SCREEN_SCRIPT], cols=60, rows=12)

    async def cursor_at(x: int, y: int) -> bool:
        snap = await tmux.capture_snapshot("v")
        return (snap.cursor_x, snap.cursor_y) == (x, y)

    await wait_until(lambda: cursor_at(9, 4), message="cursor at 10,5")
    normal = await tmux.capture_snapshot("v")
    assert (normal.cols, normal.rows, len(normal.lines)) == (60, 12, 12)
    first = normal.lines[0]
    assert first.startswith("hello \x1b[") and "green" in first  # colours kept as SGR
    assert not normal.alternate_on and normal.saved_text is None and normal.cursor_visible
    assert "wrap_flag" in normal.modes and "keypad_cursor_flag" not in normal.modes

    await tmux.send_bytes("v", b"\r")
    await wait_until(lambda: cursor_at(6, 2), message="alternate screen drawn")
    alt = await tmux.capture_snapshot("v")
    assert alt.alternate_on and not alt.cursor_visible and "keypad_cursor_flag" in alt.modes
    assert alt.lines[0] == "ALT screen"
    assert alt.saved_text is not None and alt.saved_text.startswith("hello ")

    # render() redraws the same screen in a fresh terminal: show it in a second pane.
    for index, snap in enumerate([normal, alt]):
        path = tmp_path / f"render{index}.bin"
        path.write_bytes(snap.render())
        name = f"r{index}"
        show = f"stty -echo -opost; cat {path}; sleep 1000"
        await tmux.new_session(name, tmp_path, ["sh", "-c", show], cols=60, rows=12)

        async def redrawn(name: str = name, snap: Snapshot = snap) -> bool:
            copy = await tmux.capture_snapshot(name)
            return copy == snap

        await wait_until(redrawn, message=f"render {index} to reproduce the screen")


SECRET_BODY = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
# The token wraps over three 16-column rows, then one more line scrolls its first row into the
# history; then a full-screen program hides it all behind the alternate screen.
WRAPPED_SCRIPT = (
    f"stty -echo; printf 'key=\\033[31mghp_\\033[0m{SECRET_BODY}\\nx\\n'; read x; "
    "printf '\\033[?1049h\\033[HALT'; read x; sleep 1000"
)


async def test_snapshot_masks_a_wrapped_secret_whose_start_scrolled_off(
    tmux: TmuxServer, tmp_path: Path
) -> None:
    await tmux.new_session("w", tmp_path, ["sh", "-c", WRAPPED_SCRIPT], cols=16, rows=4)
    await wait_until(lambda: cursor_at(tmux, "w", 0, 3), message="token printed")
    pieces = {SECRET_BODY[i : i + 4] for i in range(len(SECRET_BODY) - 3)}

    snap = await tmux.capture_snapshot("w")
    assert snap.lines[0] == "E5f6G7h8I9j0K1l2"  # the head's row is in the history now
    assert snap.wrapped[-4:] == (True, False, False, False)
    masked = redact_snapshot(snap, [])
    assert masked.lines[:3] == ["D:github_token]*", "*" * 12, "x"]
    assert [p for p in pieces if p in masked.render().decode()] == []

    await tmux.send_bytes("w", b"\r")
    await wait_until(lambda: cursor_at(tmux, "w", 3, 0), message="alternate screen")
    alt = await tmux.capture_snapshot("w")
    assert (
        alt.alternate_on
        and alt.saved_text is not None
        and alt.saved_text.startswith(SECRET_BODY[8:24])
    )
    assert [p for p in pieces if p in redact_snapshot(alt, []).render().decode()] == []


async def cursor_at(tmux: TmuxServer, name: str, x: int, y: int) -> bool:
    snap = await tmux.capture_snapshot(name)
    return (snap.cursor_x, snap.cursor_y) == (x, y)


async def test_capture_text_with_and_without_history(tmux: TmuxServer, tmp_path: Path) -> None:
    script = "for i in $(seq 1 100); do echo line$i; done; sleep 1000"
    await tmux.new_session("t", tmp_path, ["sh", "-c", script], cols=40, rows=10)

    async def printed() -> bool:
        return "line100" in await tmux.capture_text("t", history=False)

    await wait_until(printed)
    history = (await tmux.capture_text("t")).split()
    assert history[:3] == ["line1", "line2", "line3"] and "line100" in history
    assert "line1" not in (await tmux.capture_text("t", history=False)).split()


async def test_a_dead_capture_is_repaired_and_recorded(tmux: TmuxServer, tmp_path: Path) -> None:
    log = OutputLog(tmp_path / "output.log")
    pane_pid = await tmux.new_session("g", tmp_path, ["cat"], log_path=log.path)
    await tmux.send_bytes("g", b"one\r")
    await wait_until(lambda: b"one" in log.read(0))
    assert await ensure_capture(tmux, "g", log) is None

    server_pid = int(await tmux.run("display", "-p", "-t", "=g:", "#{pid}"))
    [pipe] = [p for p in psutil.Process(server_pid).children() if p.pid != pane_pid]
    pipe.kill()  # the capture dies (disk full, OOM killer, someone's kill)
    pipe.wait(5)
    # tmux only notices when it next writes to the pipe: those bytes are lost.
    await tmux.send_bytes("g", b"lost\r")

    async def not_capturing() -> bool:
        return not await tmux.is_capturing("g")

    await wait_until(not_capturing, message="tmux to notice the dead pipe")
    gap = await ensure_capture(tmux, "g", log)
    assert gap is not None and gap.offset == log.size()
    assert await tmux.is_capturing("g")
    await tmux.send_bytes("g", b"after\r")
    await wait_until(lambda: b"after\r\nafter\r\n" in log.read(gap.offset))
    assert log.read(gap.offset).startswith(b"after")
    assert log.gaps() == [gap]


async def test_arguments_reach_the_program_verbatim(tmux: TmuxServer, tmp_path: Path) -> None:
    cwd = tmp_path / "dir with space #1"
    cwd.mkdir()
    out = tmp_path / "seen.json"
    env = {"ORC_A": "ends with;", "ORC_B": "$(touch pwned) #{session_name} 'q\""}
    dump = (
        "import json, os, sys; json.dump({'cwd': os.getcwd(), 'a': os.environ['ORC_A'], "
        "'b': os.environ['ORC_B'], 'term': os.environ['TERM'], 'argv': sys.argv[2:]}, "
        "open(sys.argv[1], 'w'))"
    )
    argv = [PY, "-c", dump, str(out), "arg;", "#{pane_pid}", "-x", ""]
    await tmux.new_session("args", cwd, argv, env=env)
    await wait_until(lambda: out.exists() and out.stat().st_size > 0)
    assert json.loads(out.read_text()) == {
        "cwd": str(cwd),
        "a": "ends with;",
        "b": env["ORC_B"],
        "term": "xterm-256color",
        "argv": ["arg;", "#{pane_pid}", "-x", ""],
    }
    assert not (cwd / "pwned").exists()

    script = tmp_path / "my script; #x.sh"  # a lone command word runs as one word
    script.write_text(f"#!/bin/sh\necho ok > '{tmp_path}/single'\n")
    script.chmod(0o755)
    await tmux.new_session("single", tmp_path, [str(script)])
    await wait_until(lambda: (tmp_path / "single").exists())


async def test_missing_sessions_and_bad_names(tmux: TmuxServer, tmp_path: Path) -> None:
    assert await tmux.list_sessions() == []  # no server running yet
    assert not await tmux.exists("nope")
    with pytest.raises(SessionNotFound):
        await tmux.send_bytes("nope", b"x")
    await tmux.new_session("abcdef", tmp_path, ["cat"])
    assert not await tmux.exists("abc")  # no prefix matching
    with pytest.raises(SessionNotFound):
        await tmux.capture_snapshot("abc")
    for bad in ["", "a:b", "a.b", "a b", "-t"]:
        with pytest.raises(ValueError):
            await tmux.new_session(bad, tmp_path, ["cat"])
