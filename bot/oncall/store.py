"""Incidents, their history, on-call overrides and watcher runs, in the audit database.

Every change of an incident's state is ONE conditional ``UPDATE … RETURNING``
(or an ``INSERT … ON CONFLICT``), so two replicas handling the same alert, the
same click or the same due page can never both win: the row lock makes the
second statement see the first one's result and match nothing.

Times come from the caller (``now``), never from ``now()`` in SQL: the clock is
injected, so tests can move it, and every replica uses its own (NTP-synced)
clock the same way. The tables live in the audit database (migration steps 3
and 4), reached through ``AuditStore``'s pool: outages surface as
``AuditUnavailable``.

Alert storms (docs/ONCALL.md): an Alertmanager group is one incident whose
alerts are rows of ``incident_alerts``; an environment's new incident messages
are limited per minute by one conditional upsert on ``oncall_announcements``
(``take_slot``), and the incidents beyond it join the environment's open
**digest**, itself an incident (source ``stackbot``, fingerprint ``storm``)
that its members point at (``digest_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from bot.model.errors import StackbotError
from bot.model.findings import Severity
from bot.oncall.models import Alert, Incident, IncidentStatus, Listed, Listing, Override
from bot.stores.audit.store import AuditStore

M = TypeVar("M", bound=BaseModel)

COLUMNS = (
    "id, environment, fingerprint, source, title, severity, summary, labels, url, status, "
    "opened_at, last_seen_at, alert_count, oncall_user, channel, message_ts, escalation_step, "
    "next_page_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at, digest_id, "
    "reopened_at"
)
DIGEST_FINGERPRINT = "storm"  # the open digest of an environment (one at a time)
SLOT_WINDOW = timedelta(minutes=1)  # the cap on new incident messages counts over this
_RANK = "CASE {0} WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"
OVERRIDE_COLUMNS = "id, environment, user_id, starts_at, ends_at, created_by, created_at"


_ACKNOWLEDGED = (
    "status = 'acknowledged', acknowledged_by = %(by)s, acknowledged_at = %(now)s, "
    "next_page_at = NULL"
)
_RESOLVED = "status = 'resolved', resolved_by = %(by)s, resolved_at = %(now)s, next_page_at = NULL"


class IncidentError(StackbotError):
    """An incident cannot do what was asked; the message says why, for the user."""

    code: ClassVar[str] = "incident"

    def __init__(self, message: str, incident: Incident | None = None) -> None:
        super().__init__(message)
        self.incident = incident


class IncidentNotFound(IncidentError):
    code = "incident.unknown"


def _at(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "?"


def _refusal(incident: Incident, wanted: str) -> IncidentError:
    if incident.status is IncidentStatus.RESOLVED:
        by = incident.resolved_by or ""
        who = f" by <@{by}>" if by[:1] in "UW" and by.isalnum() else f" by {by}" if by else ""
        return IncidentError(
            f"Incident {incident.short_id} is already resolved{who} at "
            f"{_at(incident.resolved_at)}; nothing to {wanted}.",
            incident,
        )
    return IncidentError(
        f"Incident {incident.short_id} was already acknowledged by "
        f"<@{incident.acknowledged_by}> at {_at(incident.acknowledged_at)}.",
        incident,
    )


class IncidentStore:
    """``incidents`` and friends, through ``store``'s pool."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    # --- alerts in --------------------------------------------------------------------------

    async def open_or_repeat(
        self,
        environment: str,
        alert: Alert,
        *,
        channel: str,
        oncall_user: str | None,
        now: datetime,
        count: int = 1,
    ) -> tuple[Incident, bool]:
        """Open an incident for a firing alert, or count a repeat of an open one.

        Returns the incident and whether it is new. A new incident is due for
        announcement at once (``escalation_step`` 0, ``next_page_at`` now).
        ``count`` alerts arrived for it (a group's firing alerts); a repeat
        raises the severity when the new alerts are worse.
        """
        worse = f"{_RANK.format('EXCLUDED.severity')} < {_RANK.format('incidents.severity')}"
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO incidents (id, environment, fingerprint, source, title, severity, "  # noqa: S608 (constant columns)
                "summary, labels, url, opened_at, last_seen_at, oncall_user, channel, "
                "next_page_at, alert_count) VALUES (%(id)s, %(env)s, %(fp)s, %(source)s, "
                "%(title)s, %(severity)s, %(summary)s, %(labels)s, %(url)s, %(now)s, %(now)s, "
                "%(oncall)s, %(channel)s, %(now)s, %(count)s) "
                "ON CONFLICT (environment, fingerprint) WHERE status <> 'resolved' DO UPDATE "
                "SET last_seen_at = EXCLUDED.last_seen_at, "
                "alert_count = incidents.alert_count + EXCLUDED.alert_count, "
                f"severity = CASE WHEN {worse} THEN EXCLUDED.severity ELSE incidents.severity END "
                f"RETURNING {COLUMNS}, (xmax = 0) AS inserted",
                {
                    "count": count,
                    "id": uuid.uuid4(),
                    "env": environment,
                    "fp": alert.fingerprint,
                    "source": alert.source,
                    "title": alert.title,
                    "severity": alert.severity.value,
                    "summary": alert.summary,
                    "labels": Jsonb(alert.labels),
                    "url": alert.url,
                    "now": now,
                    "oncall": oncall_user,
                    "channel": channel,
                },
            )
            row = await cur.fetchone()
        assert row is not None
        inserted = bool(row.pop("inserted"))
        incident = Incident.model_validate(row)
        if inserted:
            await self.add_event(incident.id, "opened", alert.source, now, {"title": alert.title})
        return incident, inserted

    async def record_alerts(
        self, incident_id: uuid.UUID, alerts: list[Alert], now: datetime
    ) -> None:
        """The alerts of a group, as they are now (firing or resolved), in its incident."""
        latest = {alert.fingerprint: alert for alert in alerts}  # one row each, the last wins
        if not latest:
            return
        rows = list(latest.values())
        async with self.store.connection() as conn:
            await conn.execute(
                "INSERT INTO incident_alerts (incident_id, fingerprint, status, severity, "
                "detail, first_seen_at, last_seen_at) "
                "SELECT %(id)s, f, s, v, d, %(now)s, %(now)s FROM "
                "unnest(%(fps)s::text[], %(st)s::text[], %(sv)s::text[], %(de)s::text[]) "
                "AS a(f, s, v, d) "
                "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET status = EXCLUDED.status, "
                "severity = EXCLUDED.severity, detail = EXCLUDED.detail, "
                "last_seen_at = EXCLUDED.last_seen_at",
                {
                    "id": incident_id,
                    "now": now,
                    "fps": [a.fingerprint for a in rows],
                    "st": [a.status for a in rows],
                    "sv": [a.severity.value for a in rows],
                    "de": [a.detail or a.title for a in rows],
                },
            )

    async def resolve_if_quiet(
        self, incident_id: uuid.UUID, *, by: str, now: datetime
    ) -> Incident | None:
        """Resolve a group's incident once none of its alerts fires; None otherwise."""
        return await self._transition(
            "id = %(id)s AND status <> 'resolved' AND NOT EXISTS (SELECT 1 FROM incident_alerts "
            "a WHERE a.incident_id = %(id)s AND a.status = 'firing')",
            _RESOLVED, "resolved", by, now, {"id": incident_id},
        )  # fmt: skip

    async def unresolved(self, environment: str, fingerprint: str) -> Incident | None:
        """The open or acknowledged incident of this fingerprint, if any."""
        found = await self._select(
            "environment = %(env)s AND fingerprint = %(fp)s AND status <> 'resolved'",
            {"env": environment, "fp": fingerprint},
        )
        return found[0] if found else None

    async def resolve_fingerprint(
        self, environment: str, fingerprint: str, *, by: str, now: datetime
    ) -> Incident | None:
        """Resolve the open incident of this alert; None when there is none."""
        return await self._transition(
            "environment = %(env)s AND fingerprint = %(fp)s AND status <> 'resolved'",
            _RESOLVED, "resolved", by, now, {"env": environment, "fp": fingerprint},
        )  # fmt: skip

    # --- people -------------------------------------------------------------------------------

    async def acknowledge(self, incident_id: uuid.UUID | str, user: str, now: datetime) -> Incident:
        """``user`` owns it now; escalation stops. Succeeds once; else says who did."""
        # A digest stops taking incidents once acknowledged: the next storm gets its own.
        renamed = (
            "fingerprint = CASE WHEN source = 'stackbot' THEN 'storm:' || id ELSE fingerprint END"
        )
        row = await self._transition(
            "id = %(id)s AND status = 'open'", f"{_ACKNOWLEDGED}, {renamed}", "acknowledged",
            user, now, {"id": _uuid(incident_id)},
        )  # fmt: skip
        if row is None:
            raise _refusal(await self.get(incident_id), "acknowledge")
        if row.is_digest:  # acknowledging the digest acknowledges the incidents it lists
            await self._cascade(row, "status = 'open'", _ACKNOWLEDGED, "acknowledged", user, now)
        return row

    async def resolve(self, incident_id: uuid.UUID | str, user: str, now: datetime) -> Incident:
        row = await self._transition(
            "id = %(id)s AND status <> 'resolved'", _RESOLVED, "resolved", user, now,
            {"id": _uuid(incident_id)},
        )  # fmt: skip
        if row is None:
            raise _refusal(await self.get(incident_id), "resolve")
        if row.is_digest:  # resolving the digest resolves the incidents it lists
            await self._cascade(row, "status <> 'resolved'", _RESOLVED, "resolved", user, now)
        return row

    async def _cascade(
        self, digest: Incident, where: str, changes: str, kind: str, by: str, now: datetime
    ) -> int:
        """The digest's change, made to every incident it lists still matching ``where``."""
        async with self.store.connection() as conn:
            cur = await conn.execute(
                f"WITH changed AS (UPDATE incidents SET {changes} "  # noqa: S608 (constant SQL)
                f"WHERE digest_id = %(digest)s AND {where} RETURNING id) "
                "INSERT INTO incident_events (incident_id, at, kind, actor, details) "
                "SELECT id, %(now)s, %(kind)s, %(by)s, %(details)s FROM changed",
                {
                    "digest": digest.id, "now": now, "kind": kind, "by": by,
                    "details": Jsonb({"digest": str(digest.id)}),
                },
            )  # fmt: skip
            return cur.rowcount

    # --- storms: the message cap and the digest ------------------------------------------------

    async def take_slot(self, environment: str, per_minute: int, now: datetime) -> bool:
        """May one more incident message go to the environment's channel now?

        True for at most ``per_minute`` calls in any minute, across replicas: the
        row keeps the times of the slots taken in the last minute, and one
        conditional upsert (the row is locked while it decides) adds ``now`` only
        when fewer than ``per_minute`` remain.
        """
        recent = "ARRAY(SELECT t FROM unnest(oncall_announcements.recent) t WHERE t > %(since)s)"
        async with self.store.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO oncall_announcements (environment, recent) "  # noqa: S608 (constant SQL)
                "VALUES (%(env)s, ARRAY[%(now)s::timestamptz]) "
                "ON CONFLICT (environment) DO UPDATE "
                f"SET recent = {recent} || %(now)s::timestamptz "
                f"WHERE cardinality({recent}) < %(cap)s RETURNING 1",
                {"env": environment, "now": now, "since": now - SLOT_WINDOW, "cap": per_minute},
            )
            return await cur.fetchone() is not None

    async def fold(self, member: Incident, digest: Incident, now: datetime) -> bool:
        """List ``member`` in ``digest`` instead of a message: no escalation of its own.

        False when the digest is no longer open (acknowledged or resolved
        meanwhile): the caller opens or finds the next one.
        """
        row = await self._update(
            "id = %(id)s AND EXISTS (SELECT 1 FROM incidents d WHERE d.id = %(digest)s "
            "AND d.status = 'open')",
            "digest_id = %(digest)s, next_page_at = NULL",
            {"id": member.id, "digest": digest.id},
        )
        if row is None:
            return False
        await self.add_event(member.id, "digested", "stackbot", now, {"digest": str(digest.id)})
        return True

    async def close_digest_if_done(self, digest_id: uuid.UUID, now: datetime) -> Incident | None:
        """Resolve a digest once every incident it lists is resolved; None otherwise."""
        return await self._transition(
            "id = %(id)s AND status <> 'resolved' AND NOT EXISTS (SELECT 1 FROM incidents m "
            "WHERE m.digest_id = %(id)s AND m.status <> 'resolved')",
            _RESOLVED, "resolved", "stackbot", now, {"id": digest_id},
        )  # fmt: skip

    async def listing(self, incident: Incident, limit: int = 10) -> Listing | None:
        """What the incident holds: a digest's incidents, a group's alerts; None otherwise.

        Counts cover everything; ``items`` are the first ``limit``, open ones
        first, then the most severe, then the oldest.
        """
        if incident.is_digest:
            table, key, ref = "incidents", "digest_id", "id::text"
            is_open, title, since = "status <> 'resolved'", "title", "opened_at"
        elif incident.fingerprint.startswith("group:"):
            table, key, ref = "incident_alerts", "incident_id", "''"
            is_open, title, since = "status = 'firing'", "detail", "first_seen_at"
        else:
            return None
        async with self.store.connection() as conn:
            cur = await conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {is_open}) FROM {table} "  # noqa: S608 (constant SQL)
                f"WHERE {key} = %(id)s",
                {"id": incident.id},
            )
            counts = await cur.fetchone()
            cur = await conn.execute(
                f"SELECT severity, {title}, {is_open}, {ref} FROM {table} WHERE {key} = %(id)s "  # noqa: S608 (constant SQL)
                f"ORDER BY {is_open} DESC, {_RANK.format('severity')}, {since} LIMIT %(limit)s",
                {"id": incident.id, "limit": limit},
            )
            rows = await cur.fetchall()
        assert counts is not None
        items = [
            Listed(severity=Severity(sev), title=text, open=bool(live), ref=str(ref)[:8])
            for sev, text, live, ref in rows
        ]
        return Listing(total=int(counts[0]), open=int(counts[1]), items=items)

    # --- escalation -----------------------------------------------------------------------------

    async def due(self, now: datetime, limit: int = 100) -> list[Incident]:
        """Open incidents whose next step (announcement or page) is due, oldest first."""
        return await self._select(
            "status = 'open' AND next_page_at <= %(now)s ORDER BY next_page_at, id LIMIT %(limit)s",
            {"now": now, "limit": limit},
        )

    async def next_due(self) -> datetime | None:
        async with self.store.connection() as conn:
            cur = await conn.execute(
                "SELECT min(next_page_at) FROM incidents WHERE status = 'open'"
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def claim_step(
        self, incident: Incident, *, next_page_at: datetime | None, now: datetime
    ) -> Incident | None:
        """Take step ``incident.escalation_step`` (due by ``now``): exactly one caller wins.

        Returns the incident with the step counted and the following step's time
        set; None when another replica took it, or it was acknowledged or resolved.
        """
        return await self._update(
            "id = %(id)s AND status = 'open' AND escalation_step = %(step)s "
            "AND next_page_at <= %(now)s",
            "escalation_step = escalation_step + 1, next_page_at = %(next)s",
            {
                "id": incident.id,
                "step": incident.escalation_step,
                "now": now,
                "next": next_page_at,
            },
        )

    async def release_step(self, claimed: Incident, due_at: datetime) -> None:
        """Give back a claimed step whose page could not be sent, so it is tried again."""
        await self._update(
            "id = %(id)s AND escalation_step = %(step)s AND status = 'open'",
            "escalation_step = escalation_step - 1, next_page_at = %(due)s",
            {"id": claimed.id, "step": claimed.escalation_step, "due": due_at},
        )

    async def hand_over(self, incident_id: uuid.UUID, user: str) -> Incident | None:
        """The incident's on-call person is now ``user`` (paged after a handoff or override)."""
        return await self._update(
            "id = %(id)s AND oncall_user IS DISTINCT FROM %(user)s", "oncall_user = %(user)s",
            {"id": incident_id, "user": user},
        )  # fmt: skip

    async def attach_message(self, incident_id: uuid.UUID, channel: str, ts: str) -> Incident:
        row = await self._update(
            "id = %(id)s", "channel = %(channel)s, message_ts = %(ts)s",
            {"id": incident_id, "channel": channel, "ts": ts},
        )  # fmt: skip
        if row is None:
            raise _unknown(incident_id)
        return row

    async def reopen(
        self, incident_id: uuid.UUID, *, by: str, now: datetime, next_page_at: datetime | None
    ) -> Incident | None:
        """Its cure broke: open again, unacknowledged, escalating from ``now`` (step 1 due at
        ``next_page_at``). None when another incident of its fingerprint is open meanwhile
        (that one carries the story on) or it is a digest."""
        return await self._transition(
            "id = %(id)s AND source <> 'stackbot' AND NOT EXISTS (SELECT 1 FROM incidents o "
            "WHERE o.environment = incidents.environment AND o.fingerprint = "
            "incidents.fingerprint AND o.status <> 'resolved' AND o.id <> incidents.id)",
            "status = 'open', acknowledged_by = NULL, acknowledged_at = NULL, "
            "resolved_by = NULL, resolved_at = NULL, reopened_at = %(now)s, "
            "escalation_step = CASE WHEN message_ts IS NULL THEN 0 ELSE 1 END, "
            "next_page_at = CASE WHEN message_ts IS NULL THEN %(now)s ELSE %(next)s END",
            "reopened", by, now, {"id": incident_id, "next": next_page_at},
        )  # fmt: skip

    async def by_message(self, channel: str, ts: str) -> Incident | None:
        """The incident whose channel message is ``ts`` (a thread's root), if any."""
        found = await self._select(
            "message_ts = %(ts)s AND channel = %(channel)s", {"ts": ts, "channel": channel}
        )
        return found[0] if found else None

    async def still_firing(self, incident: Incident, since: datetime) -> bool:
        """Does its alert source still fire: a firing alert of its group, or (one alert)
        a repeat that arrived after ``since``? (Resolved ones fire no longer.)"""
        if incident.status is IncidentStatus.RESOLVED:
            return False
        if not incident.fingerprint.startswith("group:"):
            return incident.source != "watcher" and incident.last_seen_at > since
        async with self.store.connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM incident_alerts WHERE incident_id = %s AND status = 'firing' "
                "LIMIT 1",
                (incident.id,),
            )
            return await cur.fetchone() is not None

    # --- reading --------------------------------------------------------------------------------

    async def get(self, incident_id: uuid.UUID | str) -> Incident:
        found = await self._select("id = %(id)s", {"id": _uuid(incident_id)})
        if not found:
            raise _unknown(incident_id)
        return found[0]

    async def open_incidents(
        self, environments: Collection[str], *, source: str | None = None
    ) -> list[Incident]:
        """Unresolved incidents of these environments, oldest first."""
        where = "environment = ANY(%(envs)s) AND status <> 'resolved'"
        if source is not None:
            where += " AND source = %(source)s"
        return await self._select(
            where + " ORDER BY opened_at, id", {"envs": list(environments), "source": source}
        )

    async def add_event(
        self,
        incident_id: uuid.UUID,
        kind: str,
        actor: str,
        now: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        async with self.store.connection() as conn:
            await conn.execute(
                "INSERT INTO incident_events (incident_id, at, kind, actor, details) "
                "VALUES (%s, %s, %s, %s, %s)",
                (incident_id, now, kind, actor, Jsonb(dict(details or {}))),
            )

    async def events(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        """The incident's history (opened, announced, paged, acknowledged …), in order."""
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT at, kind, actor, details FROM incident_events "
                "WHERE incident_id = %s ORDER BY id",
                (incident_id,),
            )
            return list(await cur.fetchall())

    # --- overrides --------------------------------------------------------------------------------

    async def add_override(
        self, environment: str, user: str, *, starts_at: datetime, ends_at: datetime,
        created_by: str, now: datetime,
    ) -> Override:  # fmt: skip
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"INSERT INTO oncall_overrides ({OVERRIDE_COLUMNS}) "  # noqa: S608 (constant columns)
                f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {OVERRIDE_COLUMNS}",
                (uuid.uuid4(), environment, user, starts_at, ends_at, created_by, now),
            )
            row = await cur.fetchone()
        assert row is not None
        return Override.model_validate(row)

    async def overrides(self, environment: str, at: datetime) -> list[Override]:
        """Overrides of the environment not yet over at ``at``."""
        async with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {OVERRIDE_COLUMNS} FROM oncall_overrides "  # noqa: S608 (constant columns)
                "WHERE environment = %s AND ends_at > %s ORDER BY created_at",
                (environment, at),
            )
            return [Override.model_validate(row) for row in await cur.fetchall()]

    # --- the watcher ------------------------------------------------------------------------------

    async def claim_watch(self, environment: str, every: timedelta, now: datetime) -> bool:
        """True for exactly one replica per period: that one runs the watch."""
        async with self.store.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO oncall_watch (environment, last_run_at) VALUES (%(env)s, %(now)s) "
                "ON CONFLICT (environment) DO UPDATE SET last_run_at = EXCLUDED.last_run_at "
                "WHERE oncall_watch.last_run_at <= %(since)s RETURNING 1",
                {"env": environment, "now": now, "since": now - every + timedelta(seconds=1)},
            )
            return await cur.fetchone() is not None

    # --- plumbing ---------------------------------------------------------------------------------

    async def _transition(
        self, where: str, changes: str, kind: str, by: str, now: datetime,
        params: Mapping[str, Any],
    ) -> Incident | None:  # fmt: skip
        """One state change (escalation stops) and its history row; None if nothing matched."""
        row = await self._update(where, changes, {**params, "by": by, "now": now})
        if row is not None:
            await self.add_event(row.id, kind, by, now)
        return row

    async def _update(self, where: str, changes: str, params: Mapping[str, Any]) -> Incident | None:
        return await update_row(self.store, "incidents", COLUMNS, Incident, where, changes, params)

    async def _select(self, where: str, params: Mapping[str, Any]) -> list[Incident]:
        return await select_rows(self.store, "incidents", COLUMNS, Incident, where, params)


async def update_row(
    store: AuditStore, table: str, columns: str, model: type[M], where: str, changes: str,
    params: Mapping[str, Any],
) -> M | None:  # fmt: skip
    """``UPDATE table SET changes WHERE where RETURNING columns``: the row as ``model``,
    or None when nothing matched. ``table``, ``columns``, ``where`` and ``changes`` are
    the caller's constant SQL; values only in ``params``."""
    async with store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE {table} SET {changes} WHERE {where} RETURNING {columns}",  # noqa: S608 (constant SQL)
            params,
        )
        row = await cur.fetchone()
    return model.model_validate(row) if row else None


async def select_rows(
    store: AuditStore, table: str, columns: str, model: type[M], where: str,
    params: Mapping[str, Any],
) -> list[M]:  # fmt: skip
    """``SELECT columns FROM table WHERE where``, each row as ``model`` (constant SQL)."""
    async with store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {columns} FROM {table} WHERE {where}",  # noqa: S608 (constant SQL)
            params,
        )
        return [model.model_validate(row) for row in await cur.fetchall()]


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _unknown(value) from None


def _unknown(incident_id: object) -> IncidentNotFound:
    return IncidentNotFound(f"There is no incident {str(incident_id)[:40]!r}.")
