"""``GET /api/v1/palette``: what the dashboard's command palette offers to jump to."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PaletteKind = Literal["session", "task", "server"]

# Enough to fill the palette's list; more would only be scrolled past.
MAX_PALETTE_RESULTS = 30
MAX_PALETTE_QUERY = 100


class PaletteEntry(BaseModel):
    kind: PaletteKind
    label: str = Field(description="The name (session, server) or title (task) as people read it.")
    detail: str = Field(description="What tells two entries with the same label apart.")
    url: str = Field(description="The dashboard page the entry opens.")


class PaletteResults(BaseModel):
    entries: list[PaletteEntry]
