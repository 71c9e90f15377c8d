"""A shell command split into the simple commands it runs, for approval rules (SPEC §8).

An allow glob such as ``ls*`` must not let ``ls; rm -rf /`` through, and a deny glob such as
``rm -rf*`` must still catch ``ls && rm -rf /`` or `` rm -rf /``. So rules on shell tools are
matched per *simple command*, found by ``bashlex`` (a port of bash's own grammar): ``;``, ``&&``,
``||``, ``|``, ``&``, newlines, subshells, ``{ …; }`` groups, ``if``/``for``/``while`` bodies and
function bodies all separate simple commands, while a ``;`` inside quotes or after ``\\`` does not,
and a ``#`` comment is no command at all.

What the matcher gets (``ShellCommand``):

- ``parts``: every simple command as written (assignments and redirections included, so
  ``LD_PRELOAD=x.so ls`` is not ``ls``). An allow needs every part allowed.
- ``deny_texts``: what rules are tried on as commands, a superset: the whole command, every
  part as written, from its command word on and as its unquoted words, and the simple commands
  inside command and process substitutions. Unquoted is bash's quote removal, expansions left
  as written, done by us on each word's text (``_bash_unquote``) and not taken from bashlex,
  whose words keep quotes next to quotes (``'r''m'`` reads ``r''m``, which ``rm -rf*`` misses).
- ``suffix_texts``: what deny and ask rules are tried on as well: every later suffix of a part
  that starts at a word, as written and unquoted (so ``FOO=1 r'm' -rf /``, ``sudo rm -rf /`` and
  ``nice -n 5 rm -rf /`` all meet ``rm -rf*``; an argument such as ``echo rm -rf`` does too,
  which can only add denials).
- ``refusal``: why no allow rule may cover the command even if every part is allowed: a command
  or process substitution (whose output becomes more command text), output redirected to a file
  (``> f``; ``2>&1`` and ``> /dev/null`` are harmless), a background job (``&``), a command
  name built from a variable (``ls$X``), a word we cannot unquote as bash would for certain
  (a backslash before ``$`` or a backtick, an expansion holding a space), or text the parser
  cannot read with certainty. Such a command is ``ask`` unless a deny rule matches.

Text we do not trust the parser on is refused before parsing: ANSI-C and locale quoting
(``$'…'``, ``$"…"``, which bashlex reads differently from bash), commands over
``MAX_PARSED_CHARS``, and everything bashlex itself refuses (``case``, ``time``, ``coproc``,
arithmetic); so is a simple command of more than ``MAX_SUFFIX_WORDS`` words, whose suffixes
would cost too much to try. Such a command is not ``parsed``: no allow rule that ignores the
command text may decide it (``rule_matching``). Its texts for rules come from a crude split on
every operator character, quotes ignored (it may split too much, which can only add denials):
each piece as written, and the word suffixes of each piece read with ``shlex`` (quotes
removed; a plain whitespace split where shlex refuses), within ``ROUGH_BUDGET`` characters so a
megabyte of text stays cheap; past that budget a piece is tried as written only.

Importing bashlex builds its parser tables (85-100 ms, about a second on a busy machine), which
a hook deciding without the daemon cannot afford on every call. So the common case is read by
``_plain_commands``, a tokenizer for words of plain characters and quotes joined by ``;``,
``&&``, ``||``, ``|`` and newlines that gives exactly what the bashlex walk gives: the same
parts and refusals, and the same unquoted texts, since both remove quotes as bash does (a test
holds the two to it on a large corpus, adjacent quotes included); anything else (``$``,
backticks, ``\\``, redirections, ``&``, parentheses, braces, reserved words, assignments,
comments, empty commands, …) goes to bashlex.
The daemon imports bashlex when it starts (``load_parser``), so its first such call waits on
nothing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from types import ModuleType

MAX_PARSED_CHARS = 4_000  # bashlex is pure Python (~1 ms per 100 characters on a busy machine),
# and the daemon decides on its event loop: longer commands are asked about unparsed
MAX_SUFFIX_WORDS = 64  # deny and ask rules are tried on each word suffix: bounded, as above
ROUGH_BUDGET = 65_536  # characters of an unparsed command read with shlex (~0.5 µs each)
DEV_NULL = "/dev/null"
# Redirections that write (or truncate) the file they name; ">&" only when followed by a word.
WRITING_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", ">&", "<>"})
UNPARSED = "it cannot be split into simple commands with certainty"
SUBSTITUTION = "it runs a command substitution"
FILE_REDIRECT = "it redirects output into a file"
BACKGROUND = "it starts a background job"
VARIABLE_COMMAND = "a command name comes from a variable"
QUOTING = "a word's quoting cannot be read with certainty"
_CRUDE_SPLIT = re.compile(r"\$\(|[;&|\n(){}`<>]")
# What _plain_commands reads itself: characters that mean nothing to bash outside quotes (no
# glob class "[", no "~", "!", "#", "{", "$", "\\"), quotes holding none of those bash still
# interprets there, and operators that only separate simple commands.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,:=+@%^*?-")
_QUOTED_SPECIAL = frozenset("$`\\!\n")
_SEPARATORS = ("&&", "||", ";", "|", "\n")
_WORD_END = frozenset(" \t;|&\n")
_RESERVED = frozenset((
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "in", "function", "time", "coproc", "{", "}", "!", "[[", "]]",
))  # fmt: skip
_ASSIGNMENT_START = re.compile(r"[A-Za-z_]")
# Where shlex's quote removal differs from bash's: a backslash before "$" or "`" (bash drops it
# inside double quotes, shlex keeps it). A backslash before a newline, a line continuation bash
# removes outside single quotes, is removed before shlex reads the word.
_UNSURE_ESCAPE = re.compile(r"\\[$`]")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def load_parser() -> ModuleType:
    """bashlex, imported on first use (``bashlex.parse``)."""
    import bashlex  # type: ignore[import-untyped]  # bashlex ships no type information

    module: ModuleType = bashlex
    return module


class ShellCommand(NamedTuple):
    """One shell command as approval rules see it (module docstring)."""

    text: str
    parts: tuple[str, ...]
    deny_texts: tuple[str, ...]
    suffix_texts: tuple[str, ...]
    refusal: str | None

    @property
    def parsed(self) -> bool:
        """Whether ``parts`` are the command's simple commands for certain."""
        return self.refusal != UNPARSED


def split_command(command: str, *, plain: bool = True) -> ShellCommand:
    """``command`` split into its simple commands; never raises, never runs anything.
    ``plain=False`` leaves everything to bashlex (what the tokenizer is tested against)."""
    text = command.strip()
    refusal = _lexical_refusal(text)
    if refusal == UNPARSED:
        return _unparsed(text)
    split = _plain_commands(text) if plain and refusal is None and text else None
    if split is not None:
        return split
    try:
        trees = load_parser().parse(text) if text else []
    except RecursionError:
        return _unparsed(text)
    except Exception:  # bashlex raises several kinds (ParsingError, NotImplementedError, …)
        return _unparsed(text)
    walk = _Walk(text)
    for tree in trees:
        walk.visit(tree, nested=False)
    if walk.too_many_words:
        return _unparsed(text)
    refusal = refusal or walk.refusal
    deny = _unique([text, *walk.deny_texts])
    return ShellCommand(text, tuple(walk.parts), deny, _unique(walk.suffix_texts), refusal)


class _Word:
    __slots__ = ("end", "start", "word")

    def __init__(self, start: int, end: int, word: str) -> None:
        self.start, self.end, self.word = start, end, word


def _plain_commands(text: str) -> ShellCommand | None:
    """``text`` split as the bashlex walk would, if it holds only what this reads (module
    docstring); None whenever it holds anything else."""
    commands: list[list[_Word]] = []
    words: list[_Word] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        separator = next((s for s in _SEPARATORS if text.startswith(s, i)), None)
        if separator is not None:
            if not words:
                return None  # an empty command: an error, or a case bashlex knows better
            commands.append(words)
            words = []
            i += len(separator)
            continue
        start, value = i, []
        while i < n and text[i] not in _WORD_END:
            ch = text[i]
            if ch in "'\"":
                end = text.find(ch, i + 1)
                if end < 0 or any(c in _QUOTED_SPECIAL for c in text[i + 1 : end]):
                    return None
                value.append(text[i + 1 : end])
                i = end + 1
            elif ch in _PLAIN:
                value.append(ch)
                i += 1
            else:
                return None
        if i == start:
            return None  # a lone "&" (background) or "|&"
        word = "".join(value)
        raw = text[start:i]
        if word in _RESERVED or raw in _RESERVED:
            return None
        if "=" in raw and _ASSIGNMENT_START.match(raw):
            return None  # perhaps an assignment, which bashlex reads as no word at all
        words.append(_Word(start, i, word))
    if not words:
        return None  # a trailing separator
    commands.append(words)
    walk = _Walk(text)
    for command in commands:
        walk.simple_command(command[0].start, command[-1].end, command, nested=False)
    if walk.too_many_words:
        return _unparsed(text)
    deny = _unique([text, *walk.deny_texts])
    return ShellCommand(text, tuple(walk.parts), deny, _unique(walk.suffix_texts), None)


def _unparsed(text: str) -> ShellCommand:
    found, suffixes = [text], []
    budget = ROUGH_BUDGET
    for piece in _CRUDE_SPLIT.split(text):
        piece = piece.strip()
        found.append(piece)
        if budget > 0 and piece:
            head = piece[:budget]
            budget -= len(head)
            words = _rough_words(head)
            found.append(" ".join(words))
            suffixes += _suffixes(words)
    return ShellCommand(text, (), _unique(found), _unique(suffixes), UNPARSED)


def _rough_words(piece: str) -> list[str]:
    """The words of a piece cut out of text bashlex refused, quotes removed where shlex can."""
    try:
        return shlex.split(piece)
    except ValueError:  # an unfinished quote or escape, perhaps cut there by the crude split
        return piece.split()


def _suffixes(words: Sequence[str]) -> list[str]:
    """``words`` joined from each later word on, up to ``MAX_SUFFIX_WORDS`` of them
    (``FOO=1 sudo rm`` → ``sudo rm``, ``rm``)."""
    return [" ".join(words[i:]) for i in range(1, min(len(words), MAX_SUFFIX_WORDS + 1))]


def _unique(texts: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in texts if t))


def _lexical_refusal(text: str) -> str | None:
    """A quote-aware scan, independent of the parser: ``UNPARSED`` for text bashlex misreads or
    is too long, ``SUBSTITUTION`` for ``$(``, backticks, ``<(`` or ``>(`` outside single
    quotes (heredoc bodies included, where bashlex does not look), else None. Its mistakes can
    only make a command look riskier, never safer."""
    if len(text) > MAX_PARSED_CHARS:
        return UNPARSED
    found: str | None = None
    quote = ""  # "" outside quotes, "'" or '"' inside
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            i += 1  # the next character is literal, in or out of double quotes
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif ch == "`" or text.startswith("$(", i):
                found = SUBSTITUTION
        elif ch == "$" and text[i + 1 : i + 2] in ("'", '"'):
            return UNPARSED
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n;&|()"):
            end = text.find("\n", i)  # a comment: nothing in it runs
            i = n if end < 0 else end
            continue
        elif ch == "`" or text.startswith(("$(", "<(", ">("), i):
            found = SUBSTITUTION
        i += 1
    return found


class _Walk:
    """Collects simple commands and refusals from bashlex trees (nodes carry ``kind``, ``pos``
    and kind-specific fields; every field holding nodes is followed)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts: list[str] = []
        self.deny_texts: list[str] = []
        self.suffix_texts: list[str] = []
        self.refusal: str | None = None
        self.too_many_words = False

    def refuse(self, reason: str) -> None:
        self.refusal = self.refusal or reason

    def visit(self, node: Any, *, nested: bool) -> None:
        kind = getattr(node, "kind", None)
        if kind == "command":
            self._command(node, nested=nested)
        elif kind in ("commandsubstitution", "processsubstitution"):
            self.refuse(SUBSTITUTION)
            nested = True
        elif kind == "operator" and node.op == "&":
            self.refuse(BACKGROUND)
        elif kind == "heredoc" and ("$(" in node.value or "`" in node.value):
            self.refuse(SUBSTITUTION)  # bashlex does not parse heredoc bodies
        elif kind == "redirect" and node.type in WRITING_REDIRECTS:
            target = node.output
            if getattr(target, "kind", None) == "word" and target.word != DEV_NULL:
                self.refuse(FILE_REDIRECT)
        for child in _children(node):
            self.visit(child, nested=nested)

    def _command(self, node: Any, *, nested: bool) -> None:
        start, end = node.pos
        nodes = [p for p in node.parts if getattr(p, "kind", None) == "word"]
        words = [_Word(w.pos[0], w.pos[1], self._unquoted(w)) for w in nodes]
        self.simple_command(start, end, words, nested=nested)

    def _unquoted(self, node: Any) -> str:
        """A word node's text with bash's quote removal, as ``_plain_commands`` does it.

        bashlex's ``word`` keeps quotes next to quotes (``'r''m'`` is ``r''m``, which
        ``rm -rf*`` would miss); shlex removes them as bash does, expansions left as written.
        Where the two could differ, the word stays bashlex's and the command is refused."""
        unquoted = _bash_unquote(self.text[node.pos[0] : node.pos[1]])
        if unquoted is not None:
            return unquoted
        self.refuse(QUOTING)
        word: str = node.word
        return word

    def simple_command(self, start: int, end: int, words: list[_Word], *, nested: bool) -> None:
        """One simple command spanning ``text[start:end]`` whose words are ``words``
        (assignments and redirections are not words)."""
        whole = self.text[start:end].strip()
        if not nested:
            self.parts.append(whole)
        self.deny_texts.append(whole)
        if words and "$" in self.text[words[0].start : words[0].end]:
            self.refuse(VARIABLE_COMMAND)  # "ls$X" is whatever X makes of it, not "ls…"
        if len(words) > MAX_SUFFIX_WORDS:
            self.too_many_words = True
            return
        if words:
            self.deny_texts.append(self.text[words[0].start : end].strip())
            self.deny_texts.append(" ".join(w.word for w in words))
        for word in words[1:]:  # a prefix command (sudo, env X=1, nice -n 5, exec …) hides none
            self.suffix_texts.append(self.text[word.start : end].strip())
        self.suffix_texts += _suffixes([w.word for w in words])


def _bash_unquote(raw: str) -> str | None:
    """One word's text after bash's quote removal (expansions left as written); None where
    shlex might read it otherwise than bash."""
    if "\\\n" in raw:
        if "'" in raw:
            return None  # inside single quotes the continuation is literal text
        raw = _ESCAPED.sub(lambda m: "" if m.group(1) == "\n" else m.group(0), raw)
    if _UNSURE_ESCAPE.search(raw):
        return None
    try:
        found = shlex.split(raw)
    except ValueError:
        return None
    return found[0] if len(found) == 1 else None


def _children(node: Any) -> Iterator[Any]:
    for value in vars(node).values():
        if isinstance(value, list):
            yield from (v for v in value if hasattr(v, "kind"))
        elif hasattr(value, "kind"):
            yield value
