"""The declarations routes make (see ``hub.api.route_access`` for the table of who needs what).

No ``from __future__ import annotations`` here: FastAPI reads the annotations of a callable
instance's ``__call__`` at runtime, without the module globals string annotations would need.
"""

from typing import Annotated, get_args

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

from orchestratia.hub.api.deps import authenticated
from orchestratia.hub.api.route_access import AccessKind, RouteAccess
from orchestratia.hub.errors import Forbidden, Unauthorized
from orchestratia.hub.security import constant_time_equals
from orchestratia.hub.services.access.auth import LOGIN_NEEDED, Principal
from orchestratia.protocol.api_keys import ApiScope


class _Open(RouteAccess):
    """Routes that authenticate nobody (``public``) or a server by its own key (``server``)."""

    def __init__(self, kind: AccessKind) -> None:
        self.kind = kind

    def __call__(self) -> None:
        return None


class _Scraper(RouteAccess):
    """``/metrics``: public, unless the operator set ``metrics_token``; then that bearer token."""

    kind: AccessKind = "public"

    def __call__(self, request: Request) -> None:
        token = request.app.state.hub.settings.metrics_token
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not constant_time_equals(
            given.strip(), token.get_secret_value()
        ):
            raise Unauthorized("this hub's metrics need its metrics token (Bearer)")


class _ForUsers(RouteAccess):
    """Routes for people: a login, or an API key holding ``scope`` (any key when None)."""

    def __init__(self, kind: AccessKind, scope: ApiScope | None = None) -> None:
        self.kind = kind
        self.scope = scope

    def __call__(self, principal: Annotated[Principal, Depends(authenticated)]) -> None:
        if principal.api_key_id is None:
            return
        if self.kind == "login":
            raise Forbidden(LOGIN_NEEDED)
        if self.scope is not None and not principal.has_scope(self.scope):
            raise Forbidden(f"this API key lacks the {self.scope!r} scope this route needs")


PUBLIC = Depends(_Open("public"))
METRICS_SCRAPE = Depends(_Scraper())
SERVER_KEY = Depends(_Open("server"))
LOGIN_ONLY = Depends(_ForUsers("login"))
ANY_CALLER = Depends(_ForUsers("any"))
_SCOPED: dict[ApiScope, DependsParam] = {
    scope: Depends(_ForUsers("scope", scope)) for scope in get_args(ApiScope)
}


def needs(scope: ApiScope) -> DependsParam:
    """The declaration of a route that needs ``scope`` (``dependencies=[needs("tasks:read")]``)."""
    return _SCOPED[scope]
