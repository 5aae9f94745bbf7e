"""Database checks: what connecting with the app's own credentials showed.

Pure functions over ``facts.databases`` (one ``DatabaseFacts`` per stack whose
app and database were found; where the app's database is comes from its
environment, however it is configured: ``runbooks.diagnose.dbconfig``) and
``facts.migration_checks``. ``db.unreachable``, ``db.missing`` and ``db.empty``
say which keys said where the database is (``config_source``: ``DATABASE_URL``,
``PG*``, ``DB_* (prefix SHOP_DB_)``; ``config_keys``; ``config_keys_from_db``: the
database service's ``POSTGRES_*`` that filled gaps), never their values. A database
problem is reported once, by its most basic cause: a server that does not
answer hides whether the database exists; a missing or empty database makes
the migration check fail too, so ``db.migrations_pending`` is only reported
for a database that exists and has tables.

The same connection reads the server's sessions once (``db_facts.ACTIVITY_SQL``):
``db.connections_exhausted`` when the client backends take every slot a role
without superuser gets (or the server refused stackbot, which dials as the app, for
want of one: then that is the finding, not ``db.unreachable``), and
``db.lock_blocking`` when sessions wait on a lock another session holds. Their
evidence holds counts, pids, ages and application names; a query only masked,
redacted and cut short.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from bot.inventory.discovery import DiscoveredStack
from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Fix, Severity, Subject, make_finding
from bot.redaction.redact import redact_text
from runbooks.diagnose.db_facts import LOCK_WAIT_SECONDS, DbActivity, LockWait
from runbooks.diagnose.facts import DatabaseFacts, HostFacts
from runbooks.diagnose.subject import container_subject, subject

__all__ = [
    "CHECKS",
    "CONNECTIONS_WARNING_SHARE",
    "LOCK_CRITICAL_SECONDS",
    "REINITIALIZED_GRACE",
    "check_connections_exhausted",
    "check_db_empty",
    "check_db_missing",
    "check_db_reinitialized",
    "check_db_unreachable",
    "check_lock_blocking",
    "check_migrations_pending",
]

# A fresh deploy creates the database and the app within seconds of each other, and
# initdb runs when the database first starts: only a cluster initialised well after
# the app's oldest container was created says the data was replaced.
REINITIALIZED_GRACE = timedelta(minutes=10)
# db.connections_exhausted: a warning from this share of the connections a role without
# superuser gets; critical when they are all taken
CONNECTIONS_WARNING_SHARE = 0.9
# db.lock_blocking: a wait this long is critical even behind an active session
LOCK_CRITICAL_SECONDS = 300
_TOP = 5
_OUTPUT_LINES = 8
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _stack(facts: HostFacts, name: str) -> DiscoveredStack | None:
    return facts.stacks.get(name) or next(
        (s for s in facts.stacks.stacks if s.project == name), None
    )


def _secrets(facts: HostFacts) -> list[str]:
    """Every env value on the host and every URL password in them, masked in any text
    we show (plain numbers kept)."""
    found: set[str] = set()
    for c in facts.containers:
        for value in c.config.env_map().values():
            if value and not value.isdigit():
                found.add(value)
            if "://" in value:
                try:
                    password = urlsplit(value.strip()).password
                except ValueError:
                    continue
                if password:
                    found |= {password, unquote(password)}
    return sorted(found)


def _subject(facts: HostFacts, db: DatabaseFacts) -> Subject:
    stack = _stack(facts, db.stack)
    return subject(
        facts,
        project=stack.project if stack else db.stack,
        service=db.db_service,
        container=db.db_container,
        database=db.dbname,
    )


def _where(db: DatabaseFacts) -> str:
    name = db.host or db.address or "?"
    return f"{name}:{db.port}"


def _config(db: DatabaseFacts) -> dict[str, object]:
    """Which keys said where the database is (names only: never a value)."""
    return {
        "config_source": db.source,
        "config_keys": list(db.keys) or None,
        "config_keys_from_db": list(db.db_keys) or None,
    }


def _migrate(facts: HostFacts, db_stack: str, why: str) -> Fix:
    return Fix(
        action="db.migrate",
        params={"host": facts.host, "stack": db_stack},
        destructive=True,
        summary=why,
    )


def _db_container(facts: HostFacts, db: DatabaseFacts) -> ContainerDetails | None:
    """The database service's container, running or not (``db_container`` names only a
    running one)."""
    if db.db_container:
        return facts.container(db.db_container)
    stack = _stack(facts, db.stack)
    if stack is None or not db.db_service or db.db_service not in stack.services:
        return None
    containers = stack.services[db.db_service].containers
    return max(containers, key=lambda c: c.created or _EPOCH, default=None)


def check_db_unreachable(facts: HostFacts) -> list[Finding]:
    """``db.unreachable``: status ``unreachable`` (no answer, or no running database
    container) or ``refused`` (the server answered but refused the app's login). A
    stopped database container gets a restart fix."""
    findings: list[Finding] = []
    for db in facts.databases:
        if db.status not in {"unreachable", "refused"}:
            continue
        container = _db_container(facts, db)
        fixes: tuple[Fix, ...] = ()
        if container is not None and not container.state.running:
            fixes = (
                Fix(
                    action="container.restart",
                    params={"host": facts.host, "container": container.name},
                    destructive=True,
                    summary=f"start {container.name} ({container.state.status})",
                ),
            )
        what = "refused the app's login" if db.status == "refused" else "does not answer"
        findings.append(
            make_finding(
                "db.unreachable",
                Severity.CRITICAL,
                f"database of {db.stack} at {_where(db)} {what}",
                _subject(facts, db),
                fixes=fixes,
                stack=db.stack,
                status=db.status,
                hostname=db.host,
                address=db.address,
                port=db.port,
                database=db.dbname,
                user=db.user,
                db_container=container.name if container else None,
                db_container_state=container.state.status if container else None,
                error=redact_text(db.error, known_secrets=_secrets(facts)) if db.error else None,
                **_config(db),
            )
        )
    return findings


def check_db_missing(facts: HostFacts) -> list[Finding]:
    """``db.missing``: the server answers but the app's database does not exist
    (SQLSTATE 3D000). Fix: ``db.create`` with the URL's user as owner (no fix when
    the database name or user is unknown)."""
    findings: list[Finding] = []
    for db in facts.databases:
        if db.status != "missing":
            continue
        fixes: tuple[Fix, ...] = ()
        if db.dbname and db.user:
            fixes = (
                Fix(
                    action="db.create",
                    params={
                        "host": facts.host,
                        "stack": db.stack,
                        "database": db.dbname,
                        "owner": db.user,
                    },
                    summary=f"create database {db.dbname} owned by {db.user}, then run "
                    "the migrations",
                ),
            )
        findings.append(
            make_finding(
                "db.missing",
                Severity.CRITICAL,
                f"database {db.dbname or '?'} of {db.stack} does not exist on {_where(db)}",
                _subject(facts, db),
                fixes=fixes,
                stack=db.stack,
                database=db.dbname,
                user=db.user,
                hostname=db.host,
                address=db.address,
                port=db.port,
                db_container=db.db_container,
                sqlstate="3D000",
                **_config(db),
            )
        )
    return findings


def check_db_empty(facts: HostFacts) -> list[Finding]:
    """``db.empty``: the database exists and has no tables outside ``pg_catalog`` and
    ``information_schema``. Fix: ``db.migrate``."""
    findings: list[Finding] = []
    for db in facts.databases:
        if db.status != "ok" or db.tables != 0:
            continue
        stack = _stack(facts, db.stack)
        findings.append(
            make_finding(
                "db.empty",
                Severity.CRITICAL,
                f"database {db.dbname or '?'} of {db.stack} has no tables",
                _subject(facts, db),
                fixes=(_migrate(facts, db.stack, f"run the migrations of {db.stack}"),),
                stack=db.stack,
                database=db.dbname,
                tables=0,
                hostname=db.host,
                port=db.port,
                db_container=db.db_container,
                migrate_command_configured=bool(stack and stack.migrate_command),
                **_config(db),
            )
        )
    return findings


def check_migrations_pending(facts: HostFacts) -> list[Finding]:
    """``db.migrations_pending``: the stack's migration check exited non-zero, while its
    database answers, exists and has tables (otherwise that is the finding). A check
    that could not run (no exit code) says nothing. Fix: ``db.migrate``."""
    blocked = {db.stack for db in facts.databases if db.status != "ok" or db.tables == 0}
    findings: list[Finding] = []
    secrets: list[str] | None = None
    for check in facts.migration_checks:
        if check.exit_code in (None, 0) or check.stack in blocked:
            continue
        if secrets is None:
            secrets = _secrets(facts)
        container = facts.container(check.container)
        tail = [line for line in check.output.splitlines() if line.strip()][-_OUTPUT_LINES:]
        stack = _stack(facts, check.stack)
        target = (
            container_subject(facts, container)
            if container
            else subject(facts, container=check.container)
        )
        findings.append(
            make_finding(
                "db.migrations_pending",
                Severity.WARNING,
                f"{check.stack} has unapplied migrations ({' '.join(check.argv[:4])} "
                f"exited {check.exit_code} in {check.container})",
                target.model_copy(update={"project": stack.project if stack else check.stack}),
                fixes=(_migrate(facts, check.stack, f"apply the migrations of {check.stack}"),),
                stack=check.stack,
                container=check.container,
                command=[redact_text(arg, known_secrets=secrets) for arg in check.argv],
                exit_code=check.exit_code,
                output_tail=[redact_text(line, known_secrets=secrets) for line in tail],
            )
        )
    return findings


def check_db_reinitialized(facts: HostFacts) -> list[Finding]:
    """``db.reinitialized``: the cluster was initialised (initdb) more than
    ``REINITIALIZED_GRACE`` (10 minutes) after the oldest current container of the
    stack's app services was created: the app ran against data that is gone. A
    fresh deploy (both within seconds) and a redeploy of the app (app newer than the
    cluster) stay quiet."""
    findings: list[Finding] = []
    for db in facts.databases:
        initialized = db.cluster_initialized_at
        stack = _stack(facts, db.stack)
        if db.status != "ok" or initialized is None or stack is None:
            continue
        services = stack.roles.apps or ((stack.roles.app,) if stack.roles.app else ())
        apps = [
            c
            for name in services
            if name in stack.services
            for c in stack.services[name].containers
            if c.created is not None
        ]
        if not apps:
            continue
        oldest = min(apps, key=lambda c: c.created or _EPOCH)
        created = oldest.created
        if created is None or initialized - created <= REINITIALIZED_GRACE:
            continue
        minutes = int((initialized - created).total_seconds() // 60)
        findings.append(
            make_finding(
                "db.reinitialized",
                Severity.WARNING,
                f"database cluster of {db.stack} was initialised {initialized.isoformat()}, "
                f"{_duration(minutes)} after {oldest.name} was created: data was probably lost",
                _subject(facts, db),
                stack=db.stack,
                database=db.dbname,
                db_container=db.db_container,
                cluster_initialized_at=initialized.isoformat(),
                app_container=oldest.name,
                app_container_created=created.isoformat(),
                minutes_after=minutes,
                tables=db.tables,
            )
        )
    return findings


def _duration(minutes: int) -> str:
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


# --- db.connections_exhausted ---------------------------------------------------------


def _by_address(facts: HostFacts) -> dict[str, str]:
    """Container IP → container name, to say which container holds connections."""
    return {
        e.ip_address: c.name for c in facts.containers for e in c.networks.values() if e.ip_address
    }


def _top(counts: dict[str, int], limit: int = _TOP) -> list[str]:
    """``["idle: 15", "active: 2"]``: the largest first (evidence holds no mappings)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [f"{name}: {count}" for name, count in ranked[:limit]]


def _client_name(client: str | None, names: dict[str, str]) -> str:
    if not client:
        return "(local socket or hidden)"
    return names.get(client, client)


def _connection_counts(facts: HostFacts, activity: DbActivity) -> dict[str, object]:
    """Connections by state, application_name and client (container name where known):
    counts only, never a query."""
    names = _by_address(facts)
    by_state: dict[str, int] = {}
    by_app: dict[str, int] = {}
    by_client: dict[str, int] = {}
    for group in activity.clients:
        state = group.state or "(hidden)"
        by_state[state] = by_state.get(state, 0) + group.count
        app = group.application_name or "(none)"
        by_app[app] = by_app.get(app, 0) + group.count
        client = _client_name(group.client, names)
        by_client[client] = by_client.get(client, 0) + group.count
    return {
        "by_state": _top(by_state),
        "by_application": _top(by_app),
        "by_client": _top(by_client),
    }


_EXHAUSTED_ADVICE = (
    "find who holds the connections (by_client, by_application, by_state): 'idle' piling up "
    "is a pool larger than the server allows or connections the app never returns; 'idle in "
    "transaction' is a transaction left open. Restart the holder to release them now; then "
    "size its pool below {limit} connections (or put PgBouncer in front), or raise "
    "max_connections (postgres -c max_connections=N; the database restarts)"
)


def _holder_fix(facts: HostFacts, db: DatabaseFacts, activity: DbActivity) -> tuple[Fix, ...]:
    """``container.restart`` of the one container holding at least half the connections
    (never the database itself): it releases them now."""
    names = _by_address(facts)
    held: dict[str, int] = {}
    for group in activity.clients:
        if group.client and group.client in names:
            held[names[group.client]] = held.get(names[group.client], 0) + group.count
    if not held:
        return ()
    name, count = max(held.items(), key=lambda kv: (kv[1], kv[0]))
    container = facts.container(name)
    if container is None or name == db.db_container or 2 * count < activity.in_use:
        return ()
    return (
        Fix(
            action="container.restart",
            params={"host": facts.host, "container": name},
            destructive=True,
            summary=f"restart {name} to release its {count} connections (its pool size or "
            "leak still needs fixing)",
        ),
    )


def check_connections_exhausted(facts: HostFacts) -> list[Finding]:
    """``db.connections_exhausted``: the server refused stackbot, which dials with the
    app's own credentials, for want of a slot ("too many clients already", "remaining
    connection slots are reserved"): critical, the app cannot connect either. Or,
    connected, the client backends other than stackbot's use all the connections a role
    without superuser gets (``max_connections`` less ``superuser_reserved_connections``
    and ``reserved_connections``): critical; at ``CONNECTIONS_WARNING_SHARE`` of them: a
    warning. Evidence: counts by state, application_name and client, never a query. Fix:
    restart the container holding at least half of them; guidance otherwise."""
    findings: list[Finding] = []
    for db in facts.databases:
        if db.status == "exhausted":
            findings.append(
                make_finding(
                    "db.connections_exhausted",
                    Severity.CRITICAL,
                    f"database server of {db.stack} at {_where(db)} has no connection slot "
                    "left: it refused the app's login (too many clients)",
                    _subject(facts, db),
                    stack=db.stack,
                    status=db.status,
                    hostname=db.host,
                    port=db.port,
                    database=db.dbname,
                    user=db.user,
                    db_container=db.db_container,
                    error=redact_text(db.error, known_secrets=_secrets(facts))
                    if db.error
                    else None,
                    advice=_EXHAUSTED_ADVICE.format(limit="max_connections"),
                )
            )
            continue
        activity = db.activity
        if db.status != "ok" or activity is None or activity.available <= 0:
            continue
        used, limit = activity.in_use, activity.available
        if used >= limit:
            severity = Severity.CRITICAL
        elif used >= math.ceil(CONNECTIONS_WARNING_SHARE * limit):
            severity = Severity.WARNING
        else:
            continue
        findings.append(
            make_finding(
                "db.connections_exhausted",
                severity,
                f"database server of {db.stack} at {_where(db)} has {used} of {limit} "
                "connections in use"
                + (": a role without superuser gets none" if used >= limit else ""),
                _subject(facts, db),
                fixes=_holder_fix(facts, db, activity),
                stack=db.stack,
                status=db.status,
                database=db.dbname,
                db_container=db.db_container,
                in_use=used,
                available=limit,
                percent=round(100.0 * used / limit, 1),
                max_connections=activity.max_connections,
                superuser_reserved_connections=activity.superuser_reserved,
                reserved_connections=activity.reserved,
                **_connection_counts(facts, activity),
                advice=_EXHAUSTED_ADVICE.format(limit=limit),
            )
        )
    return findings


# --- db.lock_blocking ------------------------------------------------------------------


def _roots(activity: DbActivity, pid: int) -> set[int]:
    """The sessions at the head of ``pid``'s wait chain (holding, not waiting themselves)."""
    waiting = {w.pid: w.blocked_by for w in activity.waits}
    roots: set[int] = set()
    seen: set[int] = set()
    todo = list(waiting.get(pid, ()))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current == pid:
            continue  # a cycle (a deadlock Postgres is about to break)
        if current in waiting:
            todo.extend(waiting[current])
        else:
            roots.add(current)
    return roots


def _holder_evidence(facts: HostFacts, activity: DbActivity, pid: int) -> dict[str, object]:
    """``blocker_*`` evidence of the session at the head of the chain."""
    holder = activity.holder(pid)
    if pid == 0:
        return {"blocker_pid": 0, "blocker_state": "prepared transaction"}
    if holder is None:
        return {"blocker_pid": pid, "blocker_state": None}
    return {
        "blocker_pid": pid,
        "blocker_state": holder.state,
        "blocker_application_name": holder.application_name or None,
        "blocker_client": _client_name(holder.client, _by_address(facts)),
        "blocker_database": holder.database,
        "blocker_transaction_seconds": holder.transaction_seconds,
        "blocker_state_seconds": holder.state_seconds,
        # masked, redacted, cut short (db_facts.safe_query)
        "blocker_query": holder.query or None,
    }


def _wait_text(wait: LockWait) -> str:
    """``41 (migrate) 45 s on orders: ALTER TABLE orders …``"""
    app = f" ({wait.application_name})" if wait.application_name else ""
    on = f" on {wait.waiting_for}" if wait.waiting_for else ""
    query = f": {wait.query}" if wait.query else ""
    return f"{wait.pid}{app} {wait.waiting_seconds} s{on}{query}"


def _age(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f" for {_duration(seconds // 60)}" if seconds >= 120 else f" for {seconds} s"


def check_lock_blocking(facts: HostFacts) -> list[Finding]:
    """``db.lock_blocking``: sessions have waited ``LOCK_WAIT_SECONDS`` (10) or more on
    a lock (``wait_event_type = 'Lock'``) other sessions hold (``pg_blocking_pids()``,
    followed to the head of the chain: a migration queued behind an open transaction
    makes every later reader wait behind both). Critical when the head is idle in a
    transaction (it will not finish by itself) or a wait reached ``LOCK_CRITICAL_SECONDS``;
    else a warning. One finding per database server, about the head holding up the
    most sessions. Evidence: its pid, state, ages, application_name, client and last
    statement (literals masked, redacted, cut short), the waiting count and the
    longest waits. Guidance: end that transaction; a fix restarts its container when
    the client is one of this environment's (not the database)."""
    findings: list[Finding] = []
    for db in facts.databases:
        activity = db.activity
        if db.status != "ok" or activity is None:
            continue
        long_waits = [w for w in activity.waits if (w.waiting_seconds or 0) >= LOCK_WAIT_SECONDS]
        if not long_waits:
            continue
        held_up: dict[int, set[int]] = {}
        for wait in activity.waits:
            for root in _roots(activity, wait.pid):
                held_up.setdefault(root, set()).add(wait.pid)
        if not held_up:
            continue
        pid = max(held_up, key=lambda p: (len(held_up[p]), -p))
        head = activity.holder(pid)
        longest = max(w.waiting_seconds or 0 for w in long_waits)
        idle = head is not None and (head.state or "").startswith("idle in transaction")
        severity = (
            Severity.CRITICAL if idle or longest >= LOCK_CRITICAL_SECONDS else Severity.WARNING
        )
        relations = sorted({w.waiting_for for w in activity.waits if w.waiting_for})
        who = head.application_name if head and head.application_name else "no application_name"
        state = (head.state or "state hidden") if head else "unknown"
        fixes: tuple[Fix, ...] = ()
        client = _by_address(facts).get(head.client or "") if head else None
        if client and client != db.db_container and facts.container(client) is not None:
            fixes = (
                Fix(
                    action="container.restart",
                    params={"host": facts.host, "container": client},
                    destructive=True,
                    summary=f"restart {client}: its session {pid} ({state}) holds the lock; "
                    "its open transaction is rolled back",
                ),
            )
        waiting = held_up[pid]
        findings.append(
            make_finding(
                "db.lock_blocking",
                severity,
                f"{len(waiting)} session{'s' if len(waiting) != 1 else ''} of {db.stack}'s "
                f"database {'waits' if len(waiting) == 1 else 'wait'} on a lock held by "
                f"session {pid} ({who}, {state}"
                f"{_age(head.state_seconds if head else None)})",
                _subject(facts, db),
                fixes=fixes,
                stack=db.stack,
                database=db.dbname,
                db_container=db.db_container,
                **_holder_evidence(facts, activity, pid),
                other_blockers=[str(p) for p in sorted(held_up) if p != pid] or None,
                waiting=len(waiting),
                waiting_total=len(activity.waits),
                longest_wait_seconds=longest,
                waiting_for=relations or None,
                longest_waits=[
                    _wait_text(w)
                    for w in sorted(activity.waits, key=lambda w: -(w.waiting_seconds or 0))[:_TOP]
                ],
                advice=(
                    f"end what holds the lock: if session {pid}'s transaction is abandoned, "
                    f"SELECT pg_terminate_backend({pid}) as a superuser (its transaction is "
                    "rolled back) or restart its client; then set "
                    "idle_in_transaction_session_timeout so an open transaction cannot hold "
                    "tables for long, and run migrations with a lock_timeout. db.migrate "
                    "refuses to start while this stands"
                ),
            )
        )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_db_unreachable,
    check_db_missing,
    check_db_empty,
    check_migrations_pending,
    check_db_reinitialized,
    check_connections_exhausted,
    check_lock_blocking,
)
