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
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from orchestratia.agent.files import ensure_private_dir

DEFAULT_SOCKET = "orchestratia"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")  # never an option look-alike
# tmux refuses client messages over 16 KiB; a byte costs 3 argv bytes ("1b\0") in ``send-keys -H``.
_SEND_CHUNK = 4096
_MISSING = ("can't find session", "no server running", "error connecting to")
_STATUS_FMT = "#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}"
_LIST_FMT = (
    "#{session_name}\t#{pane_pid}\t#{pane_width}\t#{pane_height}\t#{pane_pipe}\t#{pane_id}\t"
    + _STATUS_FMT
)
# tmux flag → the sequence that turns the mode on in a fresh terminal (all off after RIS).
_MODES = {
    "insert_flag": "\x1b[4h",
    "keypad_cursor_flag": "\x1b[?1h",
    "keypad_flag": "\x1b=",
    "origin_flag": "\x1b[?6h",
    "mouse_standard_flag": "\x1b[?1000h",
    "mouse_button_flag": "\x1b[?1002h",
    "mouse_any_flag": "\x1b[?1003h",
    "mouse_utf8_flag": "\x1b[?1005h",
    "mouse_sgr_flag": "\x1b[?1006h",
}
_GEOMETRY = "cursor_x cursor_y pane_width pane_height scroll_region_upper scroll_region_lower"
_FLAGS = ("alternate_on", "cursor_flag", "wrap_flag", *_MODES)
_SNAPSHOT_FMT = ",".join(f"#{{{v}}}" for v in (*_GEOMETRY.split(), *_FLAGS))


class TmuxError(Exception):
    """A tmux command failed or did not answer in time; ``cmd`` and ``stderr`` say which and why."""

    def __init__(self, cmd: Sequence[str], stderr: str, returncode: int | None = None) -> None:
        self.cmd = list(cmd)
        self.stderr = stderr.strip()
        self.returncode = returncode
        super().__init__(f"{shlex.join(self.cmd)}: {self.stderr or f'exit {returncode}'}")


class SessionNotFound(TmuxError):
    """The session (or the whole private server) does not exist."""


@dataclass(frozen=True)
class PaneStatus:
    dead: bool
    exit_status: int | None = None
    exit_signal: int | None = None

    @property
    def exit_code(self) -> int | None:
        """Shell convention: the status, or 128 + signal for a program killed by a signal."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.exit_status


@dataclass(frozen=True)
class SessionInfo:
    name: str
    pane_pid: int
    dead: bool
    exit_status: int | None
    cols: int
    rows: int
    exit_signal: int | None
    capturing: bool
    pane_id: str


@dataclass(frozen=True)
class Snapshot:
    """The visible screen with SGR escapes plus the terminal state needed to redraw it."""

    text: str
    saved_text: str | None  # the normal screen hidden behind the alternate one, if active
    cursor_x: int
    cursor_y: int
    cols: int
    rows: int
    scroll_top: int
    scroll_bottom: int
    alternate_on: bool
    cursor_visible: bool
    modes: frozenset[str]  # tmux flags that are on: "wrap_flag", "keypad_cursor_flag", ...

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def render(self) -> bytes:
        """Bytes that make a fresh terminal of this size look like this screen."""
        out = ["\x1bc"]  # RIS: start from a known state whatever the viewer showed before

        def draw(text: str) -> None:
            # No newline after the last row: it would scroll the screen by one line.
            out.append("\x1b[H" + "\x1b[0m\r\n".join(text.split("\n")[: self.rows]) + "\x1b[0m")

        if self.alternate_on:
            draw(self.saved_text or "")
            out.append("\x1b[?1049h\x1b[H\x1b[2J")
        draw(self.text)
        if (self.scroll_top, self.scroll_bottom) != (0, self.rows - 1):
            out.append(f"\x1b[{self.scroll_top + 1};{self.scroll_bottom + 1}r")
        out += [seq for flag, seq in _MODES.items() if flag in self.modes]
        out += [] if "wrap_flag" in self.modes else ["\x1b[?7l"]
        out += [] if self.cursor_visible else ["\x1b[?25l"]
        # Origin mode makes cursor addresses relative to the scroll region; tmux reports absolute.
        row = self.cursor_y - (self.scroll_top if "origin_flag" in self.modes else 0)
        out.append(f"\x1b[{row + 1};{self.cursor_x + 1}H")
        return "".join(out).encode("utf-8")


def _arg(value: str) -> str:
    # tmux treats any argv word ending in ";" as a command separator; "\;" keeps it literal.
    return value[:-1] + "\\;" if value.endswith(";") else value


def _int_or_none(text: str) -> int | None:
    return int(text) if text.strip() else None


def _status(dead: str, status: str, sig: str) -> PaneStatus:
    return PaneStatus(dead == "1", _int_or_none(status), _int_or_none(sig))


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
        # A daemon started inside the user's tmux must not pass its $TMUX on to our panes.
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
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
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except BaseException as exc:  # deadline or cancellation: never leave a tmux client behind
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
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
            out = await self.run("list-panes", "-a", "-F", _LIST_FMT)
        except SessionNotFound:
            return []
        if any(line.endswith("\t1\t\t") for line in out.splitlines()):  # dead, no status: _reap
            await self._reap()
            out = await self.run("list-panes", "-a", "-F", _LIST_FMT)
        sessions: dict[str, SessionInfo] = {}
        for line in out.splitlines():
            name, pid, cols, rows, pipe, pane_id, *status = line.split("\t")
            st = _status(*status)
            info = SessionInfo(
                name, int(pid), st.dead, st.exit_status, int(cols), int(rows),
                st.exit_signal, pipe == "1", pane_id,
            )  # fmt: skip
            sessions.setdefault(name, info)  # our sessions have one pane; keep the first
        return list(sessions.values())

    async def exists(self, name: str) -> bool:
        try:
            await self._on(name)
        except SessionNotFound:
            return False
        return True

    async def pane_dead_status(self, name: str) -> PaneStatus:
        """Whether the pane's program has exited, and how (``remain-on-exit`` keeps the pane)."""
        for _ in range(3):
            out = await self._on(name, "display", "-p", "-t", f"={name}:", _STATUS_FMT)
            status = _status(*out.rstrip("\n").split("\t"))
            if not status.dead or status.exit_status is not None or status.exit_signal is not None:
                break
            await self._reap()
        return status

    async def _reap(self) -> None:
        # tmux 3.3a with pipe-pane sometimes misses a pane's SIGCHLD: the program stays a zombie
        # and the pane reports no exit status. Any other child exiting makes the server call
        # waitpid() again, which collects it; `run-shell true` forks and reaps such a child.
        await self.run("run-shell", "true")

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
        t = f"={name}:"
        out = await self._on(
            name,
            *("display", "-p", "-t", t, _SNAPSHOT_FMT, ";"),
            *("capture-pane", "-p", "-e", "-N", "-t", t, ";"),
            *("if-shell", "-F", "-t", t, "#{alternate_on}", f"capture-pane -a -p -e -N -t {t}"),
        )
        head, _, rest = out.partition("\n")
        values = head.split(",")
        x, y, cols, rows, top, bottom = (int(v) for v in values[:6])
        on = frozenset(flag for flag, v in zip(_FLAGS, values[6:], strict=True) if v == "1")
        lines = rest.split("\n")[:-1]  # every captured line ends with "\n"
        return Snapshot(
            text="\n".join(lines[:rows]),
            saved_text="\n".join(lines[rows:]) if "alternate_on" in on else None,
            cursor_x=x, cursor_y=y, cols=cols, rows=rows, scroll_top=top, scroll_bottom=bottom,
            alternate_on="alternate_on" in on, cursor_visible="cursor_flag" in on, modes=on,
        )  # fmt: skip

    async def capture_text(self, name: str, history: bool = True) -> str:
        """Plain text (no escapes) of the screen, and of the scrollback with ``history``."""
        args = ["capture-pane", "-p", "-J", "-t", f"={name}:"]
        if history:
            args += ["-S", "-"]
        return await self._on(name, *args)

    async def close(self, name: str, grace: float = 2.0) -> PaneStatus:
        """End the session as closing a terminal would: SIGHUP, up to ``grace`` s, kill-session.

        Returns the pane's status from just before the session went away, so callers can report
        the exit code. Processes that ignore SIGHUP may survive; ``kill_tree`` is for those.
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
        with contextlib.suppress(SessionNotFound):
            await self.run("kill-session", "-t", f"={name}")
        return status

    async def kill_tree(self, name: str) -> list[int]:
        """SIGKILL every process of the session, then remove it; return the pids killed.

        Besides the pane's descendants this finds processes that escaped by daemonizing: they
        keep the pane's session id or its ``TMUX_PANE``/``TMUX`` environment.
        """
        fmt = "#{pane_dead}\t#{pane_pid}\t#{pane_id}\t#{socket_path}\t#{pid}"
        out = await self._on(name, "display", "-p", "-t", f"={name}:", fmt)
        dead, pid, pane_id, socket_path, server_pid = out.rstrip("\n").split("\t")
        # A dead pane's pid may already belong to an unrelated process: match by env only.
        pane_pid = None if dead == "1" else int(pid)
        killed = await asyncio.to_thread(
            _kill_session_processes, pane_pid, pane_id, socket_path, int(server_pid)
        )
        with contextlib.suppress(SessionNotFound):
            await self.run("kill-session", "-t", f"={name}")
        return killed


def _session_processes(
    pane_pid: int | None, pane_id: str, socket_path: str, server_pid: int
) -> list[psutil.Process]:
    sid: int | None = None
    found: dict[int, psutil.Process] = {}
    if pane_pid is not None:
        with contextlib.suppress(OSError, psutil.Error):
            sid = os.getsid(pane_pid)
            found[pane_pid] = root = psutil.Process(pane_pid)
            # Descendants that cleared their environment and called setsid() are still children.
            found.update((p.pid, p) for p in root.children(recursive=True))
    for proc in psutil.process_iter(["ppid", "environ"]):
        # The server's other children are other panes and pipe-pane's `cat`, which must keep
        # draining the last output into the log.
        if proc.pid in (server_pid, os.getpid()) or proc.info["ppid"] == server_pid:
            continue
        env = proc.info["environ"] or {}
        ours = env.get("TMUX_PANE") == pane_id and env.get("TMUX", "").startswith(socket_path + ",")
        with contextlib.suppress(OSError):
            ours = ours or (sid is not None and os.getsid(proc.pid) == sid)
        if ours:
            found.setdefault(proc.pid, proc)
    return [p for p in found.values() if _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    # A zombie is already dead; only its parent's wait() can remove it.
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_session_processes(
    pane_pid: int | None, pane_id: str, socket_path: str, server_pid: int
) -> list[int]:
    killed: set[int] = set()
    # Repeat: a process may fork between one scan and the kill; its child shows up next round.
    for _ in range(20):
        procs = _session_processes(pane_pid, pane_id, socket_path, server_pid)
        if not procs:
            break
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
                killed.add(proc.pid)
        psutil.wait_procs(procs, timeout=1.0)
    return sorted(killed)
