"""What each REST route needs from its caller, declared on the route itself.

Every ``/api/v1`` route carries exactly one declaration in its ``dependencies`` (a test walks
the app and fails for any that does not), and ``/openapi.json`` is built from them:

======================================================  ==========================================
Routes                                                  Declaration
======================================================  ==========================================
login (and its second factor), health, server           ``PUBLIC``
registration (one-time token), an invite link and
accepting it
logout, password change, second-factor set-up,         ``LOGIN_ONLY`` (no API keys)
changing one's preferences (and notification choices)
current user, own preferences, project list and         ``ANY_CALLER`` (a login or any valid key)
project, plan usage
command palette search (each kind by its read scope)    ``ANY_CALLER``
GET tasks, pipelines, notes, events, activity, inbox,   ``needs("tasks:read")``
overview
task writes, pipelines, notes, inbox decisions          ``needs("tasks:write")``
GET sessions, output, scrollback, share links,          ``needs("sessions:read")``
permission log
start/close/kill sessions, share links                  ``needs("sessions:write")``
GET servers and their load history                      ``needs("servers:read")``
GET webhook endpoints and their delivery log            ``needs("webhooks:read")``
webhook endpoint changes, secret rotation, redelivery,  ``needs("webhooks:write")``
test events
GET servers and their load history, SSH tunnels        ``needs("servers:read")``
SSH tunnel writes (owners only)                         ``needs("servers:write")``
projects, members, registration tokens, server key      ``needs("admin")``
revocation, server rename/relabel/removal, approval
rules, task settings, API keys, invites, mail settings,
stop all agents and resume
daemon routes (``/api/v1/server/*``, heartbeat)         ``SERVER_KEY`` (``X-API-Key``)
======================================================  ==========================================

A login holds every scope; a key holds the scopes it was made with. Scopes only narrow: the
services still check the owner's role, so a viewer's ``admin`` key cannot write.

The declarations themselves are in ``hub.api.scopes``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from orchestratia.protocol.api_keys import ApiScope

AccessKind = Literal["scope", "any", "login", "server", "public"]


class RouteAccess:
    """A route's declaration; ``kind`` and ``scope`` are what ``/openapi.json`` shows."""

    kind: AccessKind = "public"
    scope: ApiScope | None = None

    @property
    def label(self) -> str:
        """The ``x-required-scope`` value: the scope, or what stands in for one."""
        return self.scope or self.kind


def declared(route: APIRoute) -> RouteAccess | None:
    """The route's declaration (its own or its router's), if it made one."""
    for dep in route.dependencies:
        if isinstance(dep.dependency, RouteAccess):
            return dep.dependency
    return None


def admits_keys(request: Request) -> bool:
    """Whether the route being served takes API keys: one declaring a scope, or any key.
    Pages, sockets and undeclared routes take logins only."""
    route = request.scope.get("route")
    found = declared(route) if isinstance(route, APIRoute) else None
    return found is not None and found.kind in ("scope", "any")


@dataclass(frozen=True)
class Operation:
    """One served REST path with its methods and what it declared (None: nothing)."""

    path: str
    methods: frozenset[str]
    access: RouteAccess | None
    include_in_schema: bool


def operations(routes: Sequence[BaseRoute]) -> Iterator[Operation]:
    """Every API route the app serves, at its full path (included routers resolved)."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield Operation(
                context.path_format or route.path_format,
                frozenset(context.methods or route.methods or ()),
                declared(route),
                route.include_in_schema,
            )
