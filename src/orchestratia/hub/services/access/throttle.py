"""Failed-login budgets per account and per client IP, kept in the database so every replica
shares them and concurrent attempts cannot overrun them.

Each attempt claims a slot *before* the password is checked, with one conditional UPDATE per
budget (a row lock on PostgreSQL, the write lock on SQLite), so a burst of simultaneous logins
gets at most the budget's worth of password checks; the rest are refused with 429. A budget that
runs out stays locked for a whole window from its last attempt. A successful login clears its
account's budget and gives its IP slot back (successes never count against a shared address).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import LoginBudget
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import TooManyRequests
from orchestratia.hub.security import sha256_hex

LOCKED = "too many failed logins; try again later"


def _subject(kind: str, value: str) -> str:
    return sha256_hex(f"{kind}\0{value}")


class LoginThrottle:
    def __init__(self, per_account: int, per_ip: int, window_seconds: int) -> None:
        self._per_account = per_account
        self._per_ip = per_ip
        self._window = timedelta(seconds=window_seconds)

    def _budgets(self, account: str, ip: str) -> tuple[tuple[str, int], ...]:
        return (
            (_subject("account", account.lower()), self._per_account),
            (_subject("ip", ip), self._per_ip),
        )

    async def claim(self, db: AsyncSession, account: str, ip: str) -> None:
        """Take one attempt from the account's and the IP's budgets, committed before the
        password is checked; ``TooManyRequests`` (and nothing taken) when either is spent."""
        now = utcnow()
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        expired = LoginBudget.window_started_at <= now - self._window
        for subject, limit in self._budgets(account, ip):
            await db.execute(
                insert(LoginBudget)
                .values(subject=subject, failures=0, window_started_at=now)
                .on_conflict_do_nothing(index_elements=["subject"])
            )
            claimed = await db.execute(
                update(LoginBudget)
                .where(LoginBudget.subject == subject, expired | (LoginBudget.failures < limit))
                .values(
                    failures=case((expired, 1), else_=LoginBudget.failures + 1),
                    # The last slot restarts the window: the lockout lasts a full window.
                    window_started_at=case(
                        (expired, now),
                        (LoginBudget.failures + 1 >= limit, now),
                        else_=LoginBudget.window_started_at,
                    ),
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 0:  # type: ignore[attr-defined]
                started = await db.scalar(
                    select(LoginBudget.window_started_at).where(LoginBudget.subject == subject)
                )
                await db.rollback()
                raise TooManyRequests(LOCKED, retry_after=self._retry_after(started, now))
        await db.commit()

    def _retry_after(self, started: datetime | None, now: datetime) -> int:
        wait = (started or now) + self._window - now
        return max(int(wait.total_seconds()) + 1, 1)

    async def succeeded(self, db: AsyncSession, account: str, ip: str) -> None:
        """Clear the account's budget and return the IP's slot (in the caller's transaction)."""
        (account_subject, _), _ = self._budgets(account, ip)
        await db.execute(delete(LoginBudget).where(LoginBudget.subject == account_subject))
        await self.give_back_ip_slot(db, ip)

    async def give_back_ip_slot(self, db: AsyncSession, ip: str) -> None:
        """Return the IP's slot only: a right password still waiting for its second factor
        leaves the account's budget spent, so it buys no fresh code guesses."""
        ip_subject = _subject("ip", ip)
        await db.execute(
            update(LoginBudget)
            .where(LoginBudget.subject == ip_subject, LoginBudget.failures > 0)
            .values(failures=LoginBudget.failures - 1)
            .execution_options(synchronize_session=False)
        )

    async def prune(self, db: AsyncSession) -> int:
        """Drop budgets whose window has passed (they would reset on their next use anyway)."""
        gone = await db.execute(
            delete(LoginBudget).where(LoginBudget.window_started_at <= utcnow() - self._window)
        )
        await db.commit()
        count: int = gone.rowcount  # type: ignore[attr-defined]
        return count
