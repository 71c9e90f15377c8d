r"""Streaming secret redaction: the daemon masks secrets in terminal output before it leaves.

A secret becomes ``<head>[REDACTED:<kind>]``: the recognisable start (``ghp_``, ``AKIA``,
``-----BEGIN RSA PRIVATE KEY-----``) stays readable, the secret part is replaced. Everything
works on bytes, so a UTF-8 character split across reads never causes a decode error.

**Offsets.** A mask is not as long as what it hides, so redaction changes lengths. The hub
stores, acks and serves offsets of the *redacted* stream (``output_position``), never of the
raw log; ``raw_position`` is the matching raw offset, and both are consistent after every call,
which is what ``output_log.AckPoint`` persists. To resume at a raw offset after a restart, make
a new ``Redactor``, ``prime()`` it with the raw bytes just before that offset, and feed on.

**Latency.** Bytes are held back only from a *complete* head followed by nothing but
secret-body characters up to the end of the input (``sk-abc`` at the end of a read): they may be
the start of a secret whose end has not arrived. Everything else is emitted at once, including
a partial head such as ``s`` or ``gh`` ending a read, so typing and ordinary output see no added
delay. A head split across reads is still caught: the last emitted bytes are kept as context,
the head is shown, the secret part masked, with the same output as if nothing had been split.
The price is a held-back candidate (``sk-`` typed at a prompt) showing only when a non-body
byte follows. ``flush()`` releases everything, so calling it on idle trades that delay for
leaking the start of a secret that is still arriving.

**Escapes.** A run of CSI sequences (colours, erase, cursor moves) and charset designations
between two characters a token can hold (letters, digits, ``_-.+/=``) is skipped when matching,
so ``\e[31mghp_\e[0m…`` or ``grep --color`` output is caught wherever the escapes cut the token;
so is such a run at the end of a read, complete or cut off, so it cannot split a candidate. The
secret's own characters are masked and the escapes inside it are kept, after the mask, so
colours still render; every other byte passes unchanged. Escapes next to a blank or a
punctuation mark are not skipped (no token spans them, and skipping every escape would cost a
regex match per escape); a head right after one still counts as at a word boundary. Strings
(OSC, DCS, APC…) are never skipped: a hyperlink's URL can hold a token, and is matched as text.
``in_place`` masks keep the secret's length (for screens, whose rows must keep their cells).

Custom patterns (plain regex strings) have no head: the whole match is masked, and held back
only while the match reaches the end of the input, so the part of a custom secret that arrived
before the regex could match at all is emitted unmasked. Prefer ``SecretPattern`` where possible.
Held-back bytes never exceed ``max_secret_len``: a candidate that grows past it (a PEM block that
never ends) is emitted masked, and its following body bytes are dropped until one is not.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from orchestratia.agent.redaction_scan import HeadScanner
from orchestratia.protocol.tokens import SECRET_CHARS, TokenKind

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
# PEM text plus ESC/CSI bytes, so a key drawn by a full-screen program stays one candidate.
PEM_BODY = ALNUM + "+/=:,- \t\r\n\x1b[;?"
_PEM_CLASS = "[" + re.escape(PEM_BODY) + "]"
_PEM_LEAD = r"(?:\s|\x1b\[[0-9;?]*[A-Za-z])*"  # blanks and cursor/erase sequences between lines
_MAX_HEAD = 64  # heads are searched for this far before the trailing run of body bytes
_ALNUM_BYTES = frozenset(ALNUM.encode())
# Escape sequences that show no text: CSI (colours, erase, cursor moves) and nF (charset
# designations, as in tput sgr0). One-byte escapes (ESC 7, ESC M…) are rare inside text and left
# alone; ESC P, X, ], ^ and _ open strings (DCS, SOS, OSC, PM, APC), which are matched as text.
_SEQ = rb"(?>\[[\x30-\x3f]*+[\x20-\x2f]*+[\x40-\x7e]|[\x20-\x2f]++[\x30-\x7e])"
_ESCAPE = re.compile(rb"(\x1b" + _SEQ + rb")")
# A run of them between two characters a token can hold is skipped when matching; others cannot
# be inside a token, and skipping them all would cost a regex match per escape on output that is
# mostly escapes. Found at C speed: the pattern starts with the literal ESC and its lookbehind
# checks the byte before it.
_TOKEN_CHAR = rb"[A-Za-z0-9_\-.+/=]"
_JOINING = re.compile(
    rb"(\x1b(?<=" + _TOKEN_CHAR + rb"\x1b)" + _SEQ + rb"(?:\x1b" + _SEQ + rb")*+"
    rb"(?=" + _TOKEN_CHAR + rb"))"
)
# Such a run at the end of the input, possibly cut off by the end of the read: what follows is
# not known yet, so it is skipped too and cannot split a candidate.
_JOINING_TAIL = re.compile(
    rb"(?<=" + _TOKEN_CHAR + rb")(?=\x1b)(?:\x1b" + _SEQ + rb")*+"
    rb"(?:\x1b(?:\[[\x30-\x3f]*+[\x20-\x2f]*+|[\x20-\x2f]*+))?\Z"
)
_MAX_TAIL = 256  # longest such cut-off run looked for
# A head right after an escape the matcher sees (not skipped) is at a boundary too.
_CSI_END = re.compile(rb"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]\Z")
# Every token the hub issues, longest prefix first so the shown head is the whole prefix.
_HUB_TOKEN_HEAD = "|".join(re.escape(kind) for kind in sorted(TokenKind, key=len, reverse=True))


@dataclass(frozen=True)
class SecretPattern:
    """A secret with a recognisable ``head`` (a regex, shown) and a masked secret part.

    ``body`` lists every byte the secret part may contain; ``rest`` is its regex, by default
    at least ``min_len`` body bytes. ``boundary`` requires that no letter or digit precede the
    head (an escape sequence between them counts as a boundary), so ``task-…`` does not count
    as ``sk-…``; heads that no word contains (``ghp_``, ``AKIA`` before 16 capitals or digits)
    go without, so a key glued to other text (``xxxAKIA…``) is caught too.
    Heads must be shorter than 64 bytes.
    """

    kind: str
    head: str
    body: str
    min_len: int = 16
    rest: str | None = None
    boundary: bool = True


DEFAULT_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        "aws_access_key",
        r"(?:AKIA|ASIA)",
        string.ascii_uppercase + string.digits,
        boundary=False,
    ),
    SecretPattern("github_token", r"gh[pousr]_", ALNUM, min_len=36, boundary=False),
    SecretPattern("github_pat", r"github_pat_", ALNUM + "_", min_len=22, boundary=False),
    SecretPattern("anthropic_key", r"sk-ant-", B64URL, min_len=20),
    SecretPattern("openai_key", r"sk-", B64URL, min_len=20),
    SecretPattern("slack_token", r"xox[baprs]-", ALNUM + "-", min_len=10, boundary=False),
    SecretPattern("google_api_key", r"AIza", B64URL, min_len=35),
    SecretPattern("orchestratia_key", _HUB_TOKEN_HEAD, B64URL + ".", min_len=16),
    # The same tokens glued to a letter or digit (``%2Forcsh_…`` in a URL-encoded link, ``\norcs_…``
    # in JSON-escaped text): caught when the body is as long as every secret the hub makes, which
    # an identifier such as ``forc_something_long_enough`` practically never is.
    SecretPattern(
        "orchestratia_key", _HUB_TOKEN_HEAD, B64URL + ".", min_len=SECRET_CHARS, boundary=False
    ),
    SecretPattern(
        "jwt",
        r"eyJ",
        B64URL + ".",
        rest=r"[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
    ),
    SecretPattern(
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----",
        PEM_BODY,
        # Up to the END line; or, cut short, from a first base64 line (after any headers such
        # as "Proc-Type:") up to the last non-blank body byte. Demanding base64 keeps prose
        # that merely mentions a BEGIN line readable.
        rest=rf"{_PEM_CLASS}*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
        rf"|{_PEM_LEAD}(?:[A-Za-z-]+:[^\r\n]*{_PEM_LEAD})*[A-Za-z0-9+/=]{{16}}"
        rf"{_PEM_CLASS}*[A-Za-z0-9+/=]",
        boundary=False,
    ),
)


@lru_cache(maxsize=64)
def _marks(body: bytes) -> bytes:
    return bytes(int(byte not in body) for byte in range(256))


@lru_cache(maxsize=16)
def _scanner(heads: tuple[tuple[int, str, re.Pattern[bytes], bool], ...]) -> HeadScanner:
    return HeadScanner(heads)  # views and approvals make a Redactor per call: built once


class _Rule:
    """A compiled pattern: group 1 is the shown head, group 2 the masked secret."""

    head: re.Pattern[bytes] | None = None  # None for custom regexes: no head, no candidates
    source = ""  # the head's regex
    body: bytes = b""
    run: re.Pattern[bytes] | None = None  # a run of body bytes, to drop after a forced mask
    boundary = False

    def __init__(self, pattern: SecretPattern | str) -> None:
        if isinstance(pattern, str):
            self.kind = "custom"
            self.full = re.compile(f"()({pattern})".encode())
        else:
            head = f"(?:{pattern.head})"
            self.boundary = pattern.boundary
            body_class = "[" + re.escape(pattern.body) + "]"
            secret = pattern.rest or f"{body_class}{{{pattern.min_len},}}"
            self.kind = pattern.kind
            self.full = re.compile(f"({head})({secret})".encode())
            self.source = head
            self.head = re.compile(head.encode())
            self.body = pattern.body.encode()
            self.run = re.compile((body_class + "*").encode())
            # Body bytes to 0, others to 1: finds where a trailing run of body bytes starts.
            self._marks = _marks(self.body)
        self.mask = f"[REDACTED:{self.kind}]".encode()

    def run_start(self, text: bytes) -> int:
        """Where the run of body bytes that ends ``text`` starts (``rstrip``, at C speed even
        for the PEM body, which holds nearly every byte of a line)."""
        end, step = len(text), 256
        if not end or text[-1] not in self.body:
            return end
        while end:
            low = max(0, end - step)
            last = text[low:end].translate(self._marks).rfind(1)
            if last >= 0:
                return low + last + 1
            end, step = low, step * 4
        return 0

    def hide(self, secret: bytes, in_place: bool) -> bytes:
        """The mask for the raw bytes of a secret part, its escape sequences kept after it.

        ``in_place``: one mask byte per secret byte (the mask, cut or padded with ``*``), in
        the secret's own positions, so a screen's rows keep their layout.
        """
        parts = _ESCAPE.split(secret)
        if not in_place:
            return self.mask + b"".join(parts[1::2])
        size = sum(map(len, parts[0::2]))
        fill = self.mask.ljust(size, b"*") if size >= len(self.mask) else b"*" * size
        out, used = bytearray(), 0
        for index, part in enumerate(parts):
            if index % 2:
                out += part
            else:
                out += fill[used : used + len(part)]
                used += len(part)
        return bytes(out)


class _View:
    """The input as matched, escape sequences left out (``text``), and the way back to raw.

    Built for every read, so it stays cheap: no escape, no copy; else one C-level split, and
    the offset tables only when a match needs them.
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

    def joins(self) -> list[int]:
        """Offsets in ``text`` right after skipped escapes, before its end."""
        if len(self._parts) == 1:
            return []
        joins = self._tables()[1:]
        return joins[:-1] if joins[-1] == len(self.text) else joins

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


class Redactor:
    """Masks secrets in a byte stream fed in arbitrary pieces; see the module docstring."""

    def __init__(
        self,
        patterns: Sequence[str | SecretPattern] | None = None,
        *,
        defaults: bool = True,
        max_secret_len: int = 16 * 1024,
        context_len: int = 512,
        in_place: bool = False,
    ) -> None:
        """``patterns`` are added to ``DEFAULT_PATTERNS`` unless ``defaults`` is False.
        ``in_place``: masks keep the secret's length (see ``_Rule.hide``), for screens."""
        specs = [*(DEFAULT_PATTERNS if defaults else ()), *(patterns or ())]
        self._rules = [_Rule(p) for p in specs]
        self._scanner = _scanner(
            tuple(
                (i, rule.source, rule.head, rule.boundary)
                for i, rule in enumerate(self._rules)
                if rule.head
            )
        )
        self.in_place = in_place
        self.max_secret_len = max_secret_len
        self.context_len = max(context_len, 2 * _MAX_HEAD)
        self.counts: Counter[str] = Counter()  # redactions per kind, for the audit log
        self.output_position = 0  # bytes emitted: offsets the hub sees
        self._fed = 0
        self._pending = b""
        self._context = b""  # last emitted raw bytes, secrets blanked; see module docstring
        self._swallow: re.Pattern[bytes] | None = None

    @property
    def raw_position(self) -> int:
        """Raw bytes fully accounted for by the output so far (fed minus held back)."""
        return self._fed - len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def prime(self, context: bytes) -> None:
        """Seed the context with the raw bytes just before where this redactor starts."""
        self._context = context[-self.context_len :]

    def feed(self, data: bytes) -> bytes:
        """Bytes safe to emit now; a possible secret still arriving at the end is held back."""
        return self._process(data, final=False)

    def flush(self) -> bytes:
        """Everything held back, complete secrets masked (end of stream, or on idle)."""
        return self._process(b"", final=True)

    def redact(self, data: bytes) -> bytes:
        """``data`` whole, as one final piece: nothing is held back or cut short."""
        return self._process(data, final=True)

    def _process(self, data: bytes, final: bool) -> bytes:
        self._fed += len(data)
        pending = self._pending + data
        if self._swallow is not None and pending:
            run = self._swallow.match(pending)
            pending = pending[run.end() if run else 0 :]
            if pending:  # a byte that cannot be in the secret: it is over
                self._swallow = None
        window = self._context + pending
        base, n = len(self._context), len(window)
        # Matching runs on the text (offsets in it: *_at) and cuts the raw window (the rest).
        view = _View(window)
        size = len(view.text)
        hits = self._scanner.hits(view.text, view.joins())
        matches = _Matches(self._rules, hits, view)
        # Matches from the candidate on may still change (a longer token, a PEM END line that
        # has not arrived), so they wait with it even if one happens to end before the input.
        candidate_at, hold_rule = (size, None) if final else matches.candidate()
        hold = max(view.raw_at(candidate_at), base)
        out: list[bytes] = []
        masked: list[tuple[int, int]] = []  # raw spans blanked in the context
        cur, pos = base, 0  # matches may start in the context: a head split across reads
        while pos <= size:
            match, rule = matches.next(pos)
            if match is None or rule is None or match.start() >= candidate_at:
                break
            start_at, end_at = match.start(), match.end()
            end = view.raw_after(end_at)
            if end <= base or end_at == start_at:  # already handled as context, or empty
                pos = max(end_at, start_at + 1)
                continue
            if end_at == size and not final:  # a custom match may still grow
                hold, hold_rule = max(view.raw_at(start_at), base), rule
                break
            # Escapes before the secret's first character stay before the mask.
            head_end = max(view.raw_at(match.end(1)), cur)
            out += (window[cur:head_end], rule.hide(window[head_end:end], self.in_place))
            masked.append((head_end, end))
            self.counts[rule.kind] += 1
            cur, pos = end, end_at
        hold = max(hold, cur)
        out.append(window[cur:hold])
        if n - hold > self.max_secret_len and hold_rule is not None:
            # Too long to wait for: mask what we have; drop the rest of its body as it comes.
            head = hold_rule.head.match(window, hold) if hold_rule.head else None
            out += (window[hold : head.end()] if head else b"", hold_rule.mask)
            masked.append((hold, n))
            self.counts[hold_rule.kind] += 1
            self._swallow = hold_rule.run
            hold = n
        self._pending = window[hold:]
        self._context = _blanked(window, max(0, hold - self.context_len), hold, masked)
        emitted = b"".join(out)
        self.output_position += len(emitted)
        return emitted


def _blanked(window: bytes, low: int, high: int, masked: list[tuple[int, int]]) -> bytes:
    """``window[low:high]`` with the masked spans zeroed, so a secret is not matched again."""
    context = window[low:high]
    spans = [(max(a, low), min(b, high)) for a, b in masked if a < high and b > low]
    if not spans:
        return context
    blank = bytearray(context)
    for a, b in spans:
        blank[a - low : b - low] = bytes(b - a)
    return bytes(blank)


class _Matches:
    """The matches of one window, leftmost first, and its candidate (see ``Redactor``).

    Rules with a head are tried only where the scanner saw one (``hits``, in order); custom
    regexes search on their own. On a tie the earlier rule wins (sk-ant- before sk-)."""

    def __init__(self, rules: list[_Rule], hits: list[tuple[int, int]], view: _View) -> None:
        self._rules, self._hits, self._view = rules, hits, view
        self._next_hit = 0
        self._headed: tuple[re.Match[bytes] | None, int] | None = None  # None: look again
        self._custom = [index for index, rule in enumerate(rules) if rule.head is None]
        self._found: dict[int, re.Match[bytes] | None] = {}  # the last match of each custom rule

    def next(self, pos: int) -> tuple[re.Match[bytes] | None, _Rule | None]:
        """The leftmost match starting at ``pos`` or later (``pos`` never goes back)."""
        if self._headed is None or (self._headed[0] and self._headed[0].start() < pos):
            self._headed = self._first_headed(pos)
        best, best_index = self._headed
        for index in self._custom:
            match = self._found.get(index)
            if index not in self._found or (match is not None and match.start() < pos):
                match = self._found[index] = self._rules[index].full.search(self._view.text, pos)
            if match is not None and (
                best is None or (match.start(), index) < (best.start(), best_index)
            ):
                best, best_index = match, index
        return (best, self._rules[best_index]) if best is not None else (None, None)

    def _first_headed(self, pos: int) -> tuple[re.Match[bytes] | None, int]:
        hits, text, view = self._hits, self._view.text, self._view
        i = self._next_hit
        while i < len(hits) and hits[i][0] < pos:
            i += 1
        self._next_hit = i
        for start, index in hits[i:]:
            rule = self._rules[index]
            if not rule.boundary or view.at_boundary(start):
                match = rule.full.match(text, start)
                if match is not None:
                    return match, index
        return None, -1

    def candidate(self) -> tuple[int, _Rule | None]:
        """The leftmost complete head followed only by body bytes up to the end of the text."""
        text, view = self._view.text, self._view
        runs: dict[int, int] = {}  # rule index: where the trailing run of its body starts
        for start, index in self._hits:
            rule = self._rules[index]
            run = runs.get(index)
            if run is None:
                run = runs[index] = rule.run_start(text)
            if start < run - _MAX_HEAD:
                continue
            head = rule.head.match(text, start) if rule.head else None
            if head is not None and head.end() >= run:
                if not rule.boundary or view.at_boundary(start):
                    return start, rule
        return len(text), None
