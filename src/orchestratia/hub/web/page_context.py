"""One dashboard page as a signed-in person sees it: who is looking, which project the page
shows, and how it renders. Every full page starts here, so the login redirect, the project
picker and the human 404 page behave the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from orchestratia.hub.api.callers import user_caller
from orchestratia.hub.api.deps import SessionDep, user_actor
from orchestratia.hub.cookie_policy import cookie_secure
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import ProjectAccess
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.hub.state import HubState
from orchestratia.hub.web.rendering import (
    error_page,
    page_context,
    pick_project,
    remember_project,
    templates,
)


def person_caller(request: Request, principal: Principal) -> Caller:
    """The caller the task and approval services expect for a person using the dashboard."""
    return user_caller(principal, user_actor(request, principal))


@dataclass(frozen=True)
class Page:
    """A full page for a signed-in person; ``projects`` is set when the page has a picker."""

    request: Request
    hub: HubState
    principal: Principal
    projects: list[ProjectAccess] | None = None
    current: ProjectAccess | None = None

    @property
    def caller(self) -> Caller:
        return person_caller(self.request, self.principal)

    def render(self, template: str, **context: Any) -> Response:
        """The template with the base context; a page with a picker also gets the projects and
        remembers the one shown in the cookie, so the next page opens on it."""
        if self.projects is not None:
            context = {"projects": self.projects, "current": self.current, **context}
        response = templates.TemplateResponse(
            self.request, template, page_context(self.request, self.hub, self.principal, **context)
        )
        if self.projects is None:
            return response
        return remember_project(
            response, self.current, cookie_secure(self.request, self.hub.settings)
        )

    def not_found(self, message: str) -> Response:
        return error_page(self.request, self.hub, self.principal, 404, message)


def open_page(request: Request, hub: HubState, principal: Principal | None) -> Page | Response:
    """The page, or the redirect to the login page for someone not signed in."""
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return Page(request, hub, principal)


async def open_project_page(
    request: Request,
    db: SessionDep,
    hub: HubState,
    principal: Principal | None,
    project_id: str | None,
    *,
    strict: bool = False,
) -> Page | Response:
    """Like ``open_page``, with the project to show picked as ``pick_project`` does. With
    ``strict``, a project named in the query that the caller does not see is a 404 page instead
    of quietly showing another one."""
    signed_in = open_page(request, hub, principal)
    if not isinstance(signed_in, Page):
        return signed_in
    available, current = await pick_project(request, db, signed_in.principal, project_id)
    page = Page(request, hub, signed_in.principal, available, current)
    if strict and project_id and (current is None or current.project.id != project_id):
        return page.not_found("project not found")
    return page
