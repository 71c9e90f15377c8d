"""When a delivery may be typed: the human's input line is empty and (for normal ones) the
terminal has been quiet for a while. Both are judged from what the daemon sees, with no help
from the program in the session.

**The human's line** (``HumanLine``) follows the bytes viewers type. Printable input makes the
line dirty; Enter (CR or LF), Ctrl-C and Ctrl-U clear it, and backspacing over every character
typed does too. Anything whose effect on the line cannot be known leaves it dirty until one of
those: history recall (up/down), Alt-key edits, Tab after text, Ctrl-W, anything pasted. Keys
that never put text on the line are ignored: cursor moves on an empty line, focus reports,
mouse reports, the bracketed-paste markers themselves. A lone ESC at the end of a chunk is the
Escape key (terminals send it alone), so the next chunk starts afresh. Dirty is the safe side:
a delivery waits for the human's Enter rather than being typed into the middle of a sentence.

**Quiet** (``QuietWatch``) is judged from the size of the session's output log, which grows
whenever the program writes anything (a spinner, a redraw, an echo) and never shrinks. If the
size has not changed since it was last seen to change, no byte came in between, so the quiet
period runs from that last change, however long ago, even across deliveries.
"""

from __future__ import annotations

_CSI_MAX = 32  # longer "sequences" are garbage: give up and read bytes as keys again


class HumanLine:
    """Whether a viewer has left a half-typed line in one session's input."""

    def __init__(self) -> None:
        self.chars = 0  # characters typed since the line was last empty
        self.unknown = False  # something changed the line in a way we cannot count
        self._paste = False
        self._state = "ground"  # ground, esc, csi, ss3, mouse
        self._csi = bytearray()
        self._mouse_left = 0

    @property
    def dirty(self) -> bool:
        return self.unknown or self.chars > 0

    def clear(self) -> None:
        self.chars, self.unknown = 0, False

    def feed(self, data: bytes) -> None:
        """Account for ``data`` typed by a viewer."""
        for byte in data:
            if self._state == "ground":
                self._key(byte)
            elif self._state == "esc":
                self._after_esc(byte)
            elif self._state == "csi":
                self._in_csi(byte)
            elif self._state == "ss3":
                self._state = "ground"
                if byte in b"AB":
                    self._recall()
            else:  # mouse: X10 reports carry three raw bytes
                self._mouse_left -= 1
                if self._mouse_left <= 0:
                    self._state = "ground"
        if self._state == "esc":
            self._state = "ground"

    def _key(self, byte: int) -> None:
        if byte == 0x1B:
            self._state = "esc"
        elif self._paste:
            self.unknown = True  # pasted text, newlines and all, sits on the line
        elif byte in (0x0D, 0x0A, 0x03, 0x15):  # Enter, Ctrl-C, Ctrl-U
            self.clear()
        elif byte in (0x7F, 0x08):  # backspace
            if self.chars > 0:
                self.chars -= 1
        elif byte in (0x09, 0x17):  # Tab completes, Ctrl-W deletes a word: uncountable
            if self.dirty:
                self.unknown = True
        elif 0x20 <= byte < 0x7F or byte >= 0xC0:  # printable, or a UTF-8 lead byte
            self.chars += 1

    def _after_esc(self, byte: int) -> None:
        if byte == ord("["):
            self._state, self._csi = "csi", bytearray()
        elif byte == ord("O"):
            self._state = "ss3"
        elif byte == 0x1B:
            pass  # Escape pressed twice; the second may still start a sequence
        else:  # Alt+key: word edits, Alt+Enter inserting a newline, ...
            self._state = "ground"
            self.unknown = True

    def _in_csi(self, byte: int) -> None:
        if 0x40 <= byte <= 0x7E:
            self._state = "ground"
            self._csi_done(bytes(self._csi), chr(byte))
        elif len(self._csi) >= _CSI_MAX:
            self._state = "ground"
        else:
            self._csi.append(byte)

    def _csi_done(self, params: bytes, final: str) -> None:
        if final == "~" and params in (b"200", b"201"):
            self._paste = params == b"200"
        elif final == "M" and not params:
            self._state, self._mouse_left = "mouse", 3
        elif final in "AB" and not params.startswith(b"<"):
            self._recall()
        elif final == "u":  # kitty keyboard protocol: key code first
            code = params.split(b";", 1)[0]
            if code == b"13":
                self.clear()
            elif code != b"27":
                self.unknown = True
        # Anything else (left/right, home/end, delete, focus, SGR mouse) adds no text.

    def _recall(self) -> None:
        # Up/down recall history in shells and agent CLIs: the line now holds something.
        self.unknown = True


class QuietWatch:
    """How long a session's output has been quiet, from a mark that grows with every write."""

    def __init__(self, mark: int, now: float) -> None:
        self.mark = mark
        self.changed_at = now

    def observe(self, mark: int, now: float) -> None:
        if mark != self.mark:
            self.mark, self.changed_at = mark, now

    def quiet_for(self, now: float) -> float:
        return now - self.changed_at
