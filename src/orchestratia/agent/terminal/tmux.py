"""The daemon's private tmux server: sessions, lossless capture, byte-exact input, snapshots.

Every call runs ``tmux -L <socket> -f /dev/null`` so we never touch the user's own server and
their ``~/.tmux.conf`` cannot change how our panes behave. Targets use ``=name`` because tmux
otherwise matches session names by prefix (``-t abc`` would hit ``abcdef``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shlex
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestratia.agent.files import ensure_private_dir
from orchestratia.agent.terminal.pane_state import (
    LIST_FORMAT,
    STATUS_FORMAT,
    PaneStatus,
    SessionInfo,
    parse_listing,
    parse_status,
)
from orchestratia.agent.terminal.process_tree import kill_session_processes
from orchestratia.agent.terminal.snapshot import Snapshot, parse_snapshot, snapshot_commands

__all__ = ["PaneStatus", "SessionInfo", "SessionNotFound", "Snapshot", "TmuxError", "TmuxServer"]

DEFAULT_SOCKET = "orchestratia"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")  # never an option look-alike
# tmux refuses client messages over 16 KiB; a byte costs 3 argv bytes ("1b\0") in ``send-keys -H``.
_SEND_CHUNK = 4096
# The last two: a server whose last session was just killed, caught while shutting down.
_MISSING = (
    "can't find session",
    "no server running",
    "error connecting to",
    "no current target",
    "server exited unexpectedly",
)


class TmuxError(Exception):
    """A tmux command failed or did not answer in time; ``cmd`` and ``stderr`` say which and why."""

    def __init__(self, cmd: Sequence[str], stderr: str, returncode: int | None = None) -> None:
        self.cmd = list(cmd)
        self.stderr = stderr.strip()
        self.returncode = returncode
        super().__init__(f"{shlex.join(self.cmd)}: {self.stderr or f'exit {returncode}'}")


class SessionNotFound(TmuxError):
    """The session (or the whole private server) does not exist."""


_NOT_PASSED = frozenset({"TMUX", "TMUX_PANE", "COLUMNS", "LINES"})
_OURS = "ORCHESTRATIA_"


def clean_environment() -> dict[str, str]:
    """The daemon's environment minus what must not reach our tmux server and its panes.

    A daemon started inside the user's tmux must not pass its ``$TMUX`` on; and the first
    client starts the server, whose environment every session inherits, so any
    ``ORCHESTRATIA_*`` of the daemon's own (its config path, a key) must not leak into sessions.
    Nor may ``COLUMNS``/``LINES`` from the terminal the daemon was started in: programs believe
    them over the pane's real size (``tput cols`` would print the daemon's width).
    """
    return {k: v for k, v in os.environ.items() if k not in _NOT_PASSED and not k.startswith(_OURS)}


def _arg(value: str) -> str:
    # tmux treats any argv word ending in ";" as a command separator; "\;" keeps it literal.
    return value[:-1] + "\\;" if value.endswith(";") else value


class TmuxServer:
    """Async client of one private tmux server; every call has a deadline of ``timeout`` s."""

    def __init__(
        self,
        socket_name: str = DEFAULT_SOCKET,
        tmux_bin: str = "tmux",
        *,
        timeout: float = 10.0,
        history_limit: int = 50_000,
    ) -> None:
        self.socket_name = socket_name
        self.tmux_bin = tmux_bin
        self.timeout = timeout
        self.history_limit = history_limit

    async def run(self, *args: str) -> str:
        """Run one tmux command list; stdout on success, ``TmuxError`` otherwise."""
        cmd = [self.tmux_bin, "-L", self.socket_name, "-f", "/dev/null", "-u", *args]
        env = clean_environment()
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise TmuxError(cmd, f"cannot run {self.tmux_bin}: {exc}") from exc
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the command finishes, and a cancelled caller must stop.
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate()
        except BaseException as exc:  # deadline or cancellation: never leave a tmux client behind
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # communicate, not wait: its pipes must be read to EOF to be released.
            await asyncio.shield(proc.communicate())
            if isinstance(exc, TimeoutError):
                raise TmuxError(cmd, f"no answer within {self.timeout}s") from None
            raise
        if proc.returncode != 0:
            text = err.decode("utf-8", "replace")
            kind = SessionNotFound if any(m in text for m in _MISSING) else TmuxError
            raise kind(cmd, text, proc.returncode)
        return out.decode("utf-8", "replace")

    async def _on(self, name: str, *args: str) -> str:
        # has-session first: a failing command aborts the rest of the list, whereas some
        # commands (display-message) quietly fall back to another pane when the target is gone.
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid tmux session name {name!r}")
        return await self.run("has-session", "-t", f"={name}", ";", *args)

    async def new_session(
        self,
        name: str,
        cwd: str | Path,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cols: int = 80,
        rows: int = 24,
        log_path: Path | None = None,
    ) -> int:
        """Start a detached session of exactly ``cols`` x ``rows``; return the pane's pid.

        ``command`` None runs the user's login shell. With ``log_path`` the capture starts in
        the same tmux command list, before tmux reads the pane's first byte.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid tmux session name {name!r}")
        argv = list(command or [])
        if len(argv) == 1:  # tmux runs a lone argument through `sh -c`; keep it one word
            argv = ["exec " + shlex.quote(argv[0])]
        cwd_arg = str(cwd).replace("#", "##")  # -c is format-expanded
        env_args = [a for k, v in (env or {}).items() for a in ("-e", _arg(f"{k}={v}"))]
        args = [
            # Server-wide defaults, repeated on every start so a fresh server gets them too.
            *("set", "-g", "history-limit", str(self.history_limit), ";"),
            *("set", "-g", "default-terminal", "xterm-256color", ";"),
            *("set", "-wg", "remain-on-exit", "on", ";"),  # keep the pane to read its exit code
            *("new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows), "-c", cwd_arg),
            *(*env_args, "-P", "-F", "#{pane_pid}", "--", *map(_arg, argv), ";"),
            # Per window only: a global `window-size manual` crashes tmux 3.3a's new-session.
            # Manual stops a debugging `tmux attach` from resizing the agent's terminal.
            *("set", "-w", "-t", f"={name}:", "window-size", "manual"),
        ]
        if log_path is not None:
            args += [";", *self._pipe_args(name, log_path)]
        out = await self.run(*args)
        return int(out.split()[0])

    def _pipe_args(self, name: str, log_path: Path) -> list[str]:
        path = log_path.absolute()
        ensure_private_dir(path.parent)
        # Created 0600 by us: `cat` would otherwise create it with the tmux server's umask.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        shell = f"umask 077; exec cat >> {shlex.quote(str(path))}".replace("#", "##")
        # -o: keep a pipe that is already running, so a restarted daemon cannot double capture.
        return ["pipe-pane", "-o", "-O", "-t", f"={name}:", shell]

    async def start_capture(self, name: str, log_path: Path) -> None:
        """Append every byte the pane writes to ``log_path`` from now on (tmux ``pipe-pane``).

        The ``cat`` doing it is a child of the tmux server, so the log keeps growing while the
        daemon is down. No-op if a capture is already running.
        """
        await self._on(name, *self._pipe_args(name, log_path))

    async def is_capturing(self, name: str) -> bool:
        return (await self._on(name, "display", "-p", "-t", f"={name}:", "#{pane_pipe}")) == "1\n"

    async def list_sessions(self) -> list[SessionInfo]:
        """Every session on the private server (for rediscovery after a daemon restart)."""
        try:
            out = await self.run("list-panes", "-a", "-F", LIST_FORMAT)
        except SessionNotFound:
            return []
        sessions = parse_listing(out)
        if any(s.dead and s.exit_status is None and s.exit_signal is None for s in sessions):
            await self._reap()  # dead without a status: see _reap
            sessions = parse_listing(await self.run("list-panes", "-a", "-F", LIST_FORMAT))
        return sessions

    async def exists(self, name: str) -> bool:
        try:
            await self._on(name)
        except SessionNotFound:
            return False
        return True

    async def pane_dead_status(self, name: str) -> PaneStatus:
        """Whether the pane's program has exited, and how (``remain-on-exit`` keeps the pane)."""
        for _ in range(3):
            out = await self._on(name, "display", "-p", "-t", f"={name}:", STATUS_FORMAT)
            status = parse_status(out)
            if not status.dead or status.exit_status is not None or status.exit_signal is not None:
                break
            await self._reap()
        return status

    async def _reap(self) -> None:
        # tmux 3.3a with pipe-pane sometimes misses a pane's SIGCHLD: the program stays a zombie
        # and the pane reports no exit status. Any other child exiting makes the server call
        # waitpid() again, which collects it; `run-shell true` forks and reaps such a child.
        await self.run("run-shell", "-b", "true")

    async def send_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` to the pane's PTY unchanged: ``send-keys -H`` sends literal bytes."""
        for start in range(0, len(data), _SEND_CHUNK):
            chunk = data[start : start + _SEND_CHUNK]
            await self._on(name, "send-keys", "-t", f"={name}:", "-H", *(f"{b:02x}" for b in chunk))

    async def resize(self, name: str, cols: int, rows: int) -> None:
        if not (1 <= cols <= 10_000 and 1 <= rows <= 10_000):
            raise ValueError(f"bad terminal size {cols}x{rows}")
        await self._on(name, "resize-window", "-t", f"={name}:", "-x", str(cols), "-y", str(rows))

    async def capture_snapshot(self, name: str) -> Snapshot:
        """Screen, cursor and modes read in one tmux command list, so they belong together."""
        marker = f"orc-snapshot-{secrets.token_hex(8)}"
        return parse_snapshot(await self._on(name, *snapshot_commands(f"={name}:", marker)), marker)

    async def capture_text(self, name: str, history: bool = True) -> str:
        """Plain text (no escapes) of the screen, and of the scrollback with ``history``."""
        args = ["capture-pane", "-p", "-J", "-t", f"={name}:"]
        if history:
            args += ["-S", "-"]
        return await self._on(name, *args)

    async def kill_session(self, name: str) -> bool:
        """Remove the session (its pane's program gets SIGHUP); False if it was already gone."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid tmux session name {name!r}")
        try:
            await self.run("kill-session", "-t", f"={name}")
        except SessionNotFound:
            return False
        return True

    async def close(self, name: str, grace: float = 2.0, *, remove: bool = True) -> PaneStatus:
        """End the session as closing a terminal would: SIGHUP, up to ``grace`` s, kill-session.

        Returns the pane's status from just before the session went away, so callers can report
        the exit code. Processes that ignore SIGHUP may survive; ``kill_tree`` is for those.
        ``remove=False`` leaves the session to the caller (to let a dead pane's capture drain,
        or to kill a program that ignored SIGHUP).
        """
        status = await self.pane_dead_status(name)
        if not status.dead:
            pid = int(await self._on(name, "display", "-p", "-t", f"={name}:", "#{pane_pid}"))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGHUP)
            deadline = asyncio.get_running_loop().time() + grace
            while not status.dead and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
                status = await self.pane_dead_status(name)
        if remove:
            await self.kill_session(name)
        return status

    async def kill_tree(self, name: str, *, remove: bool = True) -> list[int]:
        """SIGKILL every process of the session, then remove it; return the pids killed.

        Besides the pane's descendants this finds processes that escaped by daemonizing: they
        keep the pane's session id or its ``TMUX_PANE``/``TMUX`` environment. ``remove=False``
        leaves the dead pane for the caller to remove once its capture has drained.
        """
        fmt = "#{pane_dead}\t#{pane_pid}\t#{pane_id}\t#{socket_path}\t#{pid}"
        out = await self._on(name, "display", "-p", "-t", f"={name}:", fmt)
        dead, pid, pane_id, socket_path, server_pid = out.rstrip("\n").split("\t")
        # A dead pane's pid may already belong to an unrelated process: match by env only.
        pane_pid = None if dead == "1" else int(pid)
        killed = await asyncio.to_thread(
            kill_session_processes, pane_pid, pane_id, socket_path, int(server_pid)
        )
        if remove:
            await self.kill_session(name)
        return killed
