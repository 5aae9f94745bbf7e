"""Database checks: unreachable, missing (seed 001), empty (seed 003), pending migrations,
re-initialised cluster."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_database
from runbooks.diagnose.checks_database import (
    check_db_empty,
    check_db_missing,
    check_db_reinitialized,
    check_db_unreachable,
    check_migrations_pending,
)
from runbooks.diagnose.facts import DatabaseFacts, HostFacts, MigrationCheck
from tests.unit.diagnose.factories import HOST, NOW, OLD, container, facts

SECRET = "pw-planted-4e1d"


def run_all(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_database.CHECKS for finding in check(f)]


def stack(
    *,
    db_state: str = "running",
    app_created: datetime = OLD,
    db_created: datetime = OLD,
) -> list[ContainerDetails]:
    net = "shop_default"
    return [
        container(
            "shop-db-1",
            project="shop",
            service="db",
            image="postgres:16",
            state=db_state,
            env={"POSTGRES_PASSWORD": SECRET, "POSTGRES_USER": "shop"},
            networks={net: ["db"]},
            volumes=["shop-pgdata"],
            created=db_created,
        ),
        container(
            "shop-backend-1",
            project="shop",
            service="backend",
            env={"DATABASE_URL": f"postgresql://shop:{SECRET}@db:5432/shop"},
            networks={net: ["backend"]},
            created=app_created,
        ),
        container(
            "shop-nginx-1",
            project="shop",
            service="nginx",
            image="nginx:1.25",
            networks={net: ["nginx"]},
            created=app_created,
        ),
    ]


def database(**update: Any) -> DatabaseFacts:
    base = DatabaseFacts(
        stack="shop",
        app_service="backend",
        db_service="db",
        db_container="shop-db-1",
        host="db",
        address="172.18.0.3",
        port=5432,
        dbname="shop",
        user="shop",
        status="ok",
        tables=12,
        cluster_initialized_at=OLD,
    )
    return base.model_copy(update=update)


def with_db(db: DatabaseFacts, *checks: MigrationCheck, **kw: Any) -> HostFacts:
    return facts(stack(**kw), databases=(db,), migration_checks=checks)


def migration_check(exit_code: int | None, output: str = "") -> MigrationCheck:
    return MigrationCheck(
        stack="shop",
        container="shop-backend-1",
        argv=("python", "manage.py", "migrate", "--check"),
        exit_code=exit_code,
        output=output,
    )


def test_healthy_database_is_quiet() -> None:
    f = with_db(database(), migration_check(0))
    assert run_all(f) == []


def test_unreachable_stopped_db_gets_a_restart() -> None:
    error = f"connection to 172.18.0.3 port 5432 failed (password {SECRET})"
    f = with_db(
        database(status="unreachable", db_container=None, tables=None, error=error),
        db_state="exited",
    )
    (finding,) = run_all(f)
    assert finding.code == "db.unreachable"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.project == "shop"
    assert finding.subject.service == "db"
    assert finding.evidence["address"] == "172.18.0.3"
    assert finding.evidence["port"] == 5432
    assert finding.evidence["db_container_state"] == "exited"
    assert SECRET not in str(finding.evidence["error"])
    (fix,) = finding.fixes
    assert fix.action == "container.restart"
    assert fix.params == {"host": HOST, "container": "shop-db-1"}
    assert fix.destructive


def test_refused_login_is_unreachable_without_a_restart() -> None:
    f = with_db(database(status="refused", error="password authentication failed"))
    (finding,) = check_db_unreachable(f)
    assert "refused" in finding.title
    assert finding.fixes == ()


def test_seed_001_missing_database() -> None:
    f = with_db(database(status="missing", dbname="simfab_dev", user="simfab", tables=None))
    (finding,) = run_all(f)
    assert finding.code == "db.missing"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.database == "simfab_dev"
    assert finding.evidence["sqlstate"] == "3D000"
    (fix,) = finding.fixes
    assert fix.action == "db.create"
    assert fix.params == {
        "host": HOST,
        "stack": "shop",
        "database": "simfab_dev",
        "owner": "simfab",
    }
    assert not fix.destructive


def test_the_keys_that_located_the_database_are_evidence_never_their_values() -> None:
    located = {
        "source": "DB_* (prefix SHOP_DB_)",
        "keys": ("SHOP_DB_HOST", "SHOP_DB_NAME"),
        "db_keys": ("POSTGRES_USER", "POSTGRES_PASSWORD"),
    }
    for db in (
        database(status="missing", tables=None, **located),
        database(tables=0, **located),
        database(status="refused", error=f"password {SECRET} rejected", **located),
    ):
        (finding,) = run_all(with_db(db))
        assert finding.evidence["config_source"] == "DB_* (prefix SHOP_DB_)"
        assert finding.evidence["config_keys"] == ["SHOP_DB_HOST", "SHOP_DB_NAME"]
        assert finding.evidence["config_keys_from_db"] == ["POSTGRES_USER", "POSTGRES_PASSWORD"]
        assert SECRET not in finding.model_dump_json()
    (url,) = run_all(with_db(database(tables=0, source="DATABASE_URL", keys=("DATABASE_URL",))))
    assert url.evidence["config_keys"] == ["DATABASE_URL"]
    assert url.evidence["config_keys_from_db"] is None


def test_missing_database_without_user_has_no_fix() -> None:
    (finding,) = check_db_missing(with_db(database(status="missing", user=None)))
    assert finding.fixes == ()


def test_seed_003_empty_database_and_the_failing_migration_check_is_one_finding() -> None:
    f = with_db(database(tables=0), migration_check(1, "[ ] 0001_initial"))
    findings = run_all(f)
    assert [x.code for x in findings] == ["db.empty"]
    (finding,) = findings
    assert finding.severity is Severity.CRITICAL
    (fix,) = finding.fixes
    assert fix.action == "db.migrate"
    assert fix.params == {"host": HOST, "stack": "shop"}
    assert fix.destructive


def test_migrations_pending() -> None:
    output = f"api.0012_add_index pending\nDATABASE_URL=postgresql://shop:{SECRET}@db/shop\n"
    f = with_db(database(), migration_check(1, output))
    (finding,) = run_all(f)
    assert finding.code == "db.migrations_pending"
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "shop-backend-1"
    assert finding.subject.project == "shop"
    assert finding.evidence["exit_code"] == 1
    assert finding.fixes[0].action == "db.migrate"
    assert finding.fixes[0].params == {"host": HOST, "stack": "shop"}
    assert SECRET not in finding.model_dump_json()


def test_migration_check_that_could_not_run_says_nothing() -> None:
    assert check_migrations_pending(with_db(database(), migration_check(None))) == []


def test_reinitialized_long_after_the_app_was_created() -> None:
    f = with_db(database(cluster_initialized_at=NOW - timedelta(hours=3)))
    (finding,) = run_all(f)
    assert finding.code == "db.reinitialized"
    assert finding.severity is Severity.WARNING
    assert finding.evidence["app_container"] == "shop-backend-1"
    assert finding.evidence["cluster_initialized_at"] == (NOW - timedelta(hours=3)).isoformat()
    assert finding.evidence["minutes_after"] == 30 * 24 * 60 - 180


def test_fresh_deploy_and_app_redeploys_are_not_reinitialized() -> None:
    fresh = with_db(
        database(cluster_initialized_at=NOW - timedelta(minutes=55)),
        app_created=NOW - timedelta(minutes=60),
        db_created=NOW - timedelta(minutes=60),
    )
    assert check_db_reinitialized(fresh) == []
    redeployed = with_db(database(), app_created=NOW - timedelta(hours=1))
    assert check_db_reinitialized(redeployed) == []


def test_planted_secret_never_in_findings() -> None:
    error = f"FATAL: password authentication failed; url postgresql://shop:{SECRET}@db/shop"
    findings = [
        *run_all(with_db(database(status="refused", error=error))),
        *run_all(with_db(database(status="missing"))),
        *run_all(with_db(database(tables=0))),
        *run_all(with_db(database(), migration_check(3, f"password={SECRET}"))),
        *run_all(with_db(database(cluster_initialized_at=NOW))),
    ]
    assert len(findings) == 5
    for finding in findings:
        assert SECRET not in finding.model_dump_json()


def test_unknown_table_count_is_not_empty() -> None:
    assert check_db_empty(with_db(database(tables=None))) == []
    assert check_db_empty(with_db(database(status="skipped", tables=0))) == []
