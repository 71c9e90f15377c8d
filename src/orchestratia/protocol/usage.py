"""``GET /api/v1/usage``: a tenant's plan, each of its limits and how much of it is used."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

LimitName = Literal["projects", "servers", "concurrent_sessions", "seats"]


class LimitUsage(BaseModel):
    name: LimitName
    label: str = Field(description="The limit's name as people read it.")
    limit: int | None = Field(description="None: unlimited.")
    used: int


class Usage(BaseModel):
    plan: str
    limits: list[LimitUsage]
