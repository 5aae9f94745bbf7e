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
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from bot.discovery import DiscoveredStack
from bot.docker_objects import ContainerDetails
from bot.findings import Finding, Fix, Severity, Subject, make_finding
from bot.redact import redact_text
from runbooks.diagnose.facts import DatabaseFacts, HostFacts
from runbooks.diagnose.subject import container_subject, subject

__all__ = [
    "CHECKS",
    "REINITIALIZED_GRACE",
    "check_db_empty",
    "check_db_missing",
    "check_db_reinitialized",
    "check_db_unreachable",
    "check_migrations_pending",
]

# A fresh deploy creates the database and the app within seconds of each other, and
# initdb runs when the database first starts: only a cluster initialised well after
# the app's oldest container was created says the data was replaced.
REINITIALIZED_GRACE = timedelta(minutes=10)
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


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_db_unreachable,
    check_db_missing,
    check_db_empty,
    check_migrations_pending,
    check_db_reinitialized,
)
