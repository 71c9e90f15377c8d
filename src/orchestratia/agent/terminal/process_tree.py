"""Finding and killing every process of one tmux pane, including ones that escaped it."""

from __future__ import annotations

import contextlib
import os

import psutil


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


def kill_session_processes(
    pane_pid: int | None, pane_id: str, socket_path: str, server_pid: int
) -> list[int]:
    """SIGKILL the pane's processes until none is left (blocking); return the pids killed.

    Besides ``pane_pid``'s descendants this finds processes that daemonized away from it: they
    keep its session id or its ``TMUX_PANE``/``TMUX`` environment. ``pane_pid`` None (the pane
    is dead and its pid may be reused) matches by environment only.
    """
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
