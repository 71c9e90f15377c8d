"""A session's screen rendered on the hub from the tail of its recording.

The public agent cannot take a snapshot, so a viewer joining one of its sessions would start on
a blank terminal. Replaying the recording's tail through a terminal emulator (pyte) gives the
screen it shows; ``render`` turns that into bytes that redraw it in a fresh terminal, as a
snapshot from our daemon does. The work is bounded by the tail's size and is CPU-bound: run it
in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyte
from pyte import modes
from pyte.graphics import BG_AIXTERM, BG_ANSI, FG_AIXTERM, FG_ANSI

# A few full redraws of a large screen (tmux redraws often); longer only scrolls away and costs
# time: pyte takes about a second per 150 KiB on a busy core.
TAIL_BYTES = 64 * 1024

_FG = {name: code for code, name in {**FG_ANSI, **FG_AIXTERM}.items()}
_BG = {name: code for code, name in {**BG_ANSI, **BG_AIXTERM}.items()}
_FLAGS = (("bold", 1), ("italics", 3), ("underscore", 4), ("blink", 5), ("reverse", 7),
          ("strikethrough", 9))  # fmt: skip


@dataclass(frozen=True)
class RenderedScreen:
    screen: bytes  # redraws the screen in a fresh terminal, ending with the cursor's position
    cursor_x: int
    cursor_y: int
    cursor_visible: bool


def _colour(value: str, names: dict[str, int], extended: int) -> str | None:
    if value == "default":
        return None
    if value in names:
        return str(names[value])
    # pyte keeps 256-colour and true-colour values as rrggbb.
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"{extended};2;{r};{g};{b}"


def _sgr(char: pyte.screens.Char) -> str:
    params = ["0", *(str(code) for flag, code in _FLAGS if getattr(char, flag))]
    params += [c for c in (_colour(char.fg, _FG, 38), _colour(char.bg, _BG, 48)) if c]
    return f"\x1b[{';'.join(params)}m"


def _row(screen: pyte.Screen, y: int) -> str:
    line = screen.buffer[y]
    blank = screen.default_char
    # Trailing default blanks are what a fresh terminal shows anyway.
    width = screen.columns
    while width and line[width - 1] == blank:
        width -= 1
    out: list[str] = []
    style = ""
    for x in range(width):
        char = line[x]
        if not char.data:
            continue  # the right half of a wide character drawn in the cell before
        sgr = _sgr(char)
        if sgr != style:
            out.append(sgr)
            style = sgr
        out.append(char.data)
    return "".join(out)


def render(tail: bytes, cols: int, rows: int, *, from_start: bool) -> RenderedScreen:
    """The screen after ``tail`` (the recording's last bytes; ``from_start``: all of it)."""
    if not from_start:
        # The tail may begin inside a character or an escape sequence: start at a line instead.
        cut = tail.find(b"\n")
        tail = tail[cut + 1 :] if cut >= 0 else tail
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(tail)
    out = ["\x1bc\x1b[H", "\x1b[0m\r\n".join(_row(screen, y) for y in range(rows)), "\x1b[0m"]
    top, bottom = screen.margins or (0, rows - 1)
    if (top, bottom) != (0, rows - 1):
        out.append(f"\x1b[{top + 1};{bottom + 1}r")
    if modes.DECAWM not in screen.mode:
        out.append("\x1b[?7l")
    if screen.cursor.hidden:
        out.append("\x1b[?25l")
    # A cursor just past the last column waits to wrap; a fresh terminal can only show it there.
    x, y = min(screen.cursor.x, cols - 1), screen.cursor.y
    if modes.DECOM in screen.mode:
        out.append("\x1b[?6h")  # cursor addresses are relative to the scroll region from here
        out.append(f"\x1b[{y - top + 1};{x + 1}H")
    else:
        out.append(f"\x1b[{y + 1};{x + 1}H")
    return RenderedScreen(
        screen="".join(out).encode("utf-8"),
        cursor_x=x,
        cursor_y=y,
        cursor_visible=not screen.cursor.hidden,
    )
