"""The dashboard's stylesheet parses as the author meant: one unclosed brace silently nests every
rule after it inside a media query, and whole pages lose their layout on wide screens."""

from __future__ import annotations

import re
from pathlib import Path

import orchestratia.hub.web

STATIC = Path(orchestratia.hub.web.__file__).parent / "static"


def test_every_block_of_every_stylesheet_is_closed() -> None:
    for sheet in STATIC.glob("*.css"):
        text = re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S)
        depth = 0
        for number, line in enumerate(text.splitlines(), 1):
            depth += line.count("{") - line.count("}")
            assert depth >= 0, f"{sheet.name}:{number}: a '}}' closes nothing"
        assert depth == 0, f"{sheet.name}: {depth} block(s) never closed"
