"""SQL of the operator's view: backlog, lag, deliveries and rejected messages."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.projection.repository import PROJECTOR


async def backlog(session: AsyncSession) -> tuple[int, float]:
    """Messages past the projector's position, and the age in seconds of the oldest."""
    row = (
        await session.execute(
            text(
                """
                SELECT count(*) AS messages,
                       COALESCE(EXTRACT(EPOCH FROM now() - min(m.received_at)), 0) AS lag
                FROM inbound_messages m
                LEFT JOIN projector_state p ON p.name = :name
                WHERE (m.txid, m.id) > (COALESCE(p.last_txid, 0), COALESCE(p.last_id, 0))
                """
            ),
            {"name": PROJECTOR},
        )
    ).one()
    return int(row.messages), max(float(row.lag), 0.0)


async def deliveries_by_status(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(
        text("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    )
    return {row.status: int(row.n) for row in result}


async def rejected_total(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT count(*) FROM rejected_messages")) or 0)


async def rejected_by_reason_last_day(session: AsyncSession) -> dict[str, int]:
    """Refusals of the last 24 hours by reason code (each reason of a message counts)."""
    result = await session.execute(
        text(
            """
            SELECT reason->>'code' AS code, count(*) AS n
            FROM rejected_messages, jsonb_array_elements(reasons) AS reason
            WHERE received_at > now() - interval '24 hours'
            GROUP BY 1 ORDER BY 2 DESC, 1
            """
        )
    )
    return {row.code: int(row.n) for row in result}
