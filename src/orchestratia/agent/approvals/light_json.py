"""JSON for the pre-tool-use hook's fast path, without importing ``json``.

``json`` imports ``re``, and with it ``enum``, ``functools`` and ``collections``: more start-up
time than the rest of the hook's decision. The work itself is done by the C module ``_json``,
which is what ``json.loads`` and ``json.dumps`` call too; this module drives it the way they do,
so results are the same text and the same objects (``tests/unit/test_light_json.py``).

Errors are left to ``json`` itself: whenever our fast path does not produce a value, the input
is decoded again by ``json.loads``, which raises exactly what it always raises (an object hook's
own exception and ``RecursionError`` pass straight through, as they do in ``json``).
"""

from __future__ import annotations

import _json

# Not ``typing.TYPE_CHECKING``: importing ``typing`` is one of the costs this module avoids.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    PairsHook = Callable[[list[tuple[str, Any]]], Any]

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
# Byte-order marks and the NULs of UTF-16/32 text: json.detect_encoding's cases other than UTF-8.
_NOT_PLAIN_UTF8 = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class _Decoder:
    """The attributes ``_json.make_scanner`` reads, as ``json.JSONDecoder()`` sets them."""

    strict = True
    object_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__

    def __init__(self, object_pairs_hook: PairsHook | None) -> None:
        self.object_pairs_hook = object_pairs_hook


def loads(data: str | bytes, object_pairs_hook: PairsHook | None = None) -> Any:
    """``json.loads(data, object_pairs_hook=object_pairs_hook)``."""
    if isinstance(data, bytes):
        if b"\x00" in data[:4] or data.startswith(_NOT_PLAIN_UTF8):
            return _stdlib_loads(data, object_pairs_hook)
        text = data.decode("utf-8", "surrogatepass")  # what json does with UTF-8 bytes
    else:
        text = data
    if text.startswith("\ufeff"):
        return _stdlib_loads(text, object_pairs_hook)
    # typeshed asks for a JSONDecoder; the scanner reads only the attributes _Decoder has.
    scan = _json.make_scanner(_Decoder(object_pairs_hook))  # type: ignore[arg-type]
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = scan(text, start)
    except (StopIteration, SystemError):
        # SystemError: the scanner reports bad JSON with json.decoder.JSONDecodeError, which it
        # looks up in sys.modules only; without ``json`` loaded it fails that way instead.
        return _stdlib_loads(text, object_pairs_hook)
    if text[end:].lstrip(_WHITESPACE):  # "Extra data"
        return _stdlib_loads(text, object_pairs_hook)
    return value


def _stdlib_loads(data: str | bytes, object_pairs_hook: PairsHook | None) -> Any:
    import json

    return json.loads(data, object_pairs_hook=object_pairs_hook)


def _not_serializable(value: object) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps(
    value: Any,
    separators: tuple[str, str] = (", ", ": "),
    default: Callable[[Any], Any] | None = None,
) -> str:
    """``json.dumps(value, separators=separators, default=default)`` (ASCII, NaN allowed)."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    item_separator, key_separator = separators
    encode = _json.make_encoder(
        {},  # check_circular, as json.dumps does by default
        default or _not_serializable,
        _json.encode_basestring_ascii,
        None,  # indent
        key_separator,
        item_separator,
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return "".join(encode(value, 0))
