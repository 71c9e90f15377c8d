"""The account page (Security): change password, set up, use and turn off the second factor,
and choose which events reach you by Telegram and email. The partials call the same services as
``/api/v1/auth/totp/*``; the QR code is drawn here, as an SVG data URI, so the secret never
leaves the hub for a third-party renderer."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.second_factor import OwnerDep
from orchestratia.hub.services.access import preferences, second_factor
from orchestratia.hub.services.integrations import preferences as notification_preferences
from orchestratia.hub.web.page_context import Page, open_page
from orchestratia.hub.web.rendering import MaybePrincipal, templates
from orchestratia.protocol.notification_preferences import EVENT_LABELS
from orchestratia.protocol.second_factor import CODE_PATTERN

router = APIRouter(include_in_schema=False)

Code = Annotated[str, Form(min_length=6, max_length=32, pattern=CODE_PATTERN)]


def qr_data_uri(text: str) -> str:
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


@router.get("/account", response_class=HTMLResponse)
async def account(
    request: Request, db: SessionDep, hub: HubDep, principal: MaybePrincipal
) -> Response:
    page = open_page(request, hub, principal)
    if not isinstance(page, Page):
        return page
    status = await second_factor.status(db, page.principal)
    chosen = await preferences.read(db, page.principal)
    channels = await notification_preferences.read(db, page.principal)
    return page.render(
        "account.html",
        tab="security",
        status=status,
        preferences=chosen,
        channels=channels,
        event_labels=EVENT_LABELS,
    )


@router.post("/ui/account/totp/enrol", response_class=HTMLResponse)
async def enrol(request: Request, db: SessionDep, owner: OwnerDep) -> Response:
    found = await second_factor.enrol(db, owner)
    context = {"secret": found.secret, "qr": qr_data_uri(found.otpauth_uri)}
    return templates.TemplateResponse(request, "_totp_enrol.html", context)


def _codes(request: Request, codes: list[str]) -> Response:
    return templates.TemplateResponse(request, "_totp_codes.html", {"codes": codes})


@router.post("/ui/account/totp/confirm", response_class=HTMLResponse)
async def confirm(request: Request, code: Code, db: SessionDep, owner: OwnerDep) -> Response:
    return _codes(request, await second_factor.confirm(db, owner, code))


@router.post("/ui/account/totp/recovery-codes", response_class=HTMLResponse)
async def recovery_codes(request: Request, code: Code, db: SessionDep, owner: OwnerDep) -> Response:
    return _codes(request, await second_factor.regenerate_recovery_codes(db, owner, code))


@router.post("/ui/account/totp/disable", response_class=HTMLResponse)
async def disable(request: Request, code: Code, db: SessionDep, owner: OwnerDep) -> Response:
    await second_factor.disable(db, owner, code)
    status = await second_factor.status(db, owner.principal)
    return templates.TemplateResponse(request, "_totp_status.html", {"status": status})
