"""Database incidents read from the server's sessions and the data volume's filesystem:
``db.connections_exhausted``, ``db.lock_blocking``, ``volume.nearly_full``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from bot.framework.session import Database, ExecResult
from bot.model.errors import DatabaseUnreachable
from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_database, checks_volumes, gather
from runbooks.diagnose.checks_database import check_connections_exhausted, check_lock_blocking
from runbooks.diagnose.checks_volumes import (
    check_volume_nearly_full,
    databases_on,
    host_filesystem,
)
from runbooks.diagnose.db_facts import (
    ACTIVITY_SQL,
    IDLE_IN_TRANSACTION_SECONDS,
    QUERY_CHARS,
    DataFilesystem,
    DbActivity,
    lock_obstacles,
    parse_activity,
    parse_df,
    safe_query,
)
from runbooks.diagnose.facts import DatabaseFacts, HostFacts
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import (
    HOST,
    PLANTED_SECRET,
    container,
    facts,
    filesystem,
    lab_stack,
)
from tests.unit.diagnose.test_gather import Session as RefusingSession
from tests.unit.diagnose.test_gather import session as fake_session

SECRET = "pw-planted-4e1d"
NET = "shop_default"


def shop(*, worker: bool = False) -> list[Any]:
    out = [
        container(
            "shop-db-1",
            project="shop",
            service="db",
            image="postgres:16",
            env={"POSTGRES_PASSWORD": SECRET, "POSTGRES_USER": "shop"},
            networks={NET: ["db"]},
            volumes=["shop_pgdata"],
        ),
        container(
            "shop-backend-1",
            project="shop",
            service="backend",
            env={"DATABASE_URL": f"postgresql://shop:{SECRET}@db:5432/shop"},
            networks={NET: ["backend"]},
        ),
    ]
    if worker:
        out.append(
            container(
                "shop-worker-1",
                project="shop",
                service="worker",
                env={"DATABASE_URL": f"postgresql://shop:{SECRET}@db:5432/shop"},
                networks={NET: ["worker"]},
            )
        )
    return out


def ip(c: Any) -> str:
    return str(c.networks[NET].ip_address)


def database(**update: Any) -> DatabaseFacts:
    base = DatabaseFacts(
        stack="shop",
        app_service="backend",
        db_service="db",
        db_container="shop-db-1",
        host="db",
        address="172.18.0.3",
        dbname="shop",
        user="shop",
        status="ok",
        tables=3,
    )
    return base.model_copy(update=update)


def row(
    *,
    clients: Sequence[dict[str, Any]] = (),
    waits: Sequence[dict[str, Any]] = (),
    holders: Sequence[dict[str, Any]] = (),
    max_connections: int = 20,
    as_text: bool = False,
) -> tuple[Any, ...]:
    """The one row ``ACTIVITY_SQL`` returns (json columns as psycopg gives them, or text)."""
    cols: list[Any] = [list(clients), list(waits), list(holders)]
    if as_text:
        cols = [json.dumps(c) for c in cols]
    return (max_connections, 3, None, *cols, 9_000_000)


def activity(**kw: Any) -> DbActivity:
    found = parse_activity(row(**kw), [SECRET])
    assert found is not None
    return found


def with_activity(a: DbActivity, *, worker: bool = False, **db: Any) -> HostFacts:
    return facts(shop(worker=worker), databases=(database(activity=a, **db),))


def dumped(findings: Sequence[Finding]) -> str:
    return json.dumps([f.model_dump(mode="json") for f in findings])


# --- reading ------------------------------------------------------------------------------


def test_the_query_waits_as_long_as_the_constant_says() -> None:
    assert f"interval '{IDLE_IN_TRANSACTION_SECONDS} seconds'" in ACTIVITY_SQL
    assert "pg_blocking_pids" in ACTIVITY_SQL and "pg_backend_pid()" in ACTIVITY_SQL
    assert "%" not in ACTIVITY_SQL  # psycopg would take it for a placeholder


@pytest.mark.parametrize("as_text", [False, True])
def test_activity_row_parses_from_json_or_text(as_text: bool) -> None:
    a = activity(
        clients=[{"state": "idle", "application_name": "worker", "client": "172.18.0.9", "n": 7}],
        waits=[{"pid": 41, "blockers": [40], "datname": "shop", "waiting_s": 30,
                "waiting_for": "orders", "query": "alter table orders add column x int"}],
        holders=[{"pid": 40, "state": "idle in transaction", "datname": "shop",
                  "application_name": "report", "xact_s": 400, "state_s": 390,
                  "relation_locks": 2, "query": "select * from orders"}],
        as_text=as_text,
    )  # fmt: skip
    assert (a.max_connections, a.superuser_reserved, a.reserved) == (20, 3, 0)
    assert a.available == 17 and a.in_use == 7
    assert a.waits[0].blocked_by == (40,) and a.waits[0].waiting_for == "orders"
    holder = a.holder(40)
    assert holder is not None and holder.state_seconds == 390 and holder.relation_locks == 2
    assert a.database_size == 9_000_000


def test_a_row_of_something_else_is_no_activity() -> None:
    assert parse_activity(()) is None
    assert parse_activity(("x", 1, 2, 3, 4, 5, 6)) is None


def test_query_text_is_masked_redacted_and_cut() -> None:
    text = (
        "UPDATE users SET name = 'tok-PLANTED', note = $$ PW $$ "
        "WHERE email = E'a@b.c' -- PW\n  AND id = $1 " + "x" * 300
    )
    text = text.replace("PLANTED", PLANTED_SECRET).replace("PW", SECRET)
    shown = safe_query(text, [SECRET])
    assert PLANTED_SECRET not in shown and SECRET not in shown and "a@b.c" not in shown
    assert shown.startswith("UPDATE users SET name = '…', note = '…' WHERE email = '…' -- ***")
    assert "$1" in shown and "\n" not in shown
    assert len(shown) == QUERY_CHARS and shown.endswith("…")
    assert safe_query("select 'unterminated secret") == "select '…'"
    assert safe_query(None) == ""


def test_df_of_gnu_and_busybox() -> None:
    gnu = (
        "Filesystem     1024-blocks  Used Available Capacity Mounted on\n"
        "tmpfs                65536 60000      5536      92% /var/lib/postgresql/data\n"
    )
    fs = parse_df(gnu, container="db", data_dir="/var/lib/postgresql/data")
    assert fs is not None
    assert (fs.filesystem, fs.mount, fs.size) == ("tmpfs", "/var/lib/postgresql/data", 65536 * 1024)
    assert round(fs.percent_used) == 92
    busybox = (
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/loop3 100 50 50 50% /d\n"
    )
    assert parse_df(busybox, container="db", data_dir="/d") is not None
    assert parse_df("df: /nope: No such file or directory\n", container="db", data_dir="/x") is None


# --- db.connections_exhausted ----------------------------------------------------------------


def test_refused_for_want_of_a_slot_is_exhausted_not_unreachable() -> None:
    error = f"postgres at db:5432: FATAL:  sorry, too many clients already ({SECRET})"
    f = facts(shop(), databases=(database(status="exhausted", tables=None, error=error),))
    found = [x for check in checks_database.CHECKS for x in check(f)]
    (finding,) = found
    assert finding.code == "db.connections_exhausted"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.service == "db" and finding.subject.database == "shop"
    assert "too many clients" in str(finding.evidence["error"])
    assert SECRET not in dumped(found)


def test_every_slot_taken_is_critical_with_counts_and_a_restart_of_the_holder() -> None:
    containers = shop(worker=True)
    worker, backend = containers[2], containers[1]
    a = activity(
        clients=[
            {"state": "idle", "application_name": "worker", "client": ip(worker), "n": 15},
            {"state": "active", "application_name": "", "client": ip(backend), "n": 1},
            {"state": "idle in transaction", "application_name": f"x {SECRET}", "client": None,
             "n": 1},
        ]
    )  # fmt: skip
    f = facts(containers, databases=(database(activity=a),))
    (finding,) = check_connections_exhausted(f)
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["in_use"] == 17 and finding.evidence["available"] == 17
    assert finding.evidence["max_connections"] == 20
    assert finding.evidence["superuser_reserved_connections"] == 3
    assert finding.evidence["by_state"] == ["idle: 15", "active: 1", "idle in transaction: 1"]
    assert finding.evidence["by_client"] == [
        "shop-worker-1: 15",
        "(local socket or hidden): 1",
        "shop-backend-1: 1",
    ]
    assert finding.evidence["by_application"] == ["worker: 15", "(none): 1", "x ***: 1"]
    (fix,) = finding.fixes
    assert fix.action == "container.restart" and fix.destructive
    assert fix.params == {"host": HOST, "container": "shop-worker-1"}
    assert SECRET not in dumped([finding])


def test_near_the_limit_is_a_warning_and_no_single_holder_gets_no_fix() -> None:
    a = activity(
        clients=[
            {"state": "idle", "application_name": "a", "client": "10.9.9.1", "n": 8},
            {"state": "idle", "application_name": "b", "client": "10.9.9.2", "n": 8},
        ]
    )
    (finding,) = check_connections_exhausted(with_activity(a))
    assert finding.severity is Severity.WARNING
    assert finding.fixes == ()
    assert "16 of 17" in finding.title


def test_ordinary_use_is_quiet() -> None:
    a = activity(clients=[{"state": "idle", "application_name": "", "client": "10.0.0.1", "n": 5}])
    assert check_connections_exhausted(with_activity(a)) == []
    assert check_connections_exhausted(facts(shop(), databases=(database(),))) == []


# --- db.lock_blocking ------------------------------------------------------------------------


LAST_STATEMENT = "select * from orders where note = 'PLANTED'".replace("PLANTED", PLANTED_SECRET)


def lock_chain(*, blocker_state: str = "idle in transaction", wait: int = 45) -> DbActivity:
    """report-job (pid 40) idle in a transaction; a migration (41) waits for it; two app
    queries (42, 43) wait behind the migration."""
    return activity(
        waits=[
            {"pid": 41, "blockers": [40], "datname": "shop", "application_name": "migrate",
             "waiting_s": wait, "waiting_for": "orders",
             "query": "ALTER TABLE orders ADD COLUMN note text DEFAULT 'x'"},
            {"pid": 42, "blockers": [41, 40], "datname": "shop", "application_name": "",
             "waiting_s": 3, "waiting_for": "orders", "query": "select count(*) from orders"},
            {"pid": 43, "blockers": [41], "datname": "shop", "application_name": "",
             "waiting_s": 2, "waiting_for": "orders", "query": "select 1 from orders"},
        ],
        holders=[
            {"pid": 40, "state": blocker_state, "datname": "shop", "application_name": "report-job",
             "client": None, "xact_s": 700, "state_s": 650, "relation_locks": 1,
             "query": LAST_STATEMENT},
            {"pid": 41, "state": "active", "datname": "shop", "application_name": "migrate",
             "xact_s": wait, "state_s": wait, "relation_locks": 0, "query": "ALTER TABLE …"},
        ],
    )  # fmt: skip


def test_a_migration_behind_an_idle_transaction_is_critical_naming_the_head() -> None:
    (finding,) = check_lock_blocking(with_activity(lock_chain()))
    assert finding.code == "db.lock_blocking"
    assert finding.severity is Severity.CRITICAL
    e = finding.evidence
    assert e["blocker_pid"] == 40 and e["blocker_state"] == "idle in transaction"
    assert e["blocker_application_name"] == "report-job" and e["blocker_state_seconds"] == 650
    assert e["blocker_query"] == "select * from orders where note = '…'"
    assert e["longest_waits"] == [
        "41 (migrate) 45 s on orders: ALTER TABLE orders ADD COLUMN note text DEFAULT '…'",
        "42 3 s on orders: select count(*) from orders",
        "43 2 s on orders: select 1 from orders",
    ]
    assert finding.evidence["waiting"] == 3 and finding.evidence["longest_wait_seconds"] == 45
    assert finding.evidence["waiting_for"] == ["orders"]
    assert "3 sessions" in finding.title and "session 40 (report-job" in finding.title
    assert "10 min" in finding.title
    assert "pg_terminate_backend(40)" in str(finding.evidence["advice"])
    assert finding.subject.service == "db"
    assert PLANTED_SECRET not in dumped([finding])


def test_a_short_wait_behind_a_working_session_is_a_warning_then_nothing() -> None:
    (finding,) = check_lock_blocking(with_activity(lock_chain(blocker_state="active", wait=20)))
    assert finding.severity is Severity.WARNING
    assert check_lock_blocking(with_activity(lock_chain(wait=5))) == []


def test_a_blocking_app_container_gets_a_restart_fix() -> None:
    containers = shop()
    backend = containers[1]
    a = lock_chain()
    head = a.holders[0].model_copy(update={"client": ip(backend)})
    a = a.model_copy(update={"holders": (head, *a.holders[1:])})
    (finding,) = check_lock_blocking(facts(containers, databases=(database(activity=a),)))
    (fix,) = finding.fixes
    assert fix.params == {"host": HOST, "container": "shop-backend-1"}
    assert finding.evidence["blocker_client"] == "shop-backend-1"


def test_lock_obstacles_for_the_migration_guard() -> None:
    chain = lock_chain()
    (said,) = lock_obstacles(chain, "shop")
    assert "session 41 (migrate) has waited 45 s" in said
    assert "session 40 (report-job, idle in transaction for 650 s)" in said
    assert lock_obstacles(chain, "other") == []
    alone = activity(
        holders=[{"pid": 40, "state": "idle in transaction", "datname": "shop",
                  "application_name": "", "state_s": 120, "relation_locks": 2}]
    )  # fmt: skip
    (idle,) = lock_obstacles(alone, "shop")
    assert "holds 2 table lock(s)" in idle
    assert lock_obstacles(activity(), "shop") == [] and lock_obstacles(None, "shop") == []


# --- volume.nearly_full ----------------------------------------------------------------------


def data_fs(percent: float, *, size: int = 64 * 1024 * 1024, fs: str = "tmpfs") -> DataFilesystem:
    used = int(size * percent / 100)
    return DataFilesystem(
        container="shop-db-1",
        data_dir="/var/lib/postgresql/data",
        filesystem=fs,
        mount="/var/lib/postgresql/data",
        size=size,
        used=used,
        available=size - used,
    )


@pytest.mark.parametrize(
    ("percent", "severity"),
    [(50, None), (89.5, None), (92, Severity.WARNING), (97.5, Severity.CRITICAL)],
)
def test_a_small_data_volume_nearly_full(percent: float, severity: Severity | None) -> None:
    f = facts(shop(), databases=(database(data_filesystem=data_fs(percent)),))
    found = check_volume_nearly_full(f)
    if severity is None:
        assert found == []
        return
    (finding,) = found
    assert finding.code == "volume.nearly_full" and finding.severity is severity
    assert finding.subject.container == "shop-db-1" and finding.subject.volume == "shop_pgdata"
    assert finding.evidence["volume"] == "shop_pgdata"
    assert finding.evidence["filesystem"] == "tmpfs"
    assert "shop_pgdata" in finding.title


def test_the_hosts_own_filesystem_is_left_to_disk_low_which_names_the_database() -> None:
    root = filesystem(size_gib=50, percent=96)
    on_root = data_fs(96, size=root.size - 512, fs="/dev/vda1")
    f = facts(shop(), filesystems=[root], databases=(database(data_filesystem=on_root),))
    assert check_volume_nearly_full(f) == []
    assert host_filesystem(f, on_root) == root
    assert databases_on(f, "/") == ["shop-db-1"]
    found = judge(f).findings
    (low,) = [x for x in found if x.code in ("disk.low", "volume.nearly_full")]
    assert low.code == "disk.low" and low.evidence["databases"] == ["shop-db-1"]


def test_gathered_facts_carry_the_sessions_and_the_data_filesystem() -> None:
    df = (
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
        "tmpfs 65536 62000 3536 95% /var/lib/postgresql/data\n"
    )
    chain = row(waits=[{"pid": 41, "blockers": [40], "datname": "shop", "waiting_s": 30}])

    class Answering(RefusingSession):
        def database(
            self, *, address: str, port: int, user: str, password: str, dbname: str
        ) -> AbstractAsyncContextManager[Database]:
            @asynccontextmanager
            async def connected() -> AsyncIterator[Database]:
                yield FakePg({"information_schema.tables": [(3,)], "pg_blocking_pids": [chain]})

            return connected()

    execs: list[tuple[str, ...]] = []

    def exec_answer(ref: str, argv: tuple[str, ...]) -> ExecResult:
        execs.append(argv)
        return ExecResult(
            container=ref, argv=argv, exit_code=0, output=df if argv[0] == "df" else ""
        )

    db = _probe(Answering, exec_answer)
    assert db.status == "ok" and db.activity is not None
    assert db.activity.waits[0].blocked_by == (40,)
    assert db.data_filesystem is not None and db.data_filesystem.filesystem == "tmpfs"
    assert execs.count(("df", "-P", "-k", "/var/lib/postgresql/data")) == 1


def test_gathering_a_server_without_a_free_slot() -> None:
    class Full(RefusingSession):
        def database(
            self, *, address: str, port: int, user: str, password: str, dbname: str
        ) -> AbstractAsyncContextManager[Database]:
            @asynccontextmanager
            async def refused() -> AsyncIterator[Database]:
                raise DatabaseUnreachable(
                    "web1",
                    f"postgres at {address}:{port}: connection failed: FATAL:  remaining "
                    "connection slots are reserved for non-replication superuser connections",
                )
                yield  # pragma: no cover

            return refused()

    db = _probe(Full)
    assert db.status == "exhausted" and "remaining connection slots" in str(db.error)
    found = judge(facts(lab_stack(), databases=(db,))).findings
    codes = {f.code for f in found}
    assert "db.connections_exhausted" in codes and "db.unreachable" not in codes


# --- helpers -------------------------------------------------------------------------------


class FakePg:
    """Answers SQL by a fragment of its text (``pg_control_system``: an identifier)."""

    def __init__(self, answers: dict[str, list[tuple[Any, ...]]]) -> None:
        self.answers = answers

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        for fragment, rows in self.answers.items():
            if fragment in sql:
                return rows
        if "pg_control_system" in sql:
            return [(7_000_000_000_000_000_000,)]
        raise AssertionError(f"unexpected SQL: {sql[:80]}")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise AssertionError("the diagnosis writes nothing")


def _probe(
    kind: type[RefusingSession],
    exec_answer: Callable[[str, tuple[str, ...]], ExecResult] | None = None,
) -> DatabaseFacts:
    """``gather._database`` for the lab's stack on a fake host (as
    tests/unit/diagnose/test_gather.py builds it), with ``kind``'s database and
    ``exec_answer`` for every exec."""
    containers = lab_stack()
    fake, docker = fake_session(containers=containers)
    if exec_answer is not None:
        docker.exec_handler = exec_answer
    session = kind(handler=fake._handler, docker=docker, files=fake._files)
    (stack,) = facts(containers).stacks.stacks
    return asyncio.run(gather._database(session, stack, containers, {PLANTED_SECRET}))


def test_checks_are_registered() -> None:
    assert check_connections_exhausted in checks_database.CHECKS
    assert check_lock_blocking in checks_database.CHECKS
    assert check_volume_nearly_full in checks_volumes.CHECKS
