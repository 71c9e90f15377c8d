"""Wake-ups when session logs grow: one inotify instance for all of them on Linux.

Polling a log every few milliseconds costs a ``stat`` per session per tick and still adds half
a tick of latency to every echo; inotify wakes the reader as soon as ``pipe-pane``'s ``cat``
writes. Where inotify is unavailable (macOS, a container without it, the per-user instance
limit reached) ``available`` is False and readers fall back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_IN_MODIFY = 0x00000002
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class LogWatcher:
    """Calls a registered callback whenever its file is written; ``close()`` releases all."""

    def __init__(self) -> None:
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def available(self) -> bool:
        return self._fd >= 0

    def start(self) -> None:
        """Open the inotify instance (no-op, leaving ``available`` False, where impossible)."""
        if self._fd >= 0 or not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        except (OSError, AttributeError) as exc:
            log.info("inotify unavailable (%s); session logs are polled", exc)
            return
        if fd < 0:
            log.info("inotify_init1 failed (%s); session logs are polled", _errno())
            return
        self._libc, self._fd = libc, fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._drain)

    def watch(self, path: Path, callback: Callable[[], None]) -> int | None:
        """Call ``callback`` (in the event loop) after each write to ``path``; returns a handle
        for ``unwatch``, or None if the file cannot be watched (the caller polls instead)."""
        if self._libc is None or self._fd < 0:
            return None
        wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(path), _IN_MODIFY))
        if wd < 0:
            log.warning("cannot watch %s (%s); polling it", path, _errno())
            return None
        self._callbacks[wd] = callback
        return wd

    def unwatch(self, wd: int | None) -> None:
        if wd is None or self._libc is None or self._callbacks.pop(wd, None) is None:
            return
        self._libc.inotify_rm_watch(self._fd, wd)  # fails harmlessly if the file is gone

    def close(self) -> None:
        if self._fd < 0:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd, self._libc = -1, None
        self._callbacks.clear()

    def _drain(self) -> None:
        woken: set[int] = set()
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.warning("reading inotify events failed: %s", exc)
                break
            if not data:
                break
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, _mask, _cookie, name_len = _EVENT.unpack_from(data, pos)
                pos += _EVENT.size + name_len
                woken.add(wd)
        for wd in woken:
            callback = self._callbacks.get(wd)
            if callback is not None:
                try:
                    callback()
                except Exception:
                    log.exception("log watch callback failed")


def _errno() -> str:
    return os.strerror(ctypes.get_errno())
