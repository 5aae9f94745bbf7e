"""volume.restore against fakes, and the evidence rules it shares with the diagnosis.

The lab test (tests/integration/test_cures.py) restores seed 000's volume on a real
engine; these pin the rules: which volume is the newer and emptier one (a schema on
the new volume does not hide the orphan; a restored volume is not an orphan's
victim), refusals that say what to change in the compose file, the order of the
steps, the archive's sha256 and the row counts in the outcome, nothing changed
when the Postgres versions differ, and db.migrate / db.create refused while the
orphan stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.framework.action import ReadOnlyHost
from bot.inventory.config.models import StackConfig
from bot.model.docker_objects import DiskUsage, Volume
from bot.model.findings import Finding
from runbooks import fix_db_create, fix_db_migrate, fix_volume_restore
from runbooks._evidence import blocked_refusal
from runbooks.diagnose.checks_volumes import SCHEMA_ALLOWANCE, check_orphaned_data
from runbooks.diagnose.facts import DatabaseFacts, HostFacts
from tests.unit.diagnose.factories import NOW, ago, container, facts, lab_stack, volume
from tests.unit.test_fix_db_and_volumes import (
    DIGEST,
    MIGRATE,
    FakeDatabase,
    Session,
    WritingDocker,
    leaks,
    make_session,
)

MB = 1000**2
CURRENT, ORPHAN = "shop_pgdata", "shop-legacy_pgdata"


def born_at(when: datetime) -> int:
    """A Postgres system identifier initialised at ``when``."""
    return int(when.timestamp()) << 32


def host_volumes(current: int = 48 * MB, orphan: int = 900 * MB) -> list[Volume]:
    return [
        volume(CURRENT, project="shop", size=current, created=ago(hours=2)),
        volume(ORPHAN, project="shop-legacy", compose_volume="pgdata", size=orphan,
               created=ago(days=3)),
    ]  # fmt: skip


def with_cluster(born: datetime | None, **sizes: int) -> HostFacts:
    database = DatabaseFacts(
        stack="shop",
        app_service="backend",
        db_service="db",
        db_container="shop-db-1",
        host="db",
        address="172.18.0.3",
        status="ok",
        tables=3,
        cluster_initialized_at=born,
    )
    return facts(lab_stack(), volumes=host_volumes(**sizes), databases=(database,))


# --- which volume is the newer and emptier one -------------------------------------------


def test_a_schema_on_the_new_volume_does_not_hide_the_orphan() -> None:
    # born after the orphan was last used; a migration made it larger than the orphan
    f = with_cluster(NOW - timedelta(hours=2), current=52 * MB, orphan=50 * MB)
    (finding,) = check_orphaned_data(f)
    assert finding.evidence["orphaned_volume"] == ORPHAN
    assert "initialised after" in str(finding.evidence["order"])
    backup, restore = finding.fixes
    assert backup.action == "volume.backup" and not backup.destructive
    assert restore.action == "volume.restore" and restore.destructive
    assert restore.params == {"host": "web1", "container": "shop-db-1", "volume": ORPHAN}


def test_more_than_a_schema_larger_is_not_the_emptier_one() -> None:
    f = with_cluster(NOW - timedelta(hours=2), current=50 * MB + SCHEMA_ALLOWANCE, orphan=50 * MB)
    assert check_orphaned_data(f) == []


def test_a_cluster_older_than_the_orphans_last_use_was_restored_from_it() -> None:
    # after volume.restore: the current volume holds the orphan's cluster (older)
    f = with_cluster(NOW - timedelta(days=40), current=48 * MB, orphan=900 * MB)
    assert check_orphaned_data(f) == []


def test_without_the_clusters_age_only_sizes_speak_and_no_restore_is_offered() -> None:
    (finding,) = check_orphaned_data(with_cluster(None))
    assert [fix.action for fix in finding.fixes] == ["volume.backup"]
    assert finding.evidence["order"] is None
    assert check_orphaned_data(with_cluster(None, current=52 * MB, orphan=50 * MB)) == []


# --- volume.restore on fakes -----------------------------------------------------------


@dataclass
class RestoreDocker(WritingDocker):
    stopped: list[str] = field(default_factory=list)
    helper_logs: list[str] = field(default_factory=list)  # each helper's output, in order

    async def stop_container(self, ref: str, *, timeout: int = 10) -> None:
        self.stopped.append(ref)

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        return self.helper_logs.pop(0) if ref == "helper-id" and self.helper_logs else ""


def restore_host(
    *,
    born: datetime = NOW - timedelta(hours=2),
    mounted_by_old: bool = False,
    logs: tuple[str, ...] = ("15\n15\n",),
) -> tuple[Session, RestoreDocker]:
    stack = list(lab_stack())
    if mounted_by_old:
        stack.append(
            container("shop-legacy-db-1", project="shop-legacy", service="db",
                      state="exited", volumes=[ORPHAN])
        )  # fmt: skip
    db = FakeDatabase(
        {
            "pg_control_system": [(born_at(born),)],
            "information_schema.tables": [("public", "customers"), ("public", "orders")],
            "count(*)": [(25,)],
        }
    )
    usage = DiskUsage.model_validate(
        {"Volumes": [v.model_dump(by_alias=True, mode="json") for v in host_volumes()]}
    )
    session, base = make_session(stack, usage=usage, db=db, volumes=[CURRENT, ORPHAN])
    docker = RestoreDocker(**{k: getattr(base, k) for k in base.__dataclass_fields__})
    docker.helper_logs = list(logs)
    session._docker = docker
    return session, docker


PARAMS = fix_volume_restore.Params(host="web1", container="shop-db-1", volume=ORPHAN, settle=0)


async def test_the_plan_shows_both_volumes_the_winner_and_the_archive() -> None:
    fake, docker = restore_host()
    plan = await fix_volume_restore.plan(ReadOnlyHost(fake), PARAMS)
    assert plan.refusal is None and plan.destructive
    assert [s.description.split()[0] for s in plan.steps] == [
        "check", "stop", "archive", "replace", "start", "verify",
    ]  # fmt: skip
    notes = " ".join(plan.notes)
    assert f"{CURRENT}: 48.0 MB, CreatedAt" in notes and f"{ORPHAN}: 900.0 MB" in notes
    assert f"{ORPHAN} wins" in notes
    assert f"/var/backups/stackbot/{CURRENT}-<UTC time>.tar.gz" in notes
    assert f"{ORPHAN}:/from:ro" in plan.steps[3].call and f"{CURRENT}:/to'" in plan.steps[3].call
    assert plan.before["cluster_initialized"].startswith("2025-10-10T10:00")
    assert docker.created == [] and docker.stopped == []  # planning changed nothing
    assert not leaks(plan)


async def test_restore_stops_archives_copies_starts_and_counts_rows() -> None:
    fake, docker = restore_host()
    plan = await fix_volume_restore.plan(ReadOnlyHost(fake), PARAMS)
    outcomes = await fix_volume_restore.apply(fake, PARAMS, plan)
    assert [o.ok for o in outcomes] == [True] * 6, outcomes
    db_id = docker.details["shop-db-1"].id
    assert docker.stopped == [db_id] and docker.started[-1] == db_id
    assert f"sha256 {DIGEST}" in outcomes[2].detail and CURRENT in outcomes[2].detail
    assert outcomes[-1].detail == (
        "database shop answers: 2 tables; rows: public.customers 25, public.orders 25"
    )
    commands = [body["Cmd"] for _, body in docker.created]
    assert commands[0] == ["cat", "/from/PG_VERSION", "/to/PG_VERSION"]
    assert commands[2][-1].startswith("find /to -mindepth 1 -delete && cp -a /from/. /to/")
    assert all(body["Image"] == docker.details["shop-db-1"].image_id for _, body in docker.created)
    assert not leaks(plan, outcomes)


async def test_different_postgres_versions_change_nothing_and_say_what_to_write() -> None:
    fake, docker = restore_host(logs=("14\n15\n",))
    plan = await fix_volume_restore.plan(ReadOnlyHost(fake), PARAMS)
    (outcome,) = await fix_volume_restore.apply(fake, PARAMS, plan)
    assert not outcome.ok and "Postgres 14 cluster" in outcome.detail
    assert f"name: {ORPHAN}" in outcome.detail and "nothing changed" in outcome.detail
    assert docker.stopped == [] and len(docker.created) == 1


async def test_a_mounted_orphan_is_refused_with_the_compose_change_as_text() -> None:
    fake, _ = restore_host(mounted_by_old=True)
    plan = await fix_volume_restore.plan(ReadOnlyHost(fake), PARAMS)
    assert plan.refusal is not None and "mounted by shop-legacy-db-1" in plan.refusal
    assert f"name: {ORPHAN}, external: true" in plan.refusal


async def test_a_restored_volume_is_an_empty_plan() -> None:
    fake, _ = restore_host(born=NOW - timedelta(days=40))
    plan = await fix_volume_restore.plan(ReadOnlyHost(fake), PARAMS)
    assert plan.empty and plan.refusal is None
    assert "does not stand" in plan.notes[0] and "before" in plan.notes[0]


# --- never bury the evidence --------------------------------------------------------------


def blocked(plan_refusal: str | None) -> bool:
    return (
        bool(plan_refusal) and ORPHAN in str(plan_refusal) and "volume.restore" in str(plan_refusal)
    )


async def test_migrate_and_create_are_refused_while_the_orphan_stands() -> None:
    fake, docker = restore_host()
    fake._host = fake.host.model_copy(
        update={"stacks": {"shop": StackConfig(migrate_command=MIGRATE)}}
    )
    migrate = await fix_db_migrate.plan(
        ReadOnlyHost(fake), fix_db_migrate.Params(host="web1", stack="shop")
    )
    assert blocked(migrate.refusal), migrate.refusal
    assert "stackbot fix volume.restore prod --param host=web1" in str(migrate.refusal)
    create = await fix_db_create.plan(
        ReadOnlyHost(fake),
        fix_db_create.Params(host="web1", stack="shop", database="shop", owner="shop"),
    )
    assert blocked(create.refusal), create.refusal
    assert docker.execs == [] and docker.created == []


def test_blocked_refusal_names_reinitialized_too() -> None:
    finding = Finding.model_validate(
        {
            "code": "db.reinitialized",
            "severity": "warning",
            "title": "t",
            "subject": {"environment": "prod", "host": "web1"},
            "evidence": {
                "db_container": "shop-db-1",
                "cluster_initialized_at": "2025-10-10T11:00:00+00:00",
                "app_container": "shop-backend-1",
            },
        }
    )
    text = blocked_refusal("db.migrate", "prod", [finding])
    assert text is not None and "db.reinitialized stands for shop-db-1" in text
    assert blocked_refusal("db.migrate", "prod", []) is None


def test_the_action_is_destructive_and_verifies_the_orphan() -> None:
    action: Any = fix_volume_restore.ACTION
    assert (action.name, action.destructive, action.verifies) == (
        "volume.restore",
        True,
        ("volume.orphaned_data",),
    )
