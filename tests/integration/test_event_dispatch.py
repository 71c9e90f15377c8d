"""The dispatcher (SPEC §11): committed events become one webhook delivery per enabled endpoint
that wants them and one notification per member and channel that should hear of them — once,
even when dispatched again or by two dispatchers at the same time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.db.integration_models import (
    IntegrationEvent,
    NotificationPreference,
    TelegramBot,
    TelegramLink,
    WebhookDelivery,
    WebhookEndpoint,
)
from orchestratia.hub.db.models import Membership, Project, Tenant, User
from orchestratia.hub.db.team_models import MailSettings
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.integrations.dispatch import BATCH, Dispatched, dispatch_batch
from orchestratia.hub.services.integrations.events import emit
from orchestratia.protocol.integration_events import InterventionData, InterventionEventData
from tests.integration.event_support import (
    decide,
    deliveries,
    notifications,
    wait_dispatched,
    wait_for_types,
)
from tests.integration.hub_setup import add_user
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet

ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
WINDOW = 3600.0


async def dispatch_all(db: Any, window: timedelta) -> Dispatched:
    """Batches until none is full, as the hub's dispatch loop runs them."""
    total = Dispatched()
    while True:
        made = await dispatch_batch(db, window)
        total.add(made)
        if made.events < BATCH:
            return total


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # Only commits that record events wake the dispatcher; its idle poll never comes in a test.
    return {"integrations_poll_interval": 30, "webhook_retry_window": WINDOW}


async def _user_ids(hub: RunningHub) -> dict[str, str]:
    async with hub.state.sessionmaker() as db:
        return {u.email: u.id for u in await db.scalars(select(User))}


async def _audience(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> dict[str, str]:
    """Endpoints, users, a Telegram bot with linked chats, preferences and mail settings; the
    endpoint ids by name."""
    for email, role in (("mike", "member"), ("vera", "viewer"), ("ivan", "member"), ("nora", None)):
        client = await add_user(hub, admin, f"{email}@a.example", project_id, role)
        await client.aclose()
    other = await admin.post("/api/v1/projects", json={"name": "beta"})
    mail = await admin.put(
        "/api/v1/settings/mail", json={"host": "smtp.example", "from_address": "hub@a.example"}
    )
    assert other.status_code == 201 and mail.status_code == 200, mail.text
    users = await _user_ids(hub)
    async with hub.state.sessionmaker() as db:
        tenant_id = (await db.get(Project, project_id)).tenant_id  # type: ignore[union-attr]
        ids: dict[str, str] = {}
        for name, project, events, enabled in (
            ("all", project_id, [], True),
            ("created", project_id, ["task.created"], True),
            ("disabled", project_id, [], False),
            ("elsewhere", other.json()["id"], [], True),
        ):
            row = WebhookEndpoint(
                tenant_id=tenant_id,
                project_id=project,
                url=f"https://{name}.example/hook",
                events=events,
                enabled=enabled,
                secret_sealed="sealed",
            )
            db.add(row)
            await db.flush()
            ids[name] = row.id
        bot = TelegramBot(tenant_id=tenant_id, project_id=project_id, token_sealed="sealed")
        db.add(bot)
        await db.flush()
        # nora is linked but no member: she cannot see the project, so she hears nothing.
        for chat, who in enumerate(("mike", "vera", "ivan", "nora"), start=1):
            user_id = users[f"{who}@a.example"]
            db.add(
                TelegramLink(
                    tenant_id=tenant_id,
                    bot_id=bot.id,
                    user_id=user_id,
                    chat_id=chat,
                    telegram_user_id=100 + chat,
                )
            )
        vera = users["vera@a.example"]
        for channel, chosen in (("telegram", ["task.completed"]), ("email", [])):
            db.add(
                NotificationPreference(
                    tenant_id=tenant_id, user_id=vera, channel=channel, events=chosen
                )
            )
        await db.execute(update(User).where(User.email == "ivan@a.example").values(is_active=False))
        await db.commit()
    return ids


async def test_deliveries_and_notifications_reach_exactly_who_should_hear(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    endpoints = await _audience(hub, admin, project_id)
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        task = await f.task("Plan first")
        await f.assign(task["id"], "w", require_plan=True)
        await worker.client.post(f"/tasks/{task['id']}/plan", json={"plan": "two steps"})
        await decide(admin, "plan_review", task["id"], "approve")
        await worker.client.post(f"/tasks/{task['id']}/help", json={"question": "Which port?"})
        await worker.client.post(f"/tasks/{task['id']}/fail", json={"error": "disk full"})
    await wait_for_types(hub, ["server.offline"])  # the last event of the flow
    rows = await wait_dispatched(hub)
    by_id = {e.id: e for e in rows}

    made = await deliveries(hub)
    per_endpoint: dict[str, set[str]] = {}
    for d in made:
        per_endpoint.setdefault(d.endpoint_id, set()).add(d.event_id)
        # (The delivery worker may have made attempts since: the window runs from creation.)
        assert d.give_up_at - d.created_at == timedelta(seconds=WINDOW)
    assert per_endpoint == {
        endpoints["all"]: set(by_id),
        endpoints["created"]: {e.id for e in rows if e.type == "task.created"},
    }

    emails = {v: k.split("@")[0] for k, v in (await _user_ids(hub)).items()}
    told = sorted(
        (by_id[n.event_id].type, by_id[n.event_id].data.get("task", {}).get("status"),
         emails[n.user_id], n.channel)
        for n in await notifications(hub)
    )  # fmt: skip
    assert told == sorted(
        [
            ("task.status_changed", "plan_review", "mike", "telegram"),
            ("intervention.created", None, "alice", "email"),
            ("intervention.created", None, "mike", "email"),
            ("intervention.created", None, "mike", "telegram"),
            ("task.failed", "failed", "alice", "email"),
            ("task.failed", "failed", "mike", "email"),
            ("task.failed", "failed", "mike", "telegram"),
        ]
    )

    # Dispatched again (a replica that crashed before recording it did): nothing new.
    async with hub.state.sessionmaker() as db:
        await db.execute(update(IntegrationEvent).values(dispatched_at=None))
        await db.commit()
        again = await dispatch_all(db, timedelta(seconds=WINDOW))
    assert (again.events, again.deliveries, again.notifications) == (len(rows), 0, 0)
    assert len(await deliveries(hub)) == len(made)


async def _one_member_project(db: Any) -> tuple[str, str]:
    tenant = Tenant(name="t")
    db.add(tenant)
    await db.flush()
    project = Project(tenant_id=tenant.id, name="p")
    user = User(tenant_id=tenant.id, email="u@t.example", password_hash="x")
    db.add_all([project, user, MailSettings(tenant_id=tenant.id, host="h", from_address="a@t")])
    await db.flush()
    db.add(Membership(tenant_id=tenant.id, project_id=project.id, user_id=user.id, role="owner"))
    db.add(
        WebhookEndpoint(
            tenant_id=tenant.id, project_id=project.id, url="https://x.example", secret_sealed="s"
        )
    )
    return tenant.id, project.id


@ON_POSTGRES
async def test_two_racing_dispatchers_dispatch_each_event_once(database_url: str) -> None:
    engine = build_engine(database_url)
    sessions = build_sessionmaker(engine)
    count = 250
    try:
        async with sessions() as db:
            tenant_id, project_id = await _one_member_project(db)
            for n in range(count):
                question = InterventionData(
                    id=f"i{n}", project_id=project_id, type="help", question="?",
                    urgency="normal", status="pending", created_at=utcnow(),
                )  # fmt: skip
                data = InterventionEventData(intervention=question)
                emit(db, tenant_id, project_id, "intervention.created", data)
            await db.commit()

        async def dispatcher() -> tuple[int, int, int]:
            async with sessions() as db:
                made = await dispatch_all(db, timedelta(days=3))
            return made.events, made.deliveries, made.notifications

        first, second = await asyncio.gather(dispatcher(), dispatcher())
        assert [a + b for a, b in zip(first, second, strict=True)] == [count] * 3
        async with sessions() as db:
            per_event = list(await db.scalars(select(WebhookDelivery.event_id)))
            assert len(per_event) == len(set(per_event)) == count
            left = await db.scalar(
                select(IntegrationEvent.id).where(IntegrationEvent.dispatched_at.is_(None))
            )
            assert left is None
    finally:
        await engine.dispose()
