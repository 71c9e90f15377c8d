"""User API keys for the External Service API: the scopes a key can hold and its wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, Field

from orchestratia.protocol.rest import NotBlank, StrictBody

ApiScope = Literal[
    "tasks:read",
    "tasks:write",
    "sessions:read",
    "sessions:write",
    "servers:read",
    "webhooks:read",
    "webhooks:write",
    "servers:write",
    "admin",
]
API_SCOPES: tuple[ApiScope, ...] = get_args(ApiScope)

# Keys live at most this long: a forgotten key with no end is what attackers find years later.
MAX_KEY_DAYS = 366


class ApiKeyCreate(StrictBody):
    name: Annotated[str, NotBlank] = Field(min_length=1, max_length=120)
    scopes: list[ApiScope] = Field(min_length=1, max_length=len(API_SCOPES))
    # Restrict the key to one project; None = every project its owner can reach.
    project_id: str | None = Field(default=None, min_length=1, max_length=64)
    # When the key stops working (with a timezone); None = after MAX_KEY_DAYS.
    expires_at: AwareDatetime | None = None


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    prefix: str  # the first characters of the key, to tell keys apart; never the secret
    scopes: list[ApiScope]
    project_id: str | None
    project_name: str | None
    owner_email: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str  # shown this once; the hub keeps only its SHA-256


class ApiKeyList(BaseModel):
    keys: list[ApiKeyPublic]
