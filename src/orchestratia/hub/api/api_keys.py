"""User API keys for the External Service API: make one (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from orchestratia.hub.actions import api_keys as key_actions
from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.services.access import api_keys
from orchestratia.protocol.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyPublic

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"], dependencies=[needs("admin")])


def _fields(found: api_keys.KeyRow) -> dict[str, Any]:
    key = found.key
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "project_id": key.project_id,
        "project_name": found.project_name,
        "owner_email": found.owner_email,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def to_public(found: api_keys.KeyRow) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(_fields(found))


@router.post("", status_code=201)
async def create_key(
    body: ApiKeyCreate, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> ApiKeyCreated:
    """A new key; its secret is in this answer and nowhere else, ever."""
    found, secret = await key_actions.create(db, hub, principal, body, actor)
    return ApiKeyCreated.model_validate({**_fields(found), "key": secret})


@router.get("")
async def list_keys(principal: PrincipalDep, db: SessionDep) -> ApiKeyList:
    """The caller's keys, revoked ones included; a tenant admin's login sees the tenant's."""
    return ApiKeyList(keys=[to_public(k) for k in await api_keys.list_keys(db, principal)])


@router.delete("/{key_id}", status_code=204)
async def revoke_key(
    key_id: Annotated[str, Path(max_length=64)],
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> Response:
    await key_actions.revoke(db, hub, principal, key_id, actor)
    return Response(status_code=204)
