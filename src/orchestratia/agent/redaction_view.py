"""The input as the secret matcher sees it: escape sequences inside tokens left out.

See "Escapes" in ``redaction``: a run of CSI and charset sequences between two characters a
token can hold is skipped, and so is such a run cut off by the end of the read.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_right
from itertools import accumulate

_ALNUM_BYTES = frozenset(string.ascii_letters.encode() + string.digits.encode())
# Escape sequences that show no text: CSI (colours, erase, cursor moves) and nF (charset
# designations, as in tput sgr0). One-byte escapes (ESC 7, ESC M…) are rare inside text and left
# alone; ESC P, X, ], ^ and _ open strings (DCS, SOS, OSC, PM, APC), which are matched as text.
SEQ = rb"(?>\[[\x30-\x3f]*+[\x20-\x2f]*+[\x40-\x7e]|[\x20-\x2f]++[\x30-\x7e])"
# A run of them between two characters a token can hold is skipped when matching; others cannot
# be inside a token, and skipping them all would cost a regex match per escape on output that is
# mostly escapes. Found at C speed: the pattern starts with the literal ESC and its lookbehind
# checks the byte before it.
_TOKEN_CHAR = rb"[A-Za-z0-9_\-.+/=]"
_JOINING = re.compile(
    rb"(\x1b(?<=" + _TOKEN_CHAR + rb"\x1b)" + SEQ + rb"(?:\x1b" + SEQ + rb")*+"
    rb"(?=" + _TOKEN_CHAR + rb"))"
)
# Such a run at the end of the input, possibly cut off by the end of the read: what follows is
# not known yet, so it is skipped too and cannot split a candidate.
_JOINING_TAIL = re.compile(
    rb"(?<=" + _TOKEN_CHAR + rb")(?=\x1b)(?:\x1b" + SEQ + rb")*+"
    rb"(?:\x1b(?:\[[\x30-\x3f]*+[\x20-\x2f]*+|[\x20-\x2f]*+))?\Z"
)
_MAX_TAIL = 256  # longest such cut-off run looked for
# A head right after an escape the matcher sees (not skipped) is at a boundary too.
_CSI_END = re.compile(rb"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]\Z")


class View:
    """The input as matched, escape sequences left out (``text``), and the way back to raw.

    Built for every read with a head in it, so it stays cheap: no escape, no copy; else one
    C-level split, and the offset tables only when a match needs them.
    """

    def __init__(self, raw: bytes) -> None:
        parts = _JOINING.split(raw) if b"\x1b" in raw else [raw]
        last = parts[-1]
        tail = (
            _JOINING_TAIL.search(last, max(0, len(last) - _MAX_TAIL))
            if len(parts) > 1 or b"\x1b" in last
            else None
        )
        if tail is not None:
            parts[-1:] = [last[: tail.start()], last[tail.start() :], b""]
        self._parts = parts
        self.text = raw if len(parts) == 1 else b"".join(parts[0::2])
        self._starts: list[int] = []  # offset in text of each text part
        self._raw_starts: list[int] = []  # offset in raw of each text part
        self._joins: frozenset[int] | None = None  # offsets in text right after skipped escapes

    def _tables(self) -> list[int]:
        if not self._starts:
            lengths = list(map(len, self._parts))
            ends = list(accumulate(lengths))
            self._raw_starts = [
                end - size for end, size in zip(ends[0::2], lengths[0::2], strict=True)
            ]
            self._starts = [0, *accumulate(lengths[0:-1:2])]
        return self._starts

    def text_at(self, raw: int) -> int:
        """Offset in ``text`` of the raw byte at ``raw``, or of the next one kept if it was
        skipped."""
        if len(self._parts) == 1:
            return raw
        starts = self._tables()
        index = max(0, bisect_right(self._raw_starts, raw) - 1)
        end = starts[index + 1] if index + 1 < len(starts) else len(self.text)
        return min(starts[index] + raw - self._raw_starts[index], end)

    def _part(self, pos: int) -> int:
        return bisect_right(self._tables(), pos) - 1

    def raw_at(self, pos: int) -> int:
        """Raw offset of ``text[pos]``: after the escapes before it."""
        if len(self._parts) == 1:
            return pos
        index = self._part(pos)
        return self._raw_starts[index] + pos - self._starts[index]

    def raw_after(self, pos: int) -> int:
        """Raw offset right after ``text[pos - 1]``: before the escapes that follow it."""
        if len(self._parts) == 1 or pos == 0:
            return pos
        index = self._part(pos - 1)
        return self._raw_starts[index] + pos - self._starts[index]

    def at_boundary(self, pos: int) -> bool:
        """No letter or digit right before ``text[pos]``, or an escape sequence between them:
        coloured output puts ``\x1b[31m`` straight before a token."""
        if pos == 0 or self.text[pos - 1] not in _ALNUM_BYTES:
            return True
        if len(self._parts) > 1:
            if self._joins is None:
                self._joins = frozenset(self._tables()[1:])
            if pos in self._joins:
                return True
        # A CSI sequence ends in a letter and holds no ESC but its first byte.
        esc = self.text.rfind(b"\x1b", max(0, pos - 32), pos) if self.text[pos - 1] >= 0x40 else -1
        return esc >= 0 and _CSI_END.match(self.text, esc, pos) is not None
