"""A pane's screen as tmux reports it, and the bytes that redraw it in a fresh terminal.

``capture-pane -e`` gives the visible lines with SGR escapes; the ``display`` format below adds
the cursor, the scroll region and the modes a redraw must restore. ``TmuxServer.capture_snapshot``
runs all in one tmux command list so they describe the same moment.

Secrets are masked on the *logical* lines (``sessions.views``): a token the terminal wrapped over
two rows is one line to the matcher. tmux does not report which rows wrap, so the same screen is
captured again with wrapped rows joined (``-J``) and the two are aligned. Rows of history just
above the screen come too, so a secret whose start has scrolled off is still recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
SNAPSHOT_FORMAT = ",".join(f"#{{{v}}}" for v in (*_GEOMETRY.split(), *_FLAGS))
HISTORY_ROWS = 64  # above the screen: a wrapped token or a PEM key whose start scrolled off
# What tmux's -e output may hold: SGR (CSI), hyperlinks (OSC 8), charset designations.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-~]")


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
    above: tuple[str, ...]  # history rows above the normal screen, not drawn (see module doc)
    # For each row of ``above`` then the normal screen (``saved_text`` if the alternate one is
    # on, else ``text``): does it continue on the next row? And the same for the alternate one.
    wrapped: tuple[bool, ...]
    alternate_wrapped: tuple[bool, ...]

    @property
    def normal_text(self) -> str:
        return self.saved_text if self.saved_text is not None else self.text

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


def snapshot_commands(target: str, marker: str) -> list[str]:
    """The tmux command list (``;``-separated argv) whose output ``parse_snapshot`` reads.

    Each screen is captured as rows with escapes, then as plain text with wrapped rows joined;
    ``marker`` (a nonce the pane cannot guess) is printed between the parts.
    """
    history = f"-{HISTORY_ROWS}"
    saved = (
        f"display -p {marker} ; capture-pane -a -p -e -N -t {target} ; "
        f"display -p {marker} ; capture-pane -a -p -J -N -t {target}"
    )
    return [
        *("display", "-p", "-t", target, SNAPSHOT_FORMAT, ";"),
        *("capture-pane", "-p", "-e", "-N", "-S", history, "-t", target, ";"),
        *("display", "-p", marker, ";"),
        *("capture-pane", "-p", "-J", "-N", "-S", history, "-t", target, ";"),
        *("if-shell", "-F", "-t", target, "#{alternate_on}", saved),
    ]


def parse_snapshot(out: str, marker: str) -> Snapshot:
    """The ``Snapshot`` in the output of ``snapshot_commands``."""
    head, _, rest = out.partition("\n")
    values = head.split(",")
    x, y, cols, rows, top, bottom = (int(v) for v in values[:6])
    on = frozenset(flag for flag, v in zip(_FLAGS, values[6:], strict=True) if v == "1")
    # Every captured line ends with "\n", the marker's too.
    parts = [part.split("\n")[:-1] for part in rest.split(marker + "\n")]
    screen, flags = parts[0], wrapped_rows(parts[0], parts[1])
    above = screen[:-rows]
    saved: list[str] | None = None
    wrapped, alternate_wrapped = flags, flags[:0]
    if "alternate_on" in on:
        # The history belongs to the normal screen, behind the alternate one: whether its last
        # row continues there is unknown, so it counts as wrapped (the matcher sees more).
        saved, alternate_wrapped = parts[2], flags[len(above) :]
        history = (*flags[: len(above) - 1], True) if above else ()
        wrapped = history + wrapped_rows(saved, parts[3])
    return Snapshot(
        text="\n".join(screen[-rows:]),
        saved_text=None if saved is None else "\n".join(saved),
        cursor_x=x, cursor_y=y, cols=cols, rows=rows, scroll_top=top, scroll_bottom=bottom,
        alternate_on="alternate_on" in on, cursor_visible="cursor_flag" in on, modes=on,
        above=tuple(above), wrapped=wrapped, alternate_wrapped=alternate_wrapped,
    )  # fmt: skip


def wrapped_rows(rows: list[str], joined: list[str]) -> tuple[bool, ...]:
    """Which ``rows`` continue on the next one, given the same rows with wrapped ones joined.

    If the two do not line up (a capture tmux renders differently), every row counts as
    wrapped: the matcher then sees the screen as one line, which can only mask more.
    """
    flags: list[bool] = []
    plain = (_ESCAPES.sub("", row) for row in rows)
    for line in joined:
        taken = ""
        for row in plain:
            taken += row
            flags.append(len(taken) < len(line))
            if not flags[-1]:
                break
        if taken != line:
            break
    else:
        if len(flags) == len(rows):
            return tuple(flags)
    return (True,) * (len(rows) - 1) + (False,) if rows else ()
