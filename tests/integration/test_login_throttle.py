"""Failed-login budgets in the database: per account, per IP, window expiry, reset on success."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.db.models import LoginBudget
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import TooManyRequests
from orchestratia.hub.services.access import throttle as throttle_module
from orchestratia.hub.services.access.throttle import LoginThrottle


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def test_account_lockout_after_limit_and_reset_on_success(db: AsyncSession) -> None:
    throttle = LoginThrottle(per_account=3, per_ip=100, window_seconds=60)
    for _ in range(3):
        await throttle.claim(db, "a@x", "1.1.1.1")
    with pytest.raises(TooManyRequests) as locked:
        await throttle.claim(db, "A@X", "2.2.2.2")
    assert 0 < locked.value.retry_after <= 61
    await throttle.claim(db, "b@x", "2.2.2.2")
    await throttle.succeeded(db, "a@x", "1.1.1.1")
    await db.commit()
    await throttle.claim(db, "a@x", "2.2.2.2")


async def test_ip_limit_spans_accounts_and_success_returns_the_slot(db: AsyncSession) -> None:
    throttle = LoginThrottle(per_account=100, per_ip=2, window_seconds=60)
    await throttle.claim(db, "a@x", "9.9.9.9")
    await throttle.claim(db, "b@x", "9.9.9.9")
    with pytest.raises(TooManyRequests):
        await throttle.claim(db, "c@x", "9.9.9.9")
    await throttle.claim(db, "c@x", "8.8.8.8")
    await throttle.succeeded(db, "b@x", "9.9.9.9")
    await db.commit()
    await throttle.claim(db, "c@x", "9.9.9.9")


async def test_window_expiry(db: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    monkeypatch.setattr(throttle_module, "utcnow", lambda: now)
    throttle = LoginThrottle(per_account=1, per_ip=100, window_seconds=10)
    await throttle.claim(db, "a@x", "1.1.1.1")
    with pytest.raises(TooManyRequests):
        await throttle.claim(db, "a@x", "1.1.1.1")
    now += timedelta(seconds=10.5)
    assert await throttle.prune(db) == 2
    await throttle.claim(db, "a@x", "1.1.1.1")


async def test_a_spent_budget_whose_window_passed_restarts_on_the_next_claim(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No prune in between: the claim's own UPDATE resets an expired window.
    now = utcnow()
    monkeypatch.setattr(throttle_module, "utcnow", lambda: now)
    throttle = LoginThrottle(per_account=3, per_ip=100, window_seconds=10)
    for _ in range(3):
        await throttle.claim(db, "a@x", "1.1.1.1")
    with pytest.raises(TooManyRequests):
        await throttle.claim(db, "a@x", "1.1.1.1")
    now += timedelta(seconds=10.5)
    await throttle.claim(db, "a@x", "1.1.1.1")
    # Both budgets (account spent, IP not) restarted at this attempt, counting it alone.
    rows = (await db.execute(select(LoginBudget.failures, LoginBudget.window_started_at))).all()
    assert [tuple(r) for r in rows] == [(1, now), (1, now)]
    for _ in range(2):
        await throttle.claim(db, "a@x", "1.1.1.1")
    with pytest.raises(TooManyRequests):
        await throttle.claim(db, "a@x", "1.1.1.1")
