"""Who calls the task APIs: a dashboard/External API user, or an agent (session token or server
key in ``X-API-Key``). Both become a ``Caller`` the task services understand."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from orchestratia.hub.api.deps import ActorDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.errors import Unauthorized
from orchestratia.hub.services import audit
from orchestratia.hub.services.fleet import servers, sessions
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.hub.services.tasks.states import Trigger
from orchestratia.protocol.tokens import TokenKind


def user_caller(principal: PrincipalDep, actor: UserActorDep) -> Caller:
    return Caller(principal.tenant_id, "user", principal.email, actor, principal=principal)


async def agent_caller(
    db: SessionDep,
    actor: ActorDep,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    """A session token pins the caller to its session (SPEC §5 extension); a server key acts
    for its server, like the public agent's CLI."""
    if not x_api_key:
        raise Unauthorized("missing X-API-Key header")
    if x_api_key.startswith(TokenKind.SESSION):
        session, server = await sessions.authenticate_token(db, x_api_key)
        kind: Trigger = "orchestrator" if session.role == "orchestrator" else "agent"
        who = audit.Actor("session", session.name, actor.ip, actor.request_id)
        return Caller(
            session.tenant_id, kind, f"session:{session.name}", who, server=server, session=session
        )
    server = await servers.authenticate_key(db, x_api_key, actor)
    who = audit.Actor("server", server.name, actor.ip, actor.request_id)
    return Caller(server.tenant_id, "agent", f"server:{server.name}", who, server=server)


UserCallerDep = Annotated[Caller, Depends(user_caller)]
AgentCallerDep = Annotated[Caller, Depends(agent_caller)]
