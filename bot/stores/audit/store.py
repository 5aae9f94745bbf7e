"""``AuditStore``: the audit table through a psycopg pool; the only writer of the chain.

Inserts are serialised by a transaction-scoped advisory lock (any role may
take one; ``LOCK TABLE … EXCLUSIVE`` would need UPDATE rights the bot's role
does not have), so every row's ``prev_hash`` is the ``row_hash`` of the row
just before it and ``seq`` has no gaps. A row whose id is already stored is
skipped (a replayed spool never duplicates). psycopg errors become
``AuditUnavailable`` here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot.stores.audit.chain import ChainReport, verify_rows
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.migrations import migrate
from bot.stores.audit.record import GENESIS, AuditRecord, AuditRow, chain_row, utc_now

CHAIN_LOCK = 7_311_730_002  # pg_advisory_xact_lock key that serialises inserts
COLUMNS = (
    "id, seq, correlation_id, at, recorded_at, kind, actor, surface, environment, host, "
    "stack, target, action, details, prev_hash, row_hash"
)


@dataclass(frozen=True)
class RowFilter:
    environment: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    correlation_id: str | None = None
    limit: int | None = None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class AuditStore:
    """One audit database. ``open`` never fails; every call maps outages to ``AuditUnavailable``."""

    def __init__(self, conninfo: str, *, timeout: float = 5.0, label: str = "") -> None:
        self.label = label or "the audit database"
        self.conninfo = conninfo
        self._timeout = timeout
        self._migrated = False
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=4,
            open=False,
            timeout=timeout,
            reconnect_timeout=timeout,
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "application_name": "stackbot audit",
                "connect_timeout": max(1, int(timeout)),
            },
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> AuditStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection, the schema up to date; outages become ``AuditUnavailable``."""
        try:
            async with self.pool.connection(timeout=self._timeout) as conn:
                if not self._migrated:
                    await migrate(conn)
                    self._migrated = True
                yield conn
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            raise AuditUnavailable(f"{self.label} cannot be used: {_reason(exc)}") from exc

    async def append(self, record: AuditRecord) -> AuditRow | None:
        """Chain and insert ``record``; None when a row with its id is stored already.

        Returns once the row is committed (durable).
        """
        async with self.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
            cur = await conn.execute("SELECT 1 FROM audit_log WHERE id = %s", (record.id,))
            if await cur.fetchone():
                return None
            cur = await conn.execute(
                "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            )
            last = await cur.fetchone()
            seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
            row = chain_row(record, seq=seq, recorded_at=utc_now(), prev_hash=prev)
            await conn.execute(
                f"INSERT INTO audit_log ({COLUMNS}) VALUES "  # noqa: S608 (constant columns)
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (
                    row.id,
                    row.seq,
                    row.correlation_id,
                    row.at,
                    row.recorded_at,
                    row.kind,
                    row.actor,
                    row.surface,
                    row.environment,
                    row.host,
                    row.stack,
                    Jsonb(row.target),
                    row.action,
                    Jsonb(row.details),
                    row.prev_hash,
                    row.row_hash,
                ),
            )
            return row

    async def rows(self, where: RowFilter = RowFilter()) -> list[AuditRow]:
        """Rows matching ``where``, in chain order."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("environment", where.environment),
            ("actor", where.actor),
            ("action", where.action),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if where.since is not None:
            clauses.append("at >= %s")
            params.append(where.since)
        if where.correlation_id is not None:
            clauses.append("(correlation_id::text = %s OR id::text = %s)")
            params += [where.correlation_id, where.correlation_id]
        query = f"SELECT {COLUMNS} FROM audit_log"  # noqa: S608 (constant columns)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY seq"
        if where.limit is not None:
            query = f"SELECT * FROM ({query} DESC LIMIT %s) last ORDER BY seq"  # noqa: S608
            params.append(where.limit)
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.encode(), params)
            return [AuditRow.model_validate(r) for r in await cur.fetchall()]

    async def story(self, ident: str) -> list[AuditRow]:
        """Every row of one request: ``ident`` is its correlation id or any of its rows' ids,
        or an unambiguous prefix of one (``audit list`` shows the first 8 characters)."""
        prefix = ident.lower().replace("%", "").replace("_", "") + "%"
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT correlation_id::text FROM audit_log "
                "WHERE id::text LIKE %s OR correlation_id::text LIKE %s LIMIT 2",
                (prefix, prefix),
            )
            found = await cur.fetchall()
        if len(found) != 1:
            return []
        return await self.rows(RowFilter(correlation_id=str(found[0][0])))

    async def verify(self) -> ChainReport:
        """Walk the whole chain in ``seq`` order (read through a server-side cursor)."""
        async with self.connection() as conn, conn.transaction():
            cur = conn.cursor("audit_verify", row_factory=dict_row)
            await cur.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY seq")  # noqa: S608
            rows = [AuditRow.model_validate(r) async for r in cur]
            await cur.close()
        return verify_rows(rows)
