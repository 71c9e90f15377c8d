"""Plan limits per tenant. ``None`` means unlimited."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlanLimits:
    projects: int | None
    servers: int | None
    concurrent_sessions: int | None
    seats: int | None


PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits(projects=1, servers=1, concurrent_sessions=3, seats=3),
    "unlimited": PlanLimits(projects=None, servers=None, concurrent_sessions=None, seats=None),
}


def limits_for(plan: str) -> PlanLimits:
    return PLANS.get(plan, PLANS["free"])
