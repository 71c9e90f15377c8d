"""Login, logout and the current user."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from orchestratia.hub.actions import access
from orchestratia.hub.actions import preferences as preference_actions
from orchestratia.hub.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ActorDep,
    HubDep,
    PrincipalDep,
    SessionDep,
    UserActorDep,
)
from orchestratia.hub.api.scopes import ANY_CALLER, LOGIN_ONLY, PUBLIC
from orchestratia.hub.cookie_policy import cookie_secure
from orchestratia.hub.security import csrf_token_for
from orchestratia.hub.services.access import auth, login_challenges, preferences
from orchestratia.hub.state import HubState
from orchestratia.protocol.preferences import Preferences, PreferencesChange
from orchestratia.protocol.rest import LoginRequest, PasswordChange, TokenResponse, UserPublic
from orchestratia.protocol.second_factor import SecondFactorChallenge, SecondFactorLogin

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def signed_in(
    request: Request, response: Response, hub: HubState, result: auth.LoginResult
) -> TokenResponse:
    """Set the login's cookies on ``response``: the one way every kind of login ends."""
    csrf = csrf_token_for(hub.secret_key, result.token)
    secure = cookie_secure(request, hub.settings)
    max_age = int(timedelta(hours=hub.settings.session_ttl_hours).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    # Readable by our own scripts so they can echo it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, secure=secure, samesite="strict"
    )
    return TokenResponse(access_token=result.token, csrf_token=csrf)


@router.post("/login", dependencies=[PUBLIC])
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: SessionDep,
    hub: HubDep,
    actor: ActorDep,
) -> TokenResponse | SecondFactorChallenge:
    """A login; for an account with a second factor, the challenge to send back with a code to
    ``/login/second-factor`` instead (no login yet)."""
    ttl = timedelta(hours=hub.settings.session_ttl_hours)
    result = await auth.login(db, hub.throttle, body.email, body.password, actor, ttl)
    if isinstance(result, auth.SecondFactorPending):
        return SecondFactorChallenge(challenge=result.challenge, expires_at=result.expires_at)
    return signed_in(request, response, hub, result)


@router.post("/login/second-factor", dependencies=[PUBLIC])
async def login_second_factor(
    body: SecondFactorLogin,
    request: Request,
    response: Response,
    db: SessionDep,
    hub: HubDep,
    actor: ActorDep,
) -> TokenResponse:
    """The login a challenge waits for, with a TOTP or recovery code."""
    ttl = timedelta(hours=hub.settings.session_ttl_hours)
    result = await login_challenges.complete(
        db, hub.keyring, hub.throttle, body.challenge, body.code, actor, ttl
    )
    return signed_in(request, response, hub, result)


@router.post("/logout", status_code=204, dependencies=[LOGIN_ONLY])
async def logout(
    request: Request, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    await access.logout(db, hub, principal, actor)
    response = Response(status_code=204)
    secure = cookie_secure(request, hub.settings)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True)
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure)
    return response


@router.post("/password", status_code=204, dependencies=[LOGIN_ONLY])
async def change_password(
    body: PasswordChange, principal: PrincipalDep, db: SessionDep, hub: HubDep, actor: UserActorDep
) -> Response:
    """New password; the user's other logins end (this one stays)."""
    await access.change_password(
        db, hub, principal, body.current_password, body.new_password, actor
    )
    return Response(status_code=204)


@router.get("/me", dependencies=[ANY_CALLER])
async def me(principal: PrincipalDep, db: SessionDep) -> UserPublic:
    return UserPublic(
        id=principal.user_id,
        email=principal.email,
        tenant_id=principal.tenant_id,
        tenant_name=await auth.tenant_name(db, principal.tenant_id),
        is_tenant_admin=principal.is_tenant_admin,
    )


@router.get("/preferences", dependencies=[ANY_CALLER])
async def read_preferences(principal: PrincipalDep, db: SessionDep) -> Preferences:
    """The caller's own preferences (there is no way to name another user's)."""
    return await preferences.read(db, principal)


# A login only: these are the dashboard's settings, and a key has no dashboard to set them for.
@router.put("/preferences", dependencies=[LOGIN_ONLY])
async def change_preferences(
    body: PreferencesChange,
    principal: PrincipalDep,
    db: SessionDep,
    hub: HubDep,
    actor: UserActorDep,
) -> Preferences:
    return await preference_actions.change(db, hub, principal, body, actor)
