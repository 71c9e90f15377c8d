"""The fleet page's SSH tunnels: their rows (state, host key to confirm or refused), the mode
badge on the servers behind them, and the "Add over SSH" dialog's script (static/tunnels.js)
that talks to ``/api/v1/tunnels``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions import tunnels as tunnel_actions
from orchestratia.hub.api.deps import PrincipalDep, SessionDep
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.web.rendering import templates
from orchestratia.protocol.tunnels import TunnelPublic

router = APIRouter(include_in_schema=False)

# What each state reads as on a badge, and its colour class.
STATE_LABELS = {
    "pending_confirmation": "confirm host key",
    "connecting": "connecting",
    "up": "up",
    "down": "down",
    "host_key_mismatch": "host key changed",
    "disabled": "disabled",
}


@dataclass
class FleetTunnels:
    tunnels: list[TunnelPublic] = field(default_factory=list)
    # server id → the tunnel its daemon registered through
    by_server: dict[str, TunnelPublic] = field(default_factory=dict)
    is_owner: bool = False


async def fleet_tunnels(db: AsyncSession, principal: Principal, project_id: str) -> FleetTunnels:
    rows = await tunnel_actions.listing(db, principal, project_id)
    role = (await access(db, principal, project_id)).role
    return FleetTunnels(
        rows, {t.server_id: t for t in rows if t.server_id}, is_owner=role == "owner"
    )


@router.get("/ui/tunnels/{tunnel_id}/row", response_class=HTMLResponse)
async def tunnel_row(
    request: Request, tunnel_id: str, db: SessionDep, principal: PrincipalDep
) -> Response:
    tunnel = await tunnel_actions.one(db, principal, tunnel_id)
    is_owner = (await access(db, principal, tunnel.project_id)).role == "owner"
    return templates.TemplateResponse(
        request,
        "_tunnel_row.html",
        {"tunnel": tunnel, "is_owner": is_owner, "state_labels": STATE_LABELS},
    )
