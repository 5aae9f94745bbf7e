"""What a stack's database server says about its sessions, and where its data lives.

Read by the diagnosis on the connection it already holds (``gather._database``), in
one query (``ACTIVITY_SQL``), and by ``db.migrate`` before it starts:

- connection use: ``max_connections``, the slots reserved for superusers
  (``superuser_reserved_connections``, and ``reserved_connections`` from Postgres 16),
  and the client backends other than stackbot's own, counted by state,
  ``application_name`` and client address (``db.connections_exhausted``);
- lock waits: sessions waiting on a lock (``wait_event_type = 'Lock'``) with the
  sessions ``pg_blocking_pids()`` names, and sessions idle in a transaction for over
  a minute (``db.lock_blocking``; ``db.migrate`` refuses to start behind them);
- the size of the app's database.

Only what the app's role may see: without superuser or ``pg_read_all_stats`` the
state and query of other roles' sessions are hidden, so their lock waits are not
seen. Query text is never kept whole: string literals are masked, secrets redacted,
and it is cut to ``QUERY_CHARS``.

And, read with one ``df`` in the database container (``DF_ARGV``), the filesystem
holding its data directory (``volume.nearly_full``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.framework.session import Database
from bot.model.errors import HostError
from bot.redaction.redact import redact_text

__all__ = [
    "ACTIVITY_SQL",
    "IDLE_IN_TRANSACTION_SECONDS",
    "LOCK_WAIT_SECONDS",
    "QUERY_CHARS",
    "ClientGroup",
    "DataFilesystem",
    "DbActivity",
    "Holder",
    "LockWait",
    "df_argv",
    "lock_obstacles",
    "parse_activity",
    "parse_df",
    "read_activity",
    "safe_query",
]

QUERY_CHARS = 120
# A lock wait shorter than this is ordinary contention, not an incident.
LOCK_WAIT_SECONDS = 10
# A session idle in a transaction this long holds its locks for nobody.
IDLE_IN_TRANSACTION_SECONDS = 60

# the interval is IDLE_IN_TRANSACTION_SECONDS; no "%" (psycopg reads it as a placeholder)
ACTIVITY_SQL = """
with a as (
  select pid, state, backend_type, wait_event_type, datname, application_name,
         host(client_addr) as client, xact_start, state_change, query_start,
         left(query, 400) as query
  from pg_stat_activity
),
w as (
  select a.*, pg_blocking_pids(a.pid) as blockers from a where a.wait_event_type = 'Lock'
)
select
  current_setting('max_connections')::int,
  current_setting('superuser_reserved_connections')::int,
  coalesce(current_setting('reserved_connections', true), '0')::int,
  (select coalesce(json_agg(g), '[]'::json) from (
     select state, application_name, client, count(*)::int as n from a
     where backend_type = 'client backend' and pid <> pg_backend_pid()
     group by state, application_name, client) g),
  (select coalesce(json_agg(x), '[]'::json) from (
     select pid, blockers, datname, application_name, client,
            extract(epoch from now() - coalesce(query_start, state_change))::int as waiting_s,
            (select string_agg(distinct coalesce(l.relation::regclass::text, l.locktype), ', ')
               from pg_locks l where l.pid = w.pid and not l.granted) as waiting_for,
            query
     from w where cardinality(blockers) > 0) x),
  (select coalesce(json_agg(b), '[]'::json) from (
     select pid, state, datname, application_name, client,
            extract(epoch from now() - xact_start)::int as xact_s,
            extract(epoch from now() - state_change)::int as state_s,
            (select count(*) from pg_locks l
               where l.pid = a.pid and l.locktype = 'relation' and l.granted)::int
              as relation_locks,
            query
     from a
     where pid <> pg_backend_pid()
       and (pid in (select unnest(blockers) from w)
            or (state in ('idle in transaction', 'idle in transaction (aborted)')
                and now() - state_change > interval '60 seconds'))) b),
  pg_database_size(current_database())
"""

_LITERAL = re.compile(r"(?:[eE])?'(?:[^']|'')*(?:'|$)|\$([A-Za-z_]\w*|)\$.*?(?:\$\1\$|$)", re.S)
_SPACE = re.compile(r"\s+")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClientGroup(_Model):
    """Client backends sharing a state, ``application_name`` and client address."""

    state: str | None  # "active", "idle", "idle in transaction", None: not visible to us
    application_name: str = ""
    client: str | None = None  # None: a Unix socket, or not visible
    count: int


class LockWait(_Model):
    """A session waiting on a lock other sessions hold."""

    pid: int
    blocked_by: tuple[int, ...]  # 0: a prepared transaction
    database: str | None = None
    application_name: str = ""
    client: str | None = None
    waiting_seconds: int | None = None
    waiting_for: str | None = None  # the relations (or lock types) it waits for
    query: str = ""  # safe_query


class Holder(_Model):
    """A session others wait for, or idle in a transaction for over a minute."""

    pid: int
    state: str | None = None
    database: str | None = None
    application_name: str = ""
    client: str | None = None
    transaction_seconds: int | None = None
    state_seconds: int | None = None  # how long in its current state
    relation_locks: int = 0
    query: str = ""  # its last statement, safe_query


class DbActivity(_Model):
    """One reading of ``ACTIVITY_SQL``."""

    max_connections: int
    superuser_reserved: int
    reserved: int = 0
    clients: tuple[ClientGroup, ...] = ()  # every client backend but stackbot's own
    waits: tuple[LockWait, ...] = ()
    holders: tuple[Holder, ...] = ()
    database_size: int | None = None

    @property
    def in_use(self) -> int:
        return sum(g.count for g in self.clients)

    @property
    def available(self) -> int:
        """Connections a role without superuser (or ``pg_use_reserved_connections``) gets."""
        return max(self.max_connections - self.superuser_reserved - self.reserved, 0)

    def holder(self, pid: int) -> Holder | None:
        return next((h for h in self.holders if h.pid == pid), None)


class DataFilesystem(_Model):
    """The filesystem holding a database container's data directory, as ``df`` in it says."""

    container: str
    data_dir: str
    filesystem: str  # df's first column: "tmpfs", "/dev/loop3", "overlay"
    mount: str  # where it is mounted in the container
    size: int  # bytes
    used: int
    available: int

    @property
    def percent_used(self) -> float:
        total = self.used + self.available
        return 100.0 * self.used / total if total else 0.0


def safe_query(text: str | None, secrets: Iterable[str] = ()) -> str:
    """A session's query fit to show: literals masked, secrets redacted, whitespace
    collapsed, cut to ``QUERY_CHARS``."""
    if not text:
        return ""
    masked = _LITERAL.sub("'…'", text)
    line = _SPACE.sub(" ", redact_text(masked, known_secrets=secrets)).strip()
    return line if len(line) <= QUERY_CHARS else line[: QUERY_CHARS - 1] + "…"


def _json_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _text(value: Any, secrets: Sequence[str]) -> str:
    return redact_text(str(value), known_secrets=secrets)[:80] if value else ""


def parse_activity(row: Sequence[Any], secrets: Sequence[str] = ()) -> DbActivity | None:
    """The one row of ``ACTIVITY_SQL`` as a ``DbActivity`` (None: not that row)."""
    if len(row) < 7 or _int(row[0]) is None:
        return None
    clients = tuple(
        ClientGroup(
            state=g.get("state"),
            application_name=_text(g.get("application_name"), secrets),
            client=g.get("client"),
            count=_int(g.get("n")) or 0,
        )
        for g in _json_list(row[3])
    )
    waits = tuple(
        LockWait(
            pid=_int(w.get("pid")) or 0,
            blocked_by=tuple(
                p for p in (_int(b) for b in w.get("blockers") or ()) if p is not None
            ),
            database=w.get("datname"),
            application_name=_text(w.get("application_name"), secrets),
            client=w.get("client"),
            waiting_seconds=_int(w.get("waiting_s")),
            waiting_for=_text(w.get("waiting_for"), secrets) or None,
            query=safe_query(w.get("query"), secrets),
        )
        for w in _json_list(row[4])
    )
    holders = tuple(
        Holder(
            pid=_int(h.get("pid")) or 0,
            state=h.get("state"),
            database=h.get("datname"),
            application_name=_text(h.get("application_name"), secrets),
            client=h.get("client"),
            transaction_seconds=_int(h.get("xact_s")),
            state_seconds=_int(h.get("state_s")),
            relation_locks=_int(h.get("relation_locks")) or 0,
            query=safe_query(h.get("query"), secrets),
        )
        for h in _json_list(row[5])
    )
    return DbActivity(
        max_connections=_int(row[0]) or 0,
        superuser_reserved=_int(row[1]) or 0,
        reserved=_int(row[2]) or 0,
        clients=clients,
        waits=waits,
        holders=holders,
        database_size=_int(row[6]),
    )


async def read_activity(pg: Database, secrets: Sequence[str] = ()) -> DbActivity | None:
    """``ACTIVITY_SQL`` on an open connection; None when it fails (too old a server)."""
    try:
        rows = await pg.fetch(ACTIVITY_SQL)
    except HostError:
        return None
    return parse_activity(rows[0], secrets) if rows else None


def lock_obstacles(
    activity: DbActivity | None, database: str | None, *, min_wait: int = LOCK_WAIT_SECONDS
) -> list[str]:
    """Why a schema change in ``database`` (None: any) would queue behind a lock now: a
    session waiting ``min_wait`` s or more on one, or one idle in a transaction holding
    table locks for over ``IDLE_IN_TRANSACTION_SECONDS``. One sentence each."""
    if activity is None:
        return []

    def here(db: str | None) -> bool:
        return database is None or db is None or db == database

    out: list[str] = []
    named: set[int] = set()
    for wait in activity.waits:
        if not here(wait.database) or (wait.waiting_seconds or 0) < min_wait:
            continue
        blockers = ", ".join(_holder_text(activity, pid) for pid in wait.blocked_by)
        out.append(
            f"session {wait.pid} ({wait.application_name or 'no application_name'}) has "
            f"waited {wait.waiting_seconds} s for a lock on {wait.waiting_for or '?'} held by "
            f"{blockers}"
        )
        named.update(wait.blocked_by)
    for holder in activity.holders:
        if holder.pid in named or not here(holder.database) or not holder.relation_locks:
            continue
        if not (holder.state or "").startswith("idle in transaction"):
            continue
        if (holder.state_seconds or 0) <= IDLE_IN_TRANSACTION_SECONDS:
            continue
        out.append(
            f"{_holder_text(activity, holder.pid)} holds {holder.relation_locks} table lock(s)"
        )
    return out


def _holder_text(activity: DbActivity, pid: int) -> str:
    if pid == 0:
        return "a prepared transaction"
    holder = activity.holder(pid)
    if holder is None:
        return f"session {pid}"
    app = holder.application_name or "no application_name"
    age = f" for {holder.state_seconds} s" if holder.state_seconds is not None else ""
    return f"session {pid} ({app}, {holder.state or 'state hidden'}{age})"


def df_argv(data_dir: str) -> list[str]:
    """``df`` of the data directory in POSIX format with 1024-byte blocks (GNU and busybox)."""
    return ["df", "-P", "-k", data_dir]


def parse_df(output: str, *, container: str, data_dir: str) -> DataFilesystem | None:
    """The last data row of ``df -P -k``; None when there is none."""
    for line in reversed(output.splitlines()):
        parts = line.split()
        if len(parts) < 6 or not parts[1].isdigit():
            continue
        try:
            size, used, available = (int(p) * 1024 for p in parts[1:4])
        except ValueError:
            continue
        return DataFilesystem(
            container=container,
            data_dir=data_dir,
            filesystem=parts[0],
            mount=" ".join(parts[5:]),
            size=size,
            used=used,
            available=available,
        )
    return None
