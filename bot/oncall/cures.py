"""Cure watches in the audit database (``cure_watches``, migration step 6).

Like ``bot.oncall.store``: every change is one conditional ``UPDATE … RETURNING``,
so two replicas never run the same check or end the same watch twice, and times
come from the caller's (injected) clock. A check is *claimed* by moving its
``next_check_at`` a lease ahead: a replica that dies mid-check leaves the watch
due again once the lease is over.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bot.oncall.models import CureWatch, WatchStatus
from bot.oncall.store import select_rows, update_row
from bot.stores.audit.store import AuditStore

COLUMNS = (
    "id, environment, host, stack, action, params, finding_id, touched, incident_id, "
    "fixed_by, channel, thread_ts, started_at, ends_at, checks_total, checks_done, "
    "next_check_at, status, finished_at, evidence"
)


class CureStore:
    """``cure_watches``, through ``store``'s pool (outages surface as ``AuditUnavailable``)."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def create(
        self,
        *,
        environment: str,
        host: str,
        stack: str | None,
        action: str,
        params: Mapping[str, Any],
        finding_id: str | None,
        touched: Sequence[str],
        incident_id: uuid.UUID | None,
        fixed_by: str,
        channel: str | None,
        thread_ts: str | None,
        started_at: datetime,
        ends_at: datetime,
        checks: int,
        first_check_at: datetime,
    ) -> CureWatch:
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"INSERT INTO cure_watches ({COLUMNS}) VALUES (%(id)s, %(env)s, %(host)s, "  # noqa: S608 (constant columns)
                "%(stack)s, %(action)s, %(params)s, %(finding)s, %(touched)s, %(incident)s, "
                "%(by)s, %(channel)s, %(thread)s, %(start)s, %(end)s, %(checks)s, 0, %(first)s, "
                f"'watching', NULL, '[]') RETURNING {COLUMNS}",
                {
                    "id": uuid.uuid4(), "env": environment, "host": host, "stack": stack,
                    "action": action, "params": Jsonb(dict(params)), "finding": finding_id,
                    "touched": Jsonb(list(touched)), "incident": incident_id, "by": fixed_by,
                    "channel": channel, "thread": thread_ts, "start": started_at,
                    "end": ends_at, "checks": checks, "first": first_check_at,
                },
            )  # fmt: skip
            row = await cur.fetchone()
        assert row is not None
        return CureWatch.model_validate(row)

    async def due(self, now: datetime, limit: int = 50) -> list[CureWatch]:
        """Watches whose next check is due, the oldest first."""
        return await self._select(
            "status = 'watching' AND next_check_at <= %(now)s ORDER BY next_check_at, id "
            "LIMIT %(limit)s",
            {"now": now, "limit": limit},
        )

    async def next_due(self) -> datetime | None:
        async with self.store.connection() as conn:
            cur = await conn.execute(
                "SELECT min(next_check_at) FROM cure_watches WHERE status = 'watching'"
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def claim(self, watch: CureWatch, *, now: datetime, lease: datetime) -> CureWatch | None:
        """Take the due check: exactly one caller wins (None: taken, or the watch is over)."""
        return await self._update(
            "id = %(id)s AND status = 'watching' AND checks_done = %(done)s "
            "AND next_check_at <= %(now)s",
            "next_check_at = %(lease)s",
            {"id": watch.id, "done": watch.checks_done, "now": now, "lease": lease},
        )

    async def passed(self, watch: CureWatch, *, next_check_at: datetime) -> CureWatch | None:
        """A check found the cure holding: count it, the next one is due then."""
        return await self._update(
            "id = %(id)s AND status = 'watching' AND checks_done = %(done)s",
            "checks_done = checks_done + 1, next_check_at = %(next)s",
            {"id": watch.id, "done": watch.checks_done, "next": next_check_at},
        )

    async def again(self, watch: CureWatch, *, at: datetime) -> CureWatch | None:
        """A check that could not read the host: the same check again at ``at``."""
        return await self._update(
            "id = %(id)s AND status = 'watching' AND checks_done = %(done)s",
            "next_check_at = %(at)s",
            {"id": watch.id, "done": watch.checks_done, "at": at},
        )

    async def finish(
        self, watch: CureWatch, status: WatchStatus, *, now: datetime,
        evidence: Sequence[Mapping[str, str]] = (), counted: bool = False,
    ) -> CureWatch | None:  # fmt: skip
        """End the watch (held or broke) once; ``counted``: the final check counts too."""
        return await self._update(
            "id = %(id)s AND status = 'watching' AND checks_done = %(done)s",
            "status = %(status)s, finished_at = %(now)s, next_check_at = NULL, "
            "evidence = %(evidence)s, checks_done = checks_done + %(add)s",
            {
                "id": watch.id, "done": watch.checks_done, "status": status, "now": now,
                "evidence": Jsonb([dict(e) for e in evidence]), "add": int(counted),
            },
        )  # fmt: skip

    async def get(self, watch_id: uuid.UUID) -> CureWatch | None:
        found = await self._select("id = %(id)s", {"id": watch_id})
        return found[0] if found else None

    async def latest(self, incident_id: uuid.UUID) -> CureWatch | None:
        """The incident's most recent watch (what its message shows)."""
        found = await self._select(
            "incident_id = %(id)s ORDER BY started_at DESC, id LIMIT 1", {"id": incident_id}
        )
        return found[0] if found else None

    async def others_watching(self, watch: CureWatch) -> bool:
        """Another watch of the same incident still runs (it decides the ending)."""
        if watch.incident_id is None:
            return False
        found = await self._select(
            "incident_id = %(incident)s AND status = 'watching' AND id <> %(id)s",
            {"incident": watch.incident_id, "id": watch.id},
        )
        return bool(found)

    async def _update(
        self, where: str, changes: str, params: Mapping[str, Any]
    ) -> CureWatch | None:
        return await update_row(
            self.store, "cure_watches", COLUMNS, CureWatch, where, changes, params
        )

    async def _select(self, where: str, params: Mapping[str, Any]) -> list[CureWatch]:
        return await select_rows(self.store, "cure_watches", COLUMNS, CureWatch, where, params)
