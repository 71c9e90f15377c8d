"""Typed dependencies: database session, hub state, the authenticated principal, audit actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.api.route_access import admits_keys
from orchestratia.hub.db.models import Server
from orchestratia.hub.errors import Forbidden, HubError, Unauthorized
from orchestratia.hub.security import constant_time_equals, csrf_token_for
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import api_keys, auth
from orchestratia.hub.services.fleet import servers
from orchestratia.hub.state import HubState
from orchestratia.protocol.tokens import TokenKind

SESSION_COOKIE = "orc_session"
CSRF_COOKIE = "orc_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def hub_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


HubDep = Annotated[HubState, Depends(hub_state)]


async def db_session(hub: HubDep) -> AsyncIterator[AsyncSession]:
    async with hub.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(db_session)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def request_actor(request: Request) -> audit.Actor:
    return audit.Actor("anonymous", None, client_ip(request), request.state.request_id)


ActorDep = Annotated[audit.Actor, Depends(request_actor)]


def bearer_token(request: Request) -> tuple[str, bool] | None:
    """The session secret and whether it came from the cookie (which needs CSRF checks)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, True
    return None


async def authenticated(request: Request, db: SessionDep, hub: HubDep) -> auth.Principal:
    """Whoever the request speaks for: a login (bearer or cookie + CSRF) or a user API key
    (bearer ``orck_…``), whatever the route. Routes take ``PrincipalDep`` instead."""
    found = bearer_token(request)
    if found is None:
        raise Unauthorized("not authenticated")
    token, from_cookie = found
    if token.startswith(TokenKind.API_KEY) and not from_cookie:
        return await api_keys.authenticate(db, token)
    principal = await auth.resolve(db, token)
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not constant_time_equals(sent, csrf_token_for(hub.secret_key, token)):
            raise Forbidden("missing or invalid CSRF token")
    return principal


async def current_principal(
    request: Request, principal: Annotated[auth.Principal, Depends(authenticated)]
) -> auth.Principal:
    """The caller; an API key only where the route declares a scope (``hub.api.scopes``), so
    pages and any route that forgot its declaration take logins alone."""
    if principal.api_key_id is not None and not admits_keys(request):
        raise Unauthorized(auth.LOGIN_NEEDED)
    return principal


PrincipalDep = Annotated[auth.Principal, Depends(current_principal)]


async def optional_principal(
    request: Request, db: SessionDep, hub: HubDep
) -> auth.Principal | None:
    """The signed-in person, or None for a visitor (pages and public routes serve both)."""
    try:
        return await current_principal(request, await authenticated(request, db, hub))
    except HubError:
        return None


MaybePrincipal = Annotated[auth.Principal | None, Depends(optional_principal)]


def user_actor(request: Request, principal: PrincipalDep) -> audit.Actor:
    return audit.Actor(
        "user",
        principal.email,
        client_ip(request),
        request.state.request_id,
        api_key_id=principal.api_key_id,
    )


UserActorDep = Annotated[audit.Actor, Depends(user_actor)]


async def current_server(
    db: SessionDep,
    actor: ActorDep,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Server:
    if not x_api_key:
        raise Unauthorized("missing X-API-Key header")
    return await servers.authenticate_key(db, x_api_key, actor)


ServerDep = Annotated[Server, Depends(current_server)]
