"""Second factor (TOTP, RFC 6238) wire shapes: enrolment, codes, the two-step login."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from orchestratia.protocol.rest import StrictBody

# A six-digit TOTP code or a recovery code (``xxxx-xxxx-xx``), as people type them: spaces and
# dashes are allowed and ignored.
CODE_PATTERN = r"^[A-Za-z0-9 -]+$"


class SecondFactorCode(StrictBody):
    code: str = Field(min_length=6, max_length=32, pattern=CODE_PATTERN)


class SecondFactorLogin(StrictBody):
    challenge: str = Field(min_length=1, max_length=128)
    code: str = Field(min_length=6, max_length=32, pattern=CODE_PATTERN)


class SecondFactorChallenge(BaseModel):
    """The answer to a right password when the account has a second factor: no login yet."""

    second_factor_required: Literal[True] = True
    challenge: str
    expires_at: datetime


class TotpEnrolment(BaseModel):
    """A new secret, pending until a code from it is confirmed."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(BaseModel):
    """Shown once: each code works once in place of a TOTP code."""

    codes: list[str]


class SecondFactorStatus(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    pending: bool
    recovery_codes_left: int
