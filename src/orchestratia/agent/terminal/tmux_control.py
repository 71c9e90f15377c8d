"""A persistent ``tmux -C`` (control mode) client: tmux commands without spawning a process.

Starting a tmux client per command costs about 2 ms (fork, exec, connect); a command written to
an attached control client costs well under 0.1 ms. Typing goes this way, which is most of the
keystroke-to-echo budget. The client attaches with ``no-output`` (tmux does not copy the pane's
output to it; ``pipe-pane`` captures that) and ``ignore-size`` (it never sizes the window).

**One client, attached to an anchor session of its own** (``ANCHOR``, running ``cat``), whose
commands target the sessions by name. tmux 3.3a crashes (NULL ``control_state`` in
``control_write``) when it notifies a control client that is still attaching or already
detaching about sessions being created or killed; with a client per session that happened
within minutes under load. Attaching once, while the daemon changes no sessions (callers
serialize both with a lock), and never to a session that ends, keeps clear of it.

Replies come back in order as ``%begin … 1`` / ``%end`` or ``%error`` blocks; the flag 1 marks
replies to our own commands, other blocks and ``%``-notifications between blocks are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestratia.agent.terminal.tmux import TmuxError, TmuxServer, clean_environment

log = logging.getLogger(__name__)

_BEGIN = b"%begin "
_ENDS = (b"%end ", b"%error ")
# Bytes per send-keys command: 3 bytes a byte ("1b "), far below tmux's line limits.
_SEND_CHUNK = 4096


ANCHOR = "orchestratia-control"
RETRY_AFTER = 30.0  # seconds between attempts once attaching failed


async def attach_anchored(tmux: TmuxServer) -> ControlClient:
    """A control client attached to ``ANCHOR`` (created if missing); ``TmuxError`` if tmux
    refuses. Call it only while no session is being created or killed (module docstring)."""
    if not await tmux.exists(ANCHOR):
        await tmux.new_session(ANCHOR, Path.home(), ["cat"], cols=20, rows=2)
    client = ControlClient(tmux, ANCHOR)
    try:
        await client.start()
    except BaseException:
        # Refused, or cancelled (the daemon stopping) mid-attach: either way the tmux client
        # process may already run, and nobody else holds it to reap it.
        await client.close()
        raise
    return client


class ControlLink:
    """The daemon's one control client: attached on demand, detached (and its anchor removed)
    when no session is alive. ``lock`` must also be held while sessions are created or killed.
    """

    def __init__(self, tmux: TmuxServer) -> None:
        self.tmux = tmux
        self.lock = asyncio.Lock()
        self.client: ControlClient | None = None
        self._failed_at: float | None = None

    @property
    def ready(self) -> ControlClient | None:
        """The client if it is attached and alive, without waiting."""
        client = self.client
        return client if client is not None and client.alive else None

    async def ensure(self) -> ControlClient | None:
        """The client, attached if needed (retried every ``RETRY_AFTER`` s after a failure);
        None means callers spawn tmux commands meanwhile."""
        if self.ready is not None:
            return self.ready
        failed = self._failed_at
        loop = asyncio.get_running_loop()
        if failed is not None and loop.time() - failed < RETRY_AFTER:
            return None
        async with self.lock:
            if self.client is not None:
                await self.client.close()
            try:
                self.client, self._failed_at = await attach_anchored(self.tmux), None
            except TmuxError as exc:
                log.warning("no tmux control client (%s); input is slower", exc)
                self.client, self._failed_at = None, loop.time()
        return self.client

    async def retire(self, idle: Callable[[], bool], *, only_if_idle: bool) -> None:
        """Detach the client (with ``only_if_idle``: only if ``idle()`` still holds once the
        lock is held); if ``idle()``, also remove the anchor, leaving no tmux session behind."""
        async with self.lock:
            quiet = idle()
            if only_if_idle and not quiet:
                return  # a session started meanwhile
            attached, self.client = self.client, None
            if attached is not None:
                await attached.close()
            if quiet and attached is not None:  # only an anchor we used: never another daemon's
                with contextlib.suppress(TmuxError):
                    await self.tmux.kill_session(ANCHOR)


class ControlClient:
    """One control-mode client attached to session ``name``; ``command`` runs one tmux command."""

    def __init__(self, tmux: TmuxServer, name: str, *, timeout: float = 5.0) -> None:
        self.tmux = tmux
        self.name = name
        self.timeout = timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: deque[asyncio.Future[tuple[bool, str]]] = deque()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self._reader is not None

    async def start(self) -> None:
        """Attach; raises ``TmuxError`` if tmux refuses (no such session)."""
        cmd = [
            *(self.tmux.tmux_bin, "-L", self.tmux.socket_name, "-f", "/dev/null", "-u", "-C"),
            *("attach-session", "-t", f"={self.name}", "-f", "no-output,ignore-size"),
        ]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=clean_environment(),
            )
        except OSError as exc:
            raise TmuxError(cmd, f"cannot run {self.tmux.tmux_bin}: {exc}") from exc
        self._reader = asyncio.create_task(self._read_replies(), name=f"tmux-control-{self.name}")
        # Proves the attach worked: a client whose attach failed may still answer commands
        # for a moment before it exits, but has-session fails without the session.
        await self.command("has-session", "-t", f"={self.name}")

    async def command(self, *words: str) -> str:
        """Run one tmux command (words joined by spaces: pass only tmux-safe words)."""
        [output] = await self.commands([" ".join(words)])
        return output

    async def commands(self, lines: Sequence[str]) -> list[str]:
        """Write several command lines at once and wait for every reply; the first error raises.

        Returns each command's output. A client that fails or times out is closed.
        """
        proc = self._proc
        if proc is None or proc.stdin is None or not self.alive:
            raise TmuxError(["-C", *lines[:1]], "control client is not running")
        futures = []
        loop = asyncio.get_running_loop()
        for _ in lines:
            future: asyncio.Future[tuple[bool, str]] = loop.create_future()
            self._waiting.append(future)
            futures.append(future)
        try:
            proc.stdin.write("".join(line + "\n" for line in lines).encode())
            async with asyncio.timeout(self.timeout):
                await proc.stdin.drain()
                results = [await future for future in futures]
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise TmuxError(["-C", *lines[:1]], f"control client failed: {exc!r}") from None
        for (ok, text), line in zip(results, lines, strict=True):
            if not ok:
                raise TmuxError(["-C", line], text)
        return [text for _, text in results]

    async def send_bytes(self, session: str, data: bytes) -> None:
        """Write ``data`` unchanged to the PTY of ``session``'s pane (``send-keys -H``)."""
        target = f"={session}:"
        lines = [
            f"send-keys -t {target} -H " + " ".join(f"{b:02x}" for b in data[i : i + _SEND_CHUNK])
            for i in range(0, len(data), _SEND_CHUNK)
        ]
        await self.commands(lines)

    async def close(self) -> None:
        """Detach (closing stdin ends the client) and wait for it; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                async with asyncio.timeout(2.0):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            # Let it read to end of file rather than cancel it at once: the pipe is only
            # released (and the subprocess transport closed) once its EOF has been read.
            await asyncio.wait({reader}, timeout=2.0)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self._fail_waiting("control client closed")

    def _fail_waiting(self, reason: str) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result((False, reason))

    async def _read_replies(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        stdout = proc.stdout
        block: list[str] | None = None
        ours = False
        try:
            while line := await stdout.readline():
                if block is None:
                    if line.startswith(_BEGIN):
                        block, ours = [], line.rstrip().endswith(b" 1")
                    continue
                if line.startswith(_ENDS):
                    if ours and self._waiting:
                        future = self._waiting.popleft()
                        if not future.done():
                            future.set_result((line.startswith(b"%end"), "".join(block)))
                    block = None
                    continue
                block.append(line.decode("utf-8", "replace"))
        finally:
            log.debug("tmux control client for %s ended", self.name)
            self._fail_waiting("control client exited")
            if self._reader is asyncio.current_task():
                self._reader = None
