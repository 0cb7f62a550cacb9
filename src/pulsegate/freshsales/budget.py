"""A request budget per Freshsales account, shared by every replica through PostgreSQL.

Freshsales counts every API call of an account against a per-minute and a per-hour limit (400 a
minute, 1,000 to 5,000 an hour by plan: docs/reference/freshsales.md §A12) and answers 429 past
them. The budget keeps pulsegate under both. Its windows slide: each use is a row, and a slot is
free when fewer than the limit were used in the last minute and in the last hour. With fixed
windows, 400 calls at 12:00:59 and 400 more at 12:01:00 would both fit and still be 800 in one
minute.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


class RateBudget:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        per_minute: int = 400,
        per_hour: int = 1000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`clock` is for simulated time in tests; by default the database's clock decides,
        the one clock every replica shares."""
        self._engine = engine
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._clock = clock

    async def take(self, account: str) -> float:
        """Take a slot for one request: 0.0 when taken, else the seconds until one frees up
        (and nothing is taken)."""
        async with self._engine.begin() as connection:
            # One taker per account at a time, so two replicas cannot both take the last slot.
            await connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(hashtext('freshsales-budget:' || %s))", (account,)
            )
            now = (
                self._clock()
                if self._clock
                else (await connection.exec_driver_sql("SELECT now()")).scalar_one()
            )
            await connection.exec_driver_sql(
                "DELETE FROM rate_budget_uses WHERE account = %s AND used_at <= %s",
                (account, now - HOUR),
            )
            uses = [
                row.used_at
                for row in await connection.exec_driver_sql(
                    "SELECT used_at FROM rate_budget_uses WHERE account = %s AND used_at > %s "
                    "ORDER BY used_at",
                    (account, now - HOUR),
                )
            ]
            last_minute = [used for used in uses if used > now - MINUTE]
            if len(last_minute) >= self.per_minute:
                return _until(last_minute[-self.per_minute] + MINUTE, now)
            if len(uses) >= self.per_hour:
                return _until(uses[-self.per_hour] + HOUR, now)
            await connection.exec_driver_sql(
                "INSERT INTO rate_budget_uses (account, used_at) VALUES (%s, %s)", (account, now)
            )
        return 0.0


def _until(moment: datetime, now: datetime) -> float:
    return max((moment - now).total_seconds(), 0.001)
