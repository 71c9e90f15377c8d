"""A pane's screen as tmux reports it, and the bytes that redraw it in a fresh terminal.

``capture-pane -e`` gives the visible lines with SGR escapes; the ``display`` format below adds
the cursor, the scroll region and the modes a redraw must restore. ``TmuxServer.capture_snapshot``
runs both in one tmux command list so they describe the same moment.
"""

from __future__ import annotations

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


def snapshot_commands(target: str) -> list[str]:
    """The tmux command list (``;``-separated argv) whose output ``parse_snapshot`` reads."""
    return [
        *("display", "-p", "-t", target, SNAPSHOT_FORMAT, ";"),
        *("capture-pane", "-p", "-e", "-N", "-t", target, ";"),
        *(
            "if-shell",
            "-F",
            "-t",
            target,
            "#{alternate_on}",
            f"capture-pane -a -p -e -N -t {target}",
        ),
    ]


def parse_snapshot(out: str) -> Snapshot:
    """The ``Snapshot`` in the output of ``snapshot_commands``."""
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
