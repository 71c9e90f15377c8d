"""The pattern engine: a rule pattern compiled for RE2 (semantics: ``rules.patterns``).

Apart from the pydantic models in ``patterns`` so that a pre-tool-use hook deciding from the
cache file can compile patterns without importing pydantic.
"""

from __future__ import annotations

import re

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

TYPE_CHECKING = False  # not typing's: the hook's fallback path avoids importing it
if TYPE_CHECKING:
    from typing import Any, Protocol

    from orchestratia.protocol.approvals import PatternSyntax

    class CompiledPattern(Protocol):
        # UTF-8 bytes are the fast path: a str is re-encoded on every call.
        def search(self, text: str | bytes) -> object | None: ...


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print parse errors on stderr, which a hook must own
    options.never_capture = True  # only "does it match" is ever asked; groups cost time
    return options


_OPTIONS = _re2_options()


def glob_to_re2(pattern: str) -> str:
    """The anchored RE2 expression for a glob (semantics: ``patterns``)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if not out or out[-1] != ".*":  # "**" means the same as "*"
                out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            # fnmatch rules: "[!" negates, and a "]" right after "[" or "[!" is a member.
            end = i + 1 if pattern[i : i + 1] == "!" else i
            end = pattern.find("]", end + 1 if pattern[end : end + 1] == "]" else end)
            if end < 0:  # no closing bracket: a literal "[", as fnmatch does
                out.append(re.escape(ch))
                continue
            body, i = pattern[i:end], end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            for special in ("\\", "[", "]", "^"):
                body = body.replace(special, "\\" + special)
            out.append(f"[{'^' if negate else ''}{body}]")
        else:
            out.append(re.escape(ch))
    return f"(?s)\\A(?:{''.join(out)})\\z"


def escape_glob(text: str) -> str:
    """A glob matching exactly ``text``: each metacharacter becomes a one-member class."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


def compile_pattern(pattern: str, syntax: PatternSyntax) -> CompiledPattern:
    """Compile a rule pattern; raises ``ValueError`` saying why RE2 refuses it."""
    source = glob_to_re2(pattern) if syntax == "glob" else pattern
    try:
        compiled: CompiledPattern = re2.compile(source, _OPTIONS)
        return compiled
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(f"not a valid {syntax} pattern for the RE2 engine: {detail}") from None
