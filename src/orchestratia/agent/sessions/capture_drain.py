"""Removing a dead pane without losing the output still on its way to the log.

``pipe-pane`` moves output from tmux to the log in three steps: tmux's buffers, a socket, and
the ``cat`` that appends to the log. Killing the session frees tmux's buffers unwritten, and a
``cat`` slowed down by a loaded machine can be far behind. Hence:

1. Wait until tmux has nothing left to write. Its buffers cannot be inspected, but tmux writes
   them into the socket whenever it has room, in the event loop that also answers our commands.
   So if ``cat`` sleeps (waiting for input: the socket is empty) and the log does not grow
   across two command round trips, tmux had nothing left: had it written, ``cat`` would have
   woken up or appended.
2. Kill the session: tmux closes the socket, ``cat`` reads what is left, appends it and exits.
3. Wait for that ``cat`` to exit: then the log is complete.

If ``cat`` is not found (the capture had died), a quiet log stands in for these checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import psutil

from orchestratia.agent.sessions.output_log import OutputLog, wait_settled
from orchestratia.agent.terminal.tmux import SessionNotFound, TmuxServer

log = logging.getLogger(__name__)

_POLL = 0.005


async def remove_drained(
    tmux: TmuxServer,
    name: str,
    output: OutputLog,
    limit: float = 5.0,
    lock: asyncio.Lock | None = None,
) -> None:
    """Kill session ``name`` (its pane has exited) once its output has all reached ``output``.

    Bounded by ``limit`` s per step; past it the session is removed anyway (and logged). The
    kill itself happens under ``lock`` (``tmux_control`` says why kills are serialized).
    """
    try:
        server_pid = int(await tmux.run("display", "-p", "-t", f"={name}:", "#{pid}"))
    except SessionNotFound:
        await wait_settled(output, stable=0.05, limit=limit)  # a capture may still be draining
        return
    capture = await asyncio.to_thread(_find_capture, server_pid, output.path)
    if capture is None:
        log.warning("%s: no capture process found; waiting for the log to settle", name)
    if capture is None or not await _wait_tmux_flushed(tmux, name, capture, output, limit):
        await wait_settled(output, stable=0.05, limit=limit)
    async with lock or contextlib.nullcontext():
        await tmux.kill_session(name)
    if capture is None or not await _wait_exit(capture, limit):
        await wait_settled(output, stable=0.05, limit=limit)


def _find_capture(server_pid: int, log_path: Path) -> psutil.Process | None:
    """The tmux server's child appending to ``log_path`` (pipe-pane's ``cat``)."""
    target = os.path.realpath(log_path)
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(server_pid).children():
            with contextlib.suppress(psutil.Error):
                if any(os.path.realpath(f.path) == target for f in child.open_files()):
                    return child
    return None


def _waiting_for_input(capture: psutil.Process) -> bool | None:
    """Whether the capture sleeps (for ``cat``: in a read, its socket empty); None if gone."""
    try:
        return capture.status() == psutil.STATUS_SLEEPING
    except psutil.Error:
        return None


async def _wait_tmux_flushed(
    tmux: TmuxServer, name: str, capture: psutil.Process, output: OutputLog, limit: float
) -> bool:
    """Step 1 of the module docstring; False if it could not be established in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    quiet_rounds = 0
    while quiet_rounds < 2:
        if loop.time() > deadline:
            log.warning("%s: capture still busy after %.1fs; removing anyway", name, limit)
            return False
        size, idle = output.size(), _waiting_for_input(capture)
        if idle is None:
            return False
        if idle:
            # A round trip through tmux's event loop, in which a pending write would happen.
            await tmux.run("display", "-p", "-t", f"={name}:", "#{pane_dead}")
            await asyncio.sleep(_POLL)
            if _waiting_for_input(capture) and output.size() == size:
                quiet_rounds += 1
                continue
        quiet_rounds = 0
        await asyncio.sleep(_POLL)
    return True


async def _wait_exit(capture: psutil.Process, limit: float) -> bool:
    """Step 3: the capture has read the closed pipe to its end and exited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        try:
            if capture.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            return False
        await asyncio.sleep(_POLL)
    log.warning("capture process %d still running after %.1fs", capture.pid, limit)
    return False
