"""Snapshots the hub renders for daemons that cannot take them (the public agent)."""

from __future__ import annotations

import base64

import pyte

from orchestratia.hub.services.fleet.screen_render import TAIL_BYTES, render
from orchestratia.hub.ws.terminal_relay import SessionRelay, SessionView, SnapshotRoute


def _shown(screen: bytes, cols: int, rows: int) -> list[str]:
    terminal = pyte.Screen(cols, rows)
    pyte.ByteStream(terminal).feed(screen)
    return [line.rstrip() for line in terminal.display]


def test_a_tail_cut_inside_an_escape_starts_at_the_next_line() -> None:
    # "[31m" is what is left of an SGR escape the cut split; drawn, it would show as text.
    shown = render(b"[31mjunk\r\nkept\x1b[0m\r\n$ ", 20, 3, from_start=False)
    assert _shown(shown.screen, 20, 3) == ["kept", "$", ""]
    assert (shown.cursor_x, shown.cursor_y) == (2, 1)


async def test_the_hub_renders_only_the_recordings_tail_at_its_end() -> None:
    end = 10 * TAIL_BYTES
    reads: list[tuple[int, int]] = []

    async def read(offset: int, limit: int) -> tuple[int, bytes]:
        reads.append((offset, limit))
        return offset, (b"line\r\n" * limit)[:limit]

    async def request(_request_id: str) -> SnapshotRoute:
        return SnapshotRoute.HUB

    relay = SessionRelay("s1", end, SessionView("running", None, 40, 10), read, request)
    snap = await relay.snapshot()
    assert snap is not None
    assert reads == [(end - TAIL_BYTES, TAIL_BYTES)]
    assert snap.offset == end and (snap.cols, snap.rows) == (40, 10)
    assert _shown(base64.b64decode(snap.screen), 40, 10)[:2] == ["line", "line"]
