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

**Cost.** One pass of an RE2 DFA over each read finds every rule's head at once
(``redaction_scan``); a rule's own regex runs only where its head is, and a read with no head
in it is emitted as it is, without building its escape-free text. Custom regexes (and heads
too intricate to read as literals) search the text themselves, a pass each.

Custom patterns (plain regex strings) have no head: the whole match is masked, and held back
only while the match reaches the end of the input, so the part of a custom secret that arrived
before the regex could match at all is emitted unmasked. Prefer ``SecretPattern`` where possible.
Held-back bytes never exceed ``max_secret_len``: a candidate that grows past it (a PEM block that
never ends) is emitted masked, and its following body bytes are dropped until one is not.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from orchestratia.agent.redaction_scan import MAX_HEAD, HeadScanner, Matches
from orchestratia.agent.redaction_view import SEQ, View
from orchestratia.protocol.tokens import SECRET_CHARS, TokenKind

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
# PEM text plus ESC/CSI bytes, so a key drawn by a full-screen program stays one candidate.
PEM_BODY = ALNUM + "+/=:,- \t\r\n\x1b[;?"
_PEM_CLASS = "[" + re.escape(PEM_BODY) + "]"
_PEM_LEAD = r"(?:\s|\x1b\[[0-9;?]*[A-Za-z])*"  # blanks and cursor/erase sequences between lines
_ESCAPE = re.compile(rb"(\x1b" + SEQ + rb")")
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
        if not in_place and b"\x1b" not in secret:
            return self.mask
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
        # Custom regexes, and heads the scanner has no literals for, search the text themselves.
        self._custom = any(rule.head is None for rule in self._rules)
        self._scanner = _scanner(
            tuple(
                (i, rule.source, rule.head, rule.boundary)
                for i, rule in enumerate(self._rules)
                if rule.head
            )
        )
        self._custom = self._custom or bool(self._scanner.searched)
        self.in_place = in_place
        self.max_secret_len = max_secret_len
        self.context_len = max(context_len, 2 * MAX_HEAD)
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
        out: list[bytes] = []
        masked: list[tuple[int, int]] = []  # raw spans blanked in the context
        places = self._scanner.places(window)
        if places or self._custom:
            hold, hold_rule = self._mask(window, base, places, final, out, masked)
        else:  # no head anywhere, no custom regex: nothing to mask or to wait for
            hold, hold_rule = n, None
            out.append(window[base:])
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

    def _mask(
        self,
        window: bytes,
        base: int,
        places: list[int],
        final: bool,
        out: list[bytes],
        masked: list[tuple[int, int]],
    ) -> tuple[int, _Rule | None]:
        """Appends ``window[base:hold]``, secrets masked, to ``out``; returns ``hold``, where
        what must wait starts, and the rule of the candidate there."""
        # Matching runs on the text (offsets in it: *_at) and cuts the raw window (the rest).
        view = View(window)
        size = len(view.text)
        matches = Matches(self._rules, self._scanner.hits(view.text, places, view.text_at), view)
        # Matches from the candidate on may still change (a longer token, a PEM END line that
        # has not arrived), so they wait with it even if one happens to end before the input.
        candidate_at, hold_rule = (size, None) if final else matches.candidate()
        hold = max(view.raw_at(candidate_at), base)
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
        return hold, hold_rule


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
