"""The command palette's search: sessions, tasks and servers the caller may open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from orchestratia.hub.api.deps import PrincipalDep, SessionDep
from orchestratia.hub.api.scopes import ANY_CALLER
from orchestratia.hub.services import palette
from orchestratia.protocol.palette import MAX_PALETTE_QUERY, MAX_PALETTE_RESULTS, PaletteResults

router = APIRouter(prefix="/api/v1/palette", tags=["palette"])


@router.get("", dependencies=[ANY_CALLER])
async def search_palette(
    principal: PrincipalDep,
    db: SessionDep,
    q: Annotated[str, Query(max_length=MAX_PALETTE_QUERY)] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PALETTE_RESULTS)] = 12,
) -> PaletteResults:
    """Any caller: each kind is offered only to a caller whose key reads it, and only from the
    projects the caller is a member of (see ``services.palette``)."""
    return PaletteResults(entries=await palette.search(db, principal, q, limit))
