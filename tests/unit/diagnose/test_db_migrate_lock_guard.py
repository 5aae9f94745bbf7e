"""``db.migrate`` refuses to start while a lock holds the app's tables (``db.lock_blocking``):
its ALTER TABLE would queue behind the lock and every query of the app behind it."""

from __future__ import annotations

from typing import Any

from bot.framework.action import ReadOnlyHost, Step
from bot.inventory.config.models import StackConfig
from runbooks import fix_db_migrate
from tests.unit.diagnose.factories import PLANTED_SECRET, lab_stack
from tests.unit.test_fix_db_and_volumes import (
    CHECK,
    MIGRATE,
    FakeDatabase,
    make_session,
    migrate_params,
)

BLOCKER = {
    "pid": 40,
    "state": "idle in transaction",
    "datname": "shop",
    "application_name": "report-job",
    "xact_s": 900,
    "state_s": 880,
    "relation_locks": 1,
    "query": "select * from orders where note = 'PLANTED'".replace("PLANTED", PLANTED_SECRET),
}


def sessions(*, waits: list[dict[str, Any]], holders: list[dict[str, Any]]) -> FakeDatabase:
    """The database as its superuser sees it: ``ACTIVITY_SQL``'s one row."""
    row: tuple[Any, ...] = (100, 3, None, [], waits, holders, 8_000_000)
    return FakeDatabase({"pg_control_system": [], "pg_stat_activity": [row]})


def plan_with(db: FakeDatabase) -> tuple[Any, Any, Any]:
    cfg = StackConfig(migrate_command=MIGRATE, migration_check_command=CHECK)
    fake, docker = make_session(
        lab_stack(),
        stacks={"shop": cfg},
        execs={CHECK: (1, "Pending migrations: 0004_note\n"), MIGRATE: (0, "OK\n")},
        volumes=["shop_pgdata"],
        db=db,
    )
    return fake, docker, fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())


async def test_a_migration_waiting_behind_an_open_transaction_refuses_and_names_it() -> None:
    waiting = {
        "pid": 41,
        "blockers": [40],
        "datname": "shop",
        "application_name": "migrate",
        "waiting_s": 120,
        "waiting_for": "orders",
        "query": "ALTER TABLE orders …",
    }
    fake, docker, planning = plan_with(sessions(waits=[waiting], holders=[BLOCKER]))
    plan = await planning
    assert plan.refusal is not None and plan.steps == ()
    assert "db.migrate would queue behind a lock in shop-db-1" in plan.refusal
    assert "session 41 (migrate) has waited 120 s for a lock on orders" in plan.refusal
    assert "session 40 (report-job, idle in transaction for 880 s)" in plan.refusal
    assert PLANTED_SECRET not in plan.refusal
    assert docker.execs == []  # refused before the migration check, nothing ran
    assert fake.connects and fake.connects[-1]["user"] == "shop"  # the db's superuser

    outcomes = await fix_db_migrate.apply(fake, migrate_params(), plan.model_copy(
        update={"steps": (Step(description="run", call="x"),)}
    ))  # fmt: skip
    assert [o.ok for o in outcomes] == [False]
    assert "would queue behind a lock" in outcomes[0].detail
    assert ("shop-backend-1", MIGRATE) not in docker.execs


async def test_an_idle_transaction_holding_table_locks_refuses_too() -> None:
    _, _, planning = plan_with(sessions(waits=[], holders=[BLOCKER]))
    plan = await planning
    assert plan.refusal is not None
    assert "session 40 (report-job, idle in transaction for 880 s) holds 1 table lock(s)" in (
        plan.refusal
    )


async def test_short_waits_and_other_databases_do_not_stop_the_migration() -> None:
    brief = {"pid": 41, "blockers": [40], "datname": "shop", "waiting_s": 2}
    elsewhere = dict(BLOCKER, datname="analytics")
    fresh = dict(BLOCKER, pid=44, state_s=5)
    _, docker, planning = plan_with(
        sessions(waits=[brief], holders=[dict(BLOCKER, state="active"), elsewhere, fresh])
    )
    plan = await planning
    assert plan.refusal is None, plan.refusal
    assert [s.description.split()[0] for s in plan.steps] == ["stop", "archive", "start", "run"]
    assert docker.execs == [("shop-backend-1", CHECK)]
