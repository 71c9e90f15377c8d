"""A user's own second factor (TOTP): status, enrol, confirm, new recovery codes, disable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep, UserActorDep, bearer_token
from orchestratia.hub.api.scopes import LOGIN_ONLY
from orchestratia.hub.errors import Forbidden
from orchestratia.hub.services.access import second_factor
from orchestratia.hub.services.access.auth import Principal
from orchestratia.protocol.second_factor import (
    RecoveryCodes,
    SecondFactorCode,
    SecondFactorStatus,
    TotpEnrolment,
)
from orchestratia.protocol.tokens import TokenKind

# A second factor is the account owner's business: logins only, never an API key.
router = APIRouter(prefix="/api/v1/auth/totp", tags=["auth"], dependencies=[LOGIN_ONLY])


def login_principal(request: Request, principal: PrincipalDep) -> Principal:
    """Only a person's login manages their second factor: a key for tools must not be able to
    turn it off or read new recovery codes."""
    found = bearer_token(request)
    if found is None or not found[0].startswith(TokenKind.LOGIN):
        raise Forbidden("the second factor is managed from a login, not with an API key")
    return principal


LoginPrincipalDep = Annotated[Principal, Depends(login_principal)]


def status_body(found: second_factor.Status) -> SecondFactorStatus:
    return SecondFactorStatus(
        enabled=found.enabled_at is not None,
        enabled_at=found.enabled_at,
        pending=found.pending,
        recovery_codes_left=found.recovery_codes_left,
    )


@router.get("")
async def totp_status(principal: LoginPrincipalDep, db: SessionDep) -> SecondFactorStatus:
    return status_body(await second_factor.status(db, principal))


def code_owner(
    principal: LoginPrincipalDep, hub: HubDep, actor: UserActorDep
) -> second_factor.Owner:
    return second_factor.Owner(principal, actor, hub.keyring, hub.throttle)


OwnerDep = Annotated[second_factor.Owner, Depends(code_owner)]


@router.post("/enrol")
async def enrol(owner: OwnerDep, db: SessionDep) -> TotpEnrolment:
    """A new secret, off until confirmed with a code; replaces a pending one (409 while on)."""
    found = await second_factor.enrol(db, owner)
    return TotpEnrolment(secret=found.secret, otpauth_uri=found.otpauth_uri)


@router.post("/confirm")
async def confirm(body: SecondFactorCode, owner: OwnerDep, db: SessionDep) -> RecoveryCodes:
    """Turn it on with a code from the pending secret; answers the recovery codes, once."""
    return RecoveryCodes(codes=await second_factor.confirm(db, owner, body.code))


@router.post("/recovery-codes")
async def recovery_codes(body: SecondFactorCode, owner: OwnerDep, db: SessionDep) -> RecoveryCodes:
    """Ten new recovery codes in place of the old ones, for a TOTP or recovery code."""
    return RecoveryCodes(codes=await second_factor.regenerate_recovery_codes(db, owner, body.code))


@router.post("/disable", status_code=204)
async def disable(body: SecondFactorCode, owner: OwnerDep, db: SessionDep) -> Response:
    """Off, for a TOTP or recovery code; the recovery codes go with it."""
    await second_factor.disable(db, owner, body.code)
    return Response(status_code=204)
