"""Where a secret may start: every rule's head found in one pass of a DFA over the text.

Searching each rule's regex over each read costs a pass per rule (a ``re`` pass reads about a
byte a cycle, and stops at every occurrence of the regex's first byte: the ``s`` of ``sk-``, the
``e`` of ``eyJ``). Instead each head is read as the set of literal strings its matches start
with (``gh[pousr]_`` → ``ghp_``, ``gho_``…), and one RE2 regex, whose DFA reads the text once
whatever the number of rules, finds them all. A head this reader cannot turn into literals is
searched with its own regex, as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

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
        escaped = rx[i + 1]
        if escaped.isascii() and not escaped.isalnum():
            return [escaped], True, i + 2
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
    """Every ``(start, rule index)`` where a rule's head may start: a superset, which the
    rule's own regexes decide. ``heads``: each head rule's index, head regex, compiled head,
    and whether it needs a word boundary."""

    def __init__(self, heads: Sequence[tuple[int, str, re.Pattern[bytes], bool]]) -> None:
        rules_of: dict[bytes, set[int]] = {}
        self._searched: list[tuple[int, re.Pattern[bytes]]] = []  # heads with no literals
        for index, source, compiled, _ in heads:
            literals = head_literals(source)
            if literals is None:
                self._searched.append((index, compiled))
            for literal in literals or ():
                rules_of.setdefault(literal, set()).add(index)
        # A literal that starts with another adds no place to look: its rules look there.
        for literal in sorted(rules_of, key=len):
            shorter = [other for other in rules_of if other != literal and literal.startswith(other)]
            if shorter:
                rules_of[shorter[0]] |= rules_of.pop(literal)
        bounded = {index for index, _, _, boundary in heads if boundary}
        self._literals = [(literal, tuple(sorted(rules))) for literal, rules in rules_of.items()]
        self._any = tuple(rules_of)
        self._bounded = tuple(literal for literal, rules in rules_of.items() if rules <= bounded)
        self._regex = _regex(
            [_GUARD + re2.escape(literal) if literal in self._bounded else re2.escape(literal)
             for literal in rules_of]
        )  # fmt: skip

    def hits(self, text: bytes, joins: Sequence[int]) -> list[tuple[int, int]]:
        """Sorted. ``joins``: where escapes were skipped (``_View``), the one place where a
        head glued to a word (after a letter or digit that does not end a CSI sequence) is at
        a word boundary: elsewhere such heads of boundary rules are left out (``task-…`` is no
        ``sk-…``), by the guard the regex matches before them."""
        places = {0, *self._bounded_at(text, joins)}
        if self._regex is not None:
            match = self._regex.search(text)
            while match is not None:
                start = match.start()
                places.update((start, start + 1, start + 2))  # after a guard of 0 to 2 bytes
                match = self._regex.search(text, start + 1)
        found = [
            (place, index)
            for place in places
            if text.startswith(self._any, place)
            for literal, indexes in self._literals
            if text.startswith(literal, place)
            for index in indexes
        ]
        for index, head in self._searched:
            match = head.search(text)
            while match is not None:
                found.append((match.start(), index))
                match = head.search(text, match.start() + 1)
        return sorted(found)

    def _bounded_at(self, text: bytes, joins: Sequence[int]) -> list[int]:
        if not joins or not self._bounded:
            return []
        # The byte after each join, at C speed; only joins followed by a first byte are tried.
        after = bytes(map(text.__getitem__, joins))
        found = []
        for first in {literal[0] for literal in self._bounded}:
            at = after.find(first)
            while at >= 0:
                found.append(joins[at])
                at = after.find(first, at + 1)
        return found


# Before a head of boundary rules: a byte that is no letter or digit, or two that may end a
# CSI sequence (a final byte after '[', a parameter or an intermediate), necessary for
# ``_View.at_boundary`` but at a join.
_GUARD = rb"(?:[^0-9A-Za-z]|[\x20-\x3f\[][\x40-\x7e])"


def _regex(alternatives: list[bytes]) -> Any:
    if not alternatives:
        return None
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # bytes, not UTF-8: any byte is one character
    options.never_capture = True
    options.log_errors = False
    return re2.compile(b"|".join(alternatives), options)
