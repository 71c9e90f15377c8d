"""What the "Stop all agents" button and the "auto-assignment paused" banner need on the pages
that include them (``_stop_all.html``, ``_assignment_paused.html``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.services.tasks import assignment_pause
from orchestratia.hub.web.page_context import Page


async def stop_all_context(db: AsyncSession, page: Page) -> dict[str, Any]:
    """The shown project's pause state and the grace its stop would give; empty without one."""
    if page.current is None:
        return {}
    return {
        "pause": await assignment_pause.state(db, page.current.project),
        "stop_grace": page.hub.settings.stop_all_grace,
    }
