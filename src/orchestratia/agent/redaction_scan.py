"""Where a secret may start: every rule's head found in one pass of a DFA over the raw input.

Searching each rule's regex over each read costs a pass per rule (a ``re`` pass reads about a
byte a cycle, and stops at every occurrence of the regex's first byte: the ``s`` of ``sk-``, the
``e`` of ``eyJ``). Instead each head is read as the set of literal strings its matches start
with (``gh[pousr]_`` → ``ghp_``, ``gho_``…), and one RE2 regex, whose DFA reads the input once
whatever the number of rules, finds them all. It reads the raw bytes, escape sequences allowed
between a literal's characters, so a read with no head in it is emitted without building its
escape-free text at all. A head this reader cannot turn into literals is searched in the text
with its own regex, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from orchestratia.agent.redaction_view import View

MAX_HEAD = 64  # heads are searched for this far before the trailing run of body bytes
_MAX_LITERALS = 64  # a head that would expand to more is cut before the part that does
_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d*,?\d*\})[?+]?")


class _Unreadable(ValueError):
    pass


def head_literals(head: str) -> list[bytes] | None:
    """Literal strings one of which starts every match of the regex ``head``, or None when
    that is not known (a match may start with anything, or the regex is beyond this reader).

    Reads literal characters, escaped punctuation, classes of plain characters and groups of
    alternatives; stops before anything else (a quantifier, ``.``, ``\\d``, a lookaround)."""
    try:
        found, _, end = _alternatives(head, 0)
    except (_Unreadable, IndexError):
        return None
    if end != len(head) or not found or "" in found:
        return None
    return sorted({literal.encode() for literal in found})


def _alternatives(rx: str, i: int) -> tuple[list[str], bool, int]:
    # Prefixes of the alternatives from rx[i] up to ")" or the end; whether each is a whole
    # alternative (so what follows the group may be appended); where they end.
    found: list[str] = []
    whole = True
    while True:
        prefixes, complete, i = _sequence(rx, i)
        found += prefixes
        whole = whole and complete
        if i == len(rx) or rx[i] != "|":
            return found, whole, i
        i += 1


def _sequence(rx: str, i: int) -> tuple[list[str], bool, int]:
    prefixes, complete = [""], True
    while i < len(rx) and rx[i] not in "|)":
        choices, whole, after = _atom(rx, i)
        quantifier = _QUANTIFIER.match(rx, after)
        end = quantifier.end() if quantifier else after
        if complete:
            if choices is None or quantifier or len(prefixes) * len(choices) > _MAX_LITERALS:
                complete = False
            else:
                prefixes = [prefix + choice for prefix in prefixes for choice in choices]
                complete = whole
        i = end
    return prefixes, complete, i


def _atom(rx: str, i: int) -> tuple[list[str] | None, bool, int]:
    # The literal choices of the atom at rx[i] (None: not literal), whether they are whole,
    # and where it ends.
    char = rx[i]
    if char == "(":
        if rx.startswith("(?:", i) or not rx.startswith("(?", i):
            found, whole, end = _alternatives(rx, i + (3 if rx[i + 1] == "?" else 1))
            if rx[end] != ")":
                raise _Unreadable(rx)
            return found, whole, end + 1
        return None, False, _group_end(rx, i)
    if char == "[":
        end = _class_end(rx, i)
        members, j = set(), i + 1
        while j < end - 1:
            escaped = rx[j] == "\\"
            member = rx[j + escaped]
            j += 1 + escaped
            if (escaped and member.isalnum()) or member in "^-[" or not member.isascii():
                return None, False, end  # \d, a range, a negation…
            members.add(member)
        return sorted(members), True, end
    if char == "\\":
        char = rx[i + 1]
        if char.isascii() and not char.isalnum():
            return [char], True, i + 2
        return None, False, i + 2  # \d, \b, \x1b…: what follows the two is plain characters
    if char in ".^$*+?{" or not char.isascii():
        return None, False, i + 1
    return [char], True, i + 1


def _class_end(rx: str, i: int) -> int:
    j = i + 1
    if rx[j] == "^":
        j += 1
    if rx[j] == "]":
        j += 1
    while rx[j] != "]":
        j += 2 if rx[j] == "\\" else 1
    return j + 1


def _group_end(rx: str, i: int) -> int:
    depth, j = 0, i
    while True:
        if rx[j] == "\\":
            j += 2
            continue
        if rx[j] == "[":
            j = _class_end(rx, j)
            continue
        depth += {"(": 1, ")": -1}.get(rx[j], 0)
        j += 1
        if depth == 0:
            return j


class HeadScanner:
    """Where rules' heads may start: a superset, which the rules' own regexes decide.
    ``heads``: each head rule's index, head regex, compiled head, and whether it needs a word
    boundary."""

    def __init__(self, heads: Sequence[tuple[int, str, re.Pattern[bytes], bool]]) -> None:
        rules_of: dict[bytes, set[int]] = {}
        self.searched: list[tuple[int, re.Pattern[bytes]]] = []  # heads with no literals
        for index, source, compiled, _ in heads:
            literals = head_literals(source)
            if literals is None:
                self.searched.append((index, compiled))
            for literal in literals or ():
                rules_of.setdefault(literal, set()).add(index)
        # A literal that starts with another adds no place to look: its rules look there.
        for literal in sorted(rules_of, key=len):
            shorter = [
                other for other in rules_of if other != literal and literal.startswith(other)
            ]
            if shorter:
                rules_of[shorter[0]] |= rules_of.pop(literal)
        bounded = {index for index, _, _, boundary in heads if boundary}
        # No literal starts another now, so at most one is found at any place.
        self._rules_of = {literal: sorted(rules) for literal, rules in rules_of.items()}
        self._literal = re.compile(b"|".join(map(re.escape, rules_of)) or b"(?!)")
        self._search = _search(
            [(b"" if rules - bounded else _GUARD) + _spread(literal)
             for literal, rules in rules_of.items()]
        )  # fmt: skip

    def places(self, raw: bytes) -> list[int]:
        """Raw offsets where a head may start (or the guard before one: 1 or 2 text bytes)."""
        found: list[int] = []
        if self._search is not None:
            start = self._search(_UNANCHORED, raw, 0, len(raw))[0][0]
            while start >= 0:
                found.append(start)
                start = self._search(_UNANCHORED, raw, start + 1, len(raw))[0][0]
        return found

    def hits(
        self, text: bytes, places: list[int], text_at: Callable[[int], int]
    ) -> list[tuple[int, int]]:
        """Every ``(start, rule index)`` where a head may start in ``text``, sorted. ``places``
        from ``places()`` on the raw bytes; ``text_at`` maps a raw offset to the text."""
        # A head starts after its place's guard: 0 to 2 text bytes after it.
        starts = sorted({start + guard for start in map(text_at, places) for guard in (0, 1, 2)})
        found: list[tuple[int, int]] = []
        for start in starts:
            literal = self._literal.match(text, start)
            if literal is not None:
                found += [(start, index) for index in self._rules_of[literal.group()]]
        for index, head in self.searched:
            match = head.search(text)
            while match is not None:
                found.append((match.start(), index))
                match = head.search(text, match.start() + 1)
        return sorted(found)


# Escape sequences the text may leave out between two characters of a token: ``_SEQ`` of
# ``redaction_view`` in RE2 syntax (no possessive quantifiers, which only save time there).
_ESCAPES = rb"(?:\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]|[\x20-\x2f]+[\x30-\x7e]))*"
# Before a head of boundary rules: the start, a byte that is no letter or digit, or two text
# bytes that may end an escape sequence (a final byte after '[', a parameter or an intermediate
# byte), skipped escapes allowed between them: necessary for ``View.at_boundary``, which also
# sees a CSI where the text joins an unfinished one to a letter over skipped escapes
# (``\x1b[1`` ``\x1b[m`` ``x``). It keeps ``task-…`` out.
_GUARD = rb"(?:^|[^0-9A-Za-z]|[\x20-\x3f\[]" + _ESCAPES + rb"[\x30-\x7e])"


def _spread(literal: bytes) -> bytes:
    return _ESCAPES.join(re2.escape(literal[i : i + 1]) for i in range(len(literal)))


def _search(alternatives: list[bytes]) -> Any:
    """The compiled regex's own search: ``(anchor, text, pos, endpos)`` to the match's span
    first in a list, ``(-1, -1)`` if none. The module's ``search`` wraps it in a generator and
    a match object, which cost more than the search itself when heads are frequent."""
    if not alternatives:
        return None
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # bytes, not UTF-8: any byte is one character
    options.never_capture = True
    options.log_errors = False
    return re2.compile(b"|".join(alternatives), options)._regexp.Match


_UNANCHORED = re2._Anchor.UNANCHORED


class Rule(Protocol):
    head: re.Pattern[bytes] | None  # None for custom regexes, which search on their own
    full: re.Pattern[bytes]  # group 1 the head, group 2 the secret
    boundary: bool

    def run_start(self, text: bytes) -> int: ...


R = TypeVar("R", bound=Rule)


class Matches(Generic[R]):
    """The matches of one window, leftmost first, and its candidate (see ``redaction``).

    Rules with a head are tried only where the scanner saw one (``hits``, in order); custom
    regexes search on their own. On a tie the earlier rule wins (sk-ant- before sk-)."""

    def __init__(self, rules: Sequence[R], hits: list[tuple[int, int]], view: View) -> None:
        self._rules, self._hits, self._view = rules, hits, view
        self._next_hit = 0
        self._headed: tuple[re.Match[bytes] | None, int] | None = None  # None: look again
        self._custom = [index for index, rule in enumerate(rules) if rule.head is None]
        self._found: dict[int, re.Match[bytes] | None] = {}  # the last match of each custom rule

    def next(self, pos: int) -> tuple[re.Match[bytes] | None, R | None]:
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

    def candidate(self) -> tuple[int, R | None]:
        """The leftmost complete head followed only by body bytes up to the end of the text."""
        text, view = self._view.text, self._view
        runs: dict[int, int] = {}  # rule index: where the trailing run of its body starts
        for start, index in self._hits:
            rule = self._rules[index]
            run = runs.get(index)
            if run is None:
                run = runs[index] = rule.run_start(text)
            if start < run - MAX_HEAD:
                continue
            head = rule.head.match(text, start) if rule.head else None
            at_word = rule.boundary and not view.at_boundary(start)
            if head is not None and head.end() >= run and not at_word:
                return start, rule
        return len(text), None
