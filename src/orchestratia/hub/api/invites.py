"""Invites into a project: its owners issue, list, resend and revoke them; the invitee looks at
one and accepts it (no login needed for an address without an account)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from orchestratia.hub.actions import invites as invite_actions
from orchestratia.hub.api.auth import signed_in
from orchestratia.hub.api.deps import (
    ActorDep,
    HubDep,
    MaybePrincipal,
    PrincipalDep,
    SessionDep,
    UserActorDep,
)
from orchestratia.hub.api.scopes import PUBLIC, needs
from orchestratia.hub.api.servers import PublicUrlDep
from orchestratia.hub.db.team_models import Invite
from orchestratia.hub.services.access import invite_accept, invites
from orchestratia.protocol.invites import (
    InviteAccept,
    InviteAccepted,
    InviteCreate,
    InviteInfo,
    InviteIssued,
    InvitePublic,
)

router = APIRouter(tags=["invites"])
PROJECT_INVITES = "/api/v1/projects/{project_id}/invites"


def invite_public(invite: Invite, invited_by: str | None) -> InvitePublic:
    return InvitePublic.model_validate(
        {
            "id": invite.id,
            "project_id": invite.project_id,
            "email": invite.email,
            "role": invite.role,
            "invited_by": invited_by,
            "created_at": invite.created_at,
            "expires_at": invite.expires_at,
            "last_sent_at": invite.last_sent_at,
        }
    )


def issued_public(done: invite_actions.Delivered) -> InviteIssued:
    """The invite, and its link only when the mail did not carry it."""
    public = invite_public(done.issued.invite, done.issued.invited_by)
    return InviteIssued(
        **public.model_dump(),
        emailed=done.emailed,
        link=None if done.emailed else done.link,
        mail_error=done.error,
    )


@router.post(PROJECT_INVITES, status_code=201, dependencies=[needs("admin")])
async def create_invite(
    project_id: str,
    body: InviteCreate,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    base: PublicUrlDep,
) -> InviteIssued:
    done = await invite_actions.create(
        db, hub, principal, project_id, body.email, body.role, base, actor
    )
    return issued_public(done)


@router.get(PROJECT_INVITES, dependencies=[needs("admin")])
async def list_invites(
    project_id: str, principal: PrincipalDep, db: SessionDep
) -> list[InvitePublic]:
    """The project's pending invites (owners and tenant admins)."""
    return [invite_public(i, by) for i, by in await invites.pending(db, principal, project_id)]


@router.post(PROJECT_INVITES + "/{invite_id}/resend", dependencies=[needs("admin")])
async def resend_invite(
    project_id: str,
    invite_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
    base: PublicUrlDep,
) -> InviteIssued:
    """A new link and expiry, mailed again; the previous link stops working."""
    done = await invite_actions.resend(db, hub, principal, project_id, invite_id, base, actor)
    return issued_public(done)


@router.delete(PROJECT_INVITES + "/{invite_id}", status_code=204, dependencies=[needs("admin")])
async def revoke_invite(
    project_id: str,
    invite_id: str,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> Response:
    await invite_actions.revoke(db, hub, principal, project_id, invite_id, actor)
    return Response(status_code=204)


@router.get("/api/v1/invites/{token}", dependencies=[PUBLIC])
async def show_invite(token: str, db: SessionDep) -> InviteInfo:
    """What the link offers; 410 once used, revoked or expired, 404 for a link never issued."""
    found = await invite_accept.view(db, token)
    return InviteInfo(
        project_name=found.project_name,
        role=found.invite.role,
        email=found.invite.email,
        invited_by=found.invited_by,
        expires_at=found.invite.expires_at,
        has_account=found.has_account,
    )


@router.post("/api/v1/invites/accept", dependencies=[PUBLIC])
async def accept_invite(
    body: InviteAccept,
    request: Request,
    response: Response,
    principal: MaybePrincipal,
    db: SessionDep,
    hub: HubDep,
    actor: ActorDep,
) -> InviteAccepted:
    """Join the project. An address without an account gets one, with ``password``, and is
    logged in (cookies as at login); an existing user must be logged in as that address."""
    done = await invite_actions.accept(db, hub, body.token, body.password, principal, actor)
    change = done.change
    accepted = InviteAccepted(
        project_id=change.project_id,
        role=change.role,
        user_id=change.user_id,
        email=change.email,
    )
    if done.login is not None:
        tokens = signed_in(request, response, hub, done.login)
        accepted.access_token, accepted.csrf_token = tokens.access_token, tokens.csrf_token
    return accepted
