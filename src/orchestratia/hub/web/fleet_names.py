"""Names of the servers and sessions a person sees, for the inbox and permission pages'
filters, labels and dialogs."""

from __future__ import annotations

from dataclasses import dataclass

from orchestratia.hub.api.deps import SessionDep
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import servers, sessions

SESSION_CHOICES = 300


@dataclass(frozen=True)
class Fleet:
    """Names of the servers and sessions of some projects, for filters, labels and dialogs."""

    servers: list[dict[str, str]]
    sessions: list[dict[str, str]]

    @property
    def server_names(self) -> dict[str, str]:
        return {s["id"]: s["name"] for s in self.servers}

    @property
    def session_names(self) -> dict[str, str]:
        return {s["id"]: s["name"] for s in self.sessions}

    @property
    def session_choices(self) -> list[dict[str, str]]:
        """Cut so a filter's list stays a usable size (each project's newest first)."""
        return self.sessions[:SESSION_CHOICES]


async def load_fleet(db: SessionDep, principal: Principal, project_ids: list[str]) -> Fleet:
    found_servers: list[dict[str, str]] = []
    found_sessions: list[dict[str, str]] = []
    for pid in project_ids:
        names = {}
        for server in await servers.list_for_project(db, principal, pid):
            names[server.id] = server.name
            found_servers.append({"id": server.id, "name": server.name, "project_id": pid})
        for s in await sessions.list_for_project(db, principal, pid):
            where = names.get(s.server_id, s.server_id[:8])
            found_sessions.append(
                {"id": s.id, "name": s.name, "label": f"{s.name} @ {where}", "status": s.status}
            )
    return Fleet(found_servers, found_sessions)
