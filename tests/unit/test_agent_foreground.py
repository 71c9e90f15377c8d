"""Whether a delivery may be typed as it is: the foreground decision on fake process tables,
the comment form in real shells, and the hook in the delivery queue."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from orchestratia.agent.delivery.foreground import (
    Proc,
    Verdict,
    _runs_command,
    as_comment,
    decide,
    foreground_group,
    inspect,
)
from orchestratia.agent.delivery.queue import DeliveryQueue, SessionTerminal, session_foreground
from orchestratia.agent.delivery.text import MAX_LINE
from orchestratia.agent.link.routing import FrameRouter
from tests.unit.delivery_fakes import FakeClock, FakeLink, FakeTerminal, note, settle

WRAPPER = ("sh", "-c", 'trap : INT QUIT TSTP HUP; "$0" -l -c "$1"; ...', "/bin/bash", "claude")


class Table:
    """A fake process table: ``add`` processes, each with its parent."""

    def __init__(self) -> None:
        self.procs: dict[int, Proc] = {}
        self.parent: dict[int, int] = {}

    def add(
        self, pid: int, argv: tuple[str, ...], *, parent: int = 1, pgid: int = 0, name: str = ""
    ) -> Table:
        base = os.path.basename(argv[0]).lstrip("-")
        self.procs[pid] = Proc(pid, name or base, argv, pgid or pid)
        self.parent[pid] = parent
        return self

    def get(self, pid: int) -> Proc | None:
        return self.procs.get(pid)

    def children(self, pid: int) -> list[Proc]:
        return [self.procs[c] for c, p in self.parent.items() if p == pid]


# --- the decision -----------------------------------------------------------------------------


def test_an_interactive_shell_leading_the_group_is_a_shell_at_its_prompt() -> None:
    table = Table().add(10, ("-bash",), name="bash")  # a login shell, argv[0] "-bash"
    assert decide(10, table) == Verdict("shell", "bash")
    # Without job control its foreground children share its group; it is still the reader.
    table.add(11, ("python3", "x.py"), parent=10, pgid=10)
    assert decide(10, table) == Verdict("shell", "bash")


def test_a_program_leading_the_group_is_a_program_whatever_it_runs() -> None:
    table = Table().add(10, ("bash", "-l")).add(20, ("node", "/x/claude/cli.js"), parent=10)
    table.add(21, ("bash", "-c", "npm test"), parent=20, pgid=20)  # the agent's tool
    assert decide(20, table) == Verdict("program", "node")


def test_the_session_wrapper_is_looked_through_to_its_child() -> None:
    # `sh -c` keeps its children in its own group: the child reads the terminal.
    table = Table().add(10, WRAPPER).add(11, ("claude",), parent=10, pgid=10)
    assert decide(10, table) == Verdict("program", "claude")
    # The login shell did not exec the command: it waits too, and is looked through.
    login = ("-bash", "-l", "-c", "cd x && claude")
    table = Table().add(10, WRAPPER).add(11, login, parent=10, pgid=10, name="bash")
    table.add(12, ("claude",), parent=11, pgid=10)
    assert decide(10, table) == Verdict("program", "claude")


def test_a_shell_behind_the_wrapper_is_still_a_shell() -> None:
    table = Table().add(10, WRAPPER).add(11, ("bash", "--norc", "-i"), parent=10, pgid=10)
    assert decide(10, table) == Verdict("shell", "bash")
    # Its own group (job control) is what is in the foreground then.
    table = Table().add(10, WRAPPER).add(11, ("bash", "--norc", "-i"), parent=10)
    assert decide(11, table) == Verdict("shell", "bash")
    # A wrapper with no child in the group is a shell itself.
    table = Table().add(10, WRAPPER).add(11, ("claude",), parent=10, pgid=11)
    assert decide(10, table) == Verdict("shell", "sh")


def test_scripts_are_looked_through_and_any_shell_among_the_readers_wins() -> None:
    script = ("/bin/bash", "./start-agent.sh")  # a #! script: its name is the script's
    table = Table().add(10, script, name="start-agent.sh").add(11, ("python3",), parent=10, pgid=10)
    assert decide(10, table) == Verdict("program", "python3")
    pipeline = Table().add(10, ("sh", "-c", "cat | sh")).add(11, ("cat",), parent=10, pgid=10)
    pipeline.add(12, ("sh",), parent=10, pgid=10)
    assert decide(10, pipeline) == Verdict("shell", "sh")


def test_nesting_is_bounded() -> None:
    table = Table().add(10, ("sh", "-c", "x"))
    for pid in range(11, 40):
        table.add(pid, ("sh", "-c", "x"), parent=pid - 1, pgid=10)
    table.add(40, ("claude",), parent=39, pgid=10)
    assert decide(10, table) == Verdict("shell", "sh")


@pytest.mark.parametrize(
    ("argv", "name", "kind"),
    [
        (("/usr/bin/zsh-5.9",), "", "shell"),
        (("ksh93",), "", "shell"),
        (("fish", "-l"), "", "shell"),
        (("/bin/busybox", "sh"), "busybox", "shell"),
        (("tcsh",), "", "shell"),
        (("ssh", "build-box"), "", "relay"),
        (("sudo", "-i"), "", "relay"),
        (("tmux", "attach"), "", "relay"),
        (("python3", "-m", "shellish"), "", "program"),
        (("vim", "notes.sh"), "", "program"),
    ],
)
def test_names(argv: tuple[str, ...], name: str, kind: str) -> None:
    assert decide(10, Table().add(10, argv, name=name)).kind == kind


def test_a_group_without_its_leader_is_unknown() -> None:
    verdict = decide(10, Table().add(11, ("claude",), pgid=10))
    assert verdict.kind == "unknown" and not verdict.plain


@pytest.mark.parametrize(
    ("argv", "runs"),
    [
        (WRAPPER, True),
        (("bash", "-lc", "claude"), True),
        (("fish", "--command=claude"), True),
        (("bash", "./script.sh"), True),
        (("bash", "--", "script.sh"), True),
        (("bash",), False),
        (("bash", "-l"), False),
        (("bash", "--norc", "-i"), False),
        (("bash", "-ic", "x"), False),
        (("bash", "-s", "arg"), False),
        (("bash", "-o", "vi"), False),
        (("bash", "--rcfile", "rc"), False),
        (("fish", "--interactive"), False),
    ],
)
def test_runs_command(argv: tuple[str, ...], runs: bool) -> None:
    assert _runs_command(argv) is runs


def test_verdict_details() -> None:
    assert Verdict("program", "claude").plain and Verdict("program", "claude").detail == ""
    assert Verdict("shell", "bash").detail == "typed as a comment: shell at prompt (bash)"
    assert Verdict("relay", "ssh").detail.startswith("typed as a comment: ssh")
    assert "tty gone" in Verdict("unknown", "tty gone").detail
    assert not any(Verdict(k).plain for k in ("shell", "relay", "unknown"))


# --- reading the real system ------------------------------------------------------------------


def test_inspect_fails_safe() -> None:
    assert inspect(None).kind == "unknown"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert inspect(gone.pid) == Verdict("unknown", "the session's process is gone")
    # A process without a controlling terminal (its own session).
    lone = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        with pytest.raises(ValueError, match="no controlling terminal"):
            foreground_group(lone.pid)
        verdict = inspect(lone.pid)
        assert verdict.kind == "unknown" and "no controlling terminal" in verdict.what
    finally:
        lone.kill()
        lone.wait()


# --- the comment ------------------------------------------------------------------------------

EVIL = (
    "[orchestratia] Note on task 1a2b3c4d from alice: don't; touch {p}1 && touch {p}2 | "
    "tee {p}3 > {p}4 $(touch {p}5) `touch {p}6` !! \\ (touch {p}7) {{touch,{p}8}} \"x' ^a^b"
)


def test_the_comment_keeps_the_words_and_nothing_a_shell_acts_on() -> None:
    line = as_comment(EVIL.format(p="/tmp/x/p"))
    assert line.startswith("# [orchestratia] Note on task 1a2b3c4d from alice: don\u2019t touch ")
    assert not set(";&|<>$`!\\(){}\"'^\t\r\n") & set(line)
    assert as_comment("a\x1b[2J\x9b1m\u202eb") == "# a [2J 1m b"
    assert len(as_comment("x" * 5000)) <= MAX_LINE + 2


BASH = ["bash", "--norc", "--noprofile", "-i"]
NO_COMMENTS = "shopt -u interactive_comments"  # how zsh and tcsh treat "#" at a prompt


@pytest.mark.parametrize(
    ("argv", "setup"),
    [
        (BASH, ""),
        (BASH, NO_COMMENTS),
        ([*BASH, "-O", "extglob"], NO_COMMENTS),
        (["dash", "-i"], ""),
    ],
    ids=["bash", "bash-no-comments", "bash-extglob-no-comments", "dash"],
)
def test_no_shell_runs_anything_of_the_comment(argv: list[str], setup: str, tmp_path: Path) -> None:
    """Interactive shells reading the line from a pipe, as they would from the terminal."""
    if shutil.which(argv[0]) is None:
        pytest.skip(f"no {argv[0]}")
    prefix = f"{setup}\n" if setup else ""

    def run(line: str) -> list[str]:
        script = f"{prefix}echo before\n{line}\necho after\n"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
        subprocess.run(
            argv, input=script, text=True, capture_output=True, timeout=10, check=False, env=env
        )
        return sorted(p.name for p in tmp_path.glob("p*"))

    evil = EVIL.format(p=tmp_path / "p")
    assert run(as_comment(evil)) == []
    if setup == NO_COMMENTS:  # the test can tell: a bare "# " would have let this run
        assert run(f"# note; touch {tmp_path / 'p1'}") == ["p1"]


# --- the hook in the delivery queue -----------------------------------------------------------


class Rig:
    def __init__(self, tmp_path: Path, *verdicts: Verdict) -> None:
        self.clock, self.link = FakeClock(), FakeLink()
        self.terminal = FakeTerminal(tmp_path, self.clock)
        self.verdicts = list(verdicts)
        self.queue = DeliveryQueue(
            {"s1": self.terminal}.get,
            self.link.send,
            idle_seconds=0.0,
            clock=self.clock,
            sleep=self.clock.sleep,
            foreground=self.foreground,
        )

    async def foreground(self, terminal: Any) -> Verdict:
        assert terminal is self.terminal
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]

    async def deliver(self, content: str) -> dict[str, Any]:
        await FrameRouter(self.queue.routes()).dispatch(note("d1", content))
        await settle(lambda: self.link.sent)
        await self.queue.stop()
        return self.link.sent[0]


async def test_a_shell_gets_the_line_as_a_comment(tmp_path: Path) -> None:
    rig = Rig(tmp_path, Verdict("shell", "bash"))
    ack = await rig.deliver("hi; rm -rf ~")
    assert [d for _, d in rig.terminal.typed] == [
        b"# [orchestratia] Note on task task1234: hi rm -rf ~",
        b"\r",
    ]
    assert ack["status"] == "delivered"
    assert ack["detail"] == "typed as a comment: shell at prompt (bash)"


async def test_a_program_gets_the_plain_line(tmp_path: Path) -> None:
    rig = Rig(tmp_path, Verdict("program", "claude"))
    ack = await rig.deliver("hi; there")
    assert rig.terminal.lines() == [b"[orchestratia] Note on task task1234: hi; there"]
    assert ack["status"] == "delivered" and ack["detail"] == ""


async def test_a_shell_taking_over_before_enter_gets_ctrl_c_not_enter(tmp_path: Path) -> None:
    rig = Rig(tmp_path, Verdict("program", "claude"), Verdict("shell", "bash"))
    ack = await rig.deliver("hi; there")
    assert [d for _, d in rig.terminal.typed] == [
        b"[orchestratia] Note on task task1234: hi; there",
        b"\x03",
    ]
    assert ack["status"] == "failed" and "shell came to the foreground" in ack["detail"]


async def test_a_session_without_a_known_process_fails_safe() -> None:
    session = SimpleNamespace(pid=None)
    terminal = SessionTerminal(cast(Any, session), lambda _s, _d: asyncio.sleep(0))
    verdict = await session_foreground(terminal)
    assert verdict.kind == "unknown" and not verdict.plain
