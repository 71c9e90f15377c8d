"""``orchestratia hub set-plan TENANT PLAN``: an operator moves a tenant to another plan."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from orchestratia.cli.output import console, fail
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.errors import HubError
from orchestratia.hub.services.access import plans
from orchestratia.hub.settings import HubSettings

# An operator's mistake (unknown plan or tenant), as typer's own usage errors.
USAGE_ERROR = 2


async def _set_plan(settings: HubSettings, tenant_ref: str, plan: str) -> tuple[str, str]:
    engine = build_engine(settings.resolved_database_url())
    try:
        async with build_sessionmaker(engine)() as db:
            tenant, before = await plans.set_plan(db, tenant_ref, plan)
            name = tenant.name
            await db.commit()
    finally:
        await engine.dispose()
    return name, before


def set_plan(
    tenant: Annotated[str, typer.Argument(help="The tenant's id or name.")],
    plan: Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(plans.PLANS))}.")],
) -> None:
    """Put a tenant on another plan; its limits apply from the next request (audited as
    ``tenant.plan_changed``)."""
    try:
        name, before = asyncio.run(_set_plan(HubSettings(), tenant, plan))
    except HubError as exc:
        fail(exc.detail, code=USAGE_ERROR)
    if before == plan:
        console.print(f"tenant {name!r} is already on the {plan!r} plan")
    else:
        console.print(f"tenant {name!r}: plan {before!r} → {plan!r}")
