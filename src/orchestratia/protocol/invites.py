"""Invites into a project and the tenant's mail (SMTP) settings: request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from orchestratia.protocol.rest import Role, StrictBody

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Passwords set through an invite follow the same rule as a password change.
PASSWORD_MIN = 8

# Addresses are compared and stored lowercased: one person, one account, however it is typed.
Email = Annotated[
    str,
    Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN),
    AfterValidator(str.lower),
]
MailSecurity = Literal["starttls", "tls", "none"]


class InviteCreate(StrictBody):
    email: Email
    role: Role


class InvitePublic(BaseModel):
    """A pending invite as its project's owners see it (never its link)."""

    id: str
    project_id: str
    email: str
    role: Role
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    last_sent_at: datetime | None


class InviteIssued(InvitePublic):
    """A new (or resent) invite: ``link`` only when it was not mailed, with ``mail_error`` saying
    why, so the inviter can pass it on by hand."""

    emailed: bool
    link: str | None = None
    mail_error: str | None = None


class InviteInfo(BaseModel):
    """What an invite link shows before it is accepted."""

    project_name: str
    role: Role
    email: str
    invited_by: str | None
    expires_at: datetime
    has_account: bool


class InviteAccept(StrictBody):
    token: str = Field(min_length=1, max_length=200)
    # Only for an address without an account: the new account's password.
    password: str | None = Field(default=None, min_length=PASSWORD_MIN, max_length=1024)


class InviteAccepted(BaseModel):
    project_id: str
    role: Role
    user_id: str
    email: str
    # Set when the invite created the account: the login it opened (also set as cookies).
    access_token: str | None = None
    csrf_token: str | None = None


class MailSettingsUpdate(StrictBody):
    """The tenant's SMTP server. ``password`` None keeps the stored one, "" removes it."""

    host: str = Field(min_length=1, max_length=255, pattern=r"^[^\s/@]+$")
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1024)
    security: MailSecurity = "starttls"
    from_address: Email


class MailSettingsPublic(BaseModel):
    """The settings as stored; the password is write-only, only whether one is set shows."""

    host: str
    port: int
    username: str | None
    password_set: bool
    security: MailSecurity
    from_address: str
    updated_at: datetime


class MailTest(StrictBody):
    to: Email


class MailTestResult(BaseModel):
    sent: bool
    error: str | None = None
