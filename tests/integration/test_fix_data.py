"""The data fixes on the lab, over SSH: db.create, db.migrate, volume.backup, docker.prune.

Each action goes through ``bot.framework.executor.execute`` the way ``stackbot fix`` runs it
(plan, confirm that plan, re-plan, apply, diagnose again), and is applied twice:
the second plan is empty and changes nothing (volume.backup excepted: every
backup is a new archive). Archives go to a directory in the lab's run dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from bot.framework.action import Action, ActionResult, Plan
from bot.framework.executor import execute, plan_action
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, load_inventory
from bot.model.findings import Finding
from bot.transport import Transport
from runbooks import load_actions
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.lab.config import PLANTED_JWT, PLANTED_PASSWORD, PLANTED_SECRET
from tests.lab.lab import Lab
from tests.lab.stack import exec_in

pytestmark = pytest.mark.lab

ENV = "lab"
MIGRATE = ["python3", "/app/manage.py", "migrate"]
CHECK = ["python3", "/app/manage.py", "check_migrations"]
LEAKY = ["sh", "-c", "env; echo failing on purpose; exit 3"]
STACKS = {
    "shop": {"compose_project": "shop", "migrate_command": MIGRATE,
             "migration_check_command": CHECK},
    "hanna": {"compose_project": "hanna", "migrate_command": MIGRATE,
              "migration_check_command": CHECK},
    # S1's stack, declared with a migrate command that prints its environment and fails
    "indexo": {"compose_project": "indexo-staging", "migrate_command": LEAKY},
    "shop-leaky": {"compose_project": "shop", "migrate_command": LEAKY},
    # declared without a migrate command (and not running: refused before looking)
    "no-migrate": {"compose_project": "no-migrate"},
}  # fmt: skip
ACTIONS = load_actions()
PLANTED = (PLANTED_PASSWORD, PLANTED_SECRET, PLANTED_JWT)
_ARCHIVE = re.compile(r"archive (?P<path>/\S+\.tar\.gz), (?P<size>\d+) bytes")


@pytest.fixture(scope="module")
def inventory(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("fix-data") / "inv.yaml"
    hosts = {"h1": lab_host(lab, "h1")}
    return load_inventory(write_inventory(path, lab, {ENV: {"hosts": hosts, "stacks": STACKS}}))


@pytest.fixture(scope="module")
def backups(lab: Lab) -> Iterator[Path]:
    """A directory the helper container writes to and the SSH user can stat."""
    directory = lab.run_dir / "fix-data-backups"
    shutil.rmtree(directory, ignore_errors=True)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def results() -> list[ActionResult]:
    """Every ActionResult of this module, for the secrets check at the end."""
    return []


async def findings_of(session: HostSession) -> list[Finding]:
    return judge(await gather_facts(session, deadline=60)).findings


def run(
    inventory: Inventory,
    name: str,
    tmp_path: Path,
    results: list[ActionResult],
    **raw: Any,
) -> tuple[Plan, ActionResult]:
    """Plan, then execute with that plan confirmed (as `stackbot fix --yes` does)."""
    action: Action[Any] = ACTIONS[name]
    params = action.params.model_validate({"host": "h1", **raw})

    async def go() -> tuple[Plan, ActionResult]:
        async with Transport(inventory.ssh) as transport:
            plan = await plan_action(transport, inventory, ENV, action, params)
            result = await execute(
                transport,
                inventory,
                ENV,
                action,
                params,
                confirmed=plan,
                actor="test",
                lock_dir=tmp_path,
                diagnose=findings_of,
            )
        return plan, result

    plan, result = asyncio.run(go())
    results.append(result)
    return plan, result


def diagnosis(inventory: Inventory) -> list[Finding]:
    async def go() -> list[Finding]:
        async with Transport(inventory.ssh) as transport:
            host = inventory.resolved_host(ENV, "h1")
            async with transport.session(host) as session:
                return await findings_of(session)

    return asyncio.run(go())


def codes(findings: list[Finding], stack: str) -> set[str]:
    return {f.code for f in findings if stack in (f.evidence.get("stack"), f.subject.project)}


def tables(lab: Lab, container: str, user: str, database: str) -> set[str]:
    sql = "select table_name from information_schema.tables where table_schema = 'public'"
    _, out = exec_in(
        lab.docker("h1"),
        container,
        ["psql", "-h", "/run/postgresql", "-U", user, "-d", database, "-Atc", sql],
    )
    return set(out.split())


def archive_of(result: ActionResult) -> tuple[Path, int]:
    """The archive an outcome names (path on the host, which shares our filesystem)."""
    for outcome in result.outcomes:
        match = _ARCHIVE.search(outcome.detail)
        if match:
            return Path(match["path"]), int(match["size"])
    raise AssertionError(f"no archive named in {[o.detail for o in result.outcomes]}")


def volume_names(lab: Lab) -> set[str]:
    return {v.name for v in lab.docker("h1").volumes.list()}


def test_s2_create_then_migrate_the_dropped_database(
    lab: Lab, inventory: Inventory, tmp_path: Path, backups: Path, results: list[ActionResult]
) -> None:
    ensure_scenario(lab, "S2")
    assert "db.missing" in codes(diagnosis(inventory), "shop")
    params = {"stack": "shop", "database": "shop", "owner": "shop"}

    plan, created = run(inventory, "db.create", tmp_path, results, **params)
    assert [s.call for s in plan.steps] == ['CREATE DATABASE "shop" OWNER "shop"']
    assert created.status == "applied" and created.changed, created.message
    assert created.post_check is not None and created.post_check.cleared
    again_plan, again = run(inventory, "db.create", tmp_path, results, **params)
    assert again_plan.empty and again.status == "nothing to do" and not again.changed

    after_create = codes(diagnosis(inventory), "shop")
    assert "db.missing" not in after_create and "db.empty" in after_create

    volumes = volume_names(lab)
    plan, migrated = run(
        inventory, "db.migrate", tmp_path, results, stack="shop", backup_directory=str(backups)
    )
    assert [s.description.split()[0] for s in plan.steps] == ["stop", "archive", "start", "run"]
    assert "shop_postgres_data" in plan.steps[1].description  # the db is stopped around it
    assert migrated.status == "applied" and migrated.changed, migrated.message
    assert migrated.post_check is not None and migrated.post_check.cleared
    assert migrated.post_check.checked == ("db.empty", "db.migrations_pending")
    path, size = archive_of(migrated)
    assert path.parent == backups and path.is_file() and path.stat().st_size == size > 0
    assert {"app_migrations", "customers", "orders"} <= tables(lab, "shop_db_1", "shop", "shop")
    assert volume_names(lab) == volumes  # the helper left no anonymous volume behind
    helpers = [c for c in lab.docker("h1").containers.list(all=True) if "backup" in str(c.name)]
    assert not helpers

    again_plan, again = run(
        inventory, "db.migrate", tmp_path, results, stack="shop", backup_directory=str(backups)
    )
    assert again_plan.empty and again.status == "nothing to do" and not again.changed
    assert again_plan.before["migration_check"] == "exit 0"
    assert not codes(diagnosis(inventory), "shop") & {"db.missing", "db.empty"}


def test_s4_migrate_while_the_app_is_stopped_then_starts_it(
    lab: Lab, inventory: Inventory, tmp_path: Path, backups: Path, results: list[ActionResult]
) -> None:
    ensure_scenario(lab, "S4")
    _, refused = run(inventory, "db.migrate", tmp_path, results, stack="no-migrate")
    assert refused.status == "refused"
    assert "environments.lab.stacks.no-migrate.migrate_command" in refused.message

    assert tables(lab, "hanna_db_1", "hanna", "hanna") == set()
    # the app is down (seed 003): the migration runs in a one-off container of its
    # service (compose run --rm --no-deps), then the app is started and watched
    plan, migrated = run(
        inventory, "db.migrate", tmp_path, results, stack="hanna", backup_directory=str(backups)
    )
    assert plan.before["migration_check"] == "app not running", plan.before
    assert migrated.status == "applied", migrated.message
    backend = lab.docker("h1").containers.get("hanna_backend_1")
    assert backend.status == "running"
    assert migrated.post_check is not None and migrated.post_check.cleared
    assert {"app_migrations", "customers", "orders"} <= tables(lab, "hanna_db_1", "hanna", "hanna")
    assert "db.empty" not in codes(diagnosis(inventory), "hanna")

    again_plan, again = run(
        inventory, "db.migrate", tmp_path, results, stack="hanna", backup_directory=str(backups)
    )
    assert again_plan.empty and again.status == "nothing to do" and not again.changed


def test_s1_backup_of_the_orphaned_volume(
    lab: Lab, inventory: Inventory, tmp_path: Path, backups: Path, results: list[ActionResult]
) -> None:
    ensure_scenario(lab, "S1")
    volume = "multivendor_postgres_data"
    _, refused = run(
        inventory, "volume.backup", tmp_path, results, volume=volume, directory=str(backups)
    )
    assert refused.status == "refused" and "param image" in (refused.message or "")

    _, missing = run(
        inventory, "volume.backup", tmp_path, results, volume="no_such_volume",
        directory=str(backups),
    )  # fmt: skip
    assert missing.status == "refused" and "does not exist" in missing.message

    volumes = volume_names(lab)
    image = "stackbot-lab/busybox:lab"
    raw = {"volume": volume, "directory": str(backups), "image": image}
    plan, backed_up = run(inventory, "volume.backup", tmp_path, results, **raw)
    assert f"{volume}:/data:ro" in plan.steps[0].call
    assert backed_up.status == "applied" and backed_up.changed, backed_up.message
    path, size = archive_of(backed_up)
    assert path.parent == backups and path.name.startswith(f"{volume}-")
    assert path.stat().st_size == size > 0
    with tarfile.open(path) as archive:
        names = set(archive.getnames())
    assert {"./PG_VERSION", "./base"} <= names  # the database cluster, relative to /data
    assert volume_names(lab) == volumes

    # Not idempotent by nature: the same plan again writes a second archive.
    time.sleep(1.1)  # archive names have one-second resolution
    again_plan, again = run(inventory, "volume.backup", tmp_path, results, **raw)
    assert again_plan.steps == plan.steps and again.status == "applied"
    assert archive_of(again)[0] != path and len(list(backups.glob(f"{volume}-*"))) == 2


def test_prune_removes_stopped_containers_and_dangling_images_never_volumes(
    lab: Lab, inventory: Inventory, tmp_path: Path, results: list[ActionResult]
) -> None:
    ensure_scenario(lab, "S1")  # its unused volume multivendor_postgres_data must survive
    client = lab.docker("h1")
    probe = client.containers.run(
        "stackbot-lab/busybox:lab", ["sh", "-c", "echo probe > /probe"], name="prune-probe",
        detach=True,
    )  # fmt: skip
    probe.wait(timeout=30)
    first = str(probe.commit(repository="stackbot-prune-probe", tag="tmp").id)
    second = str(probe.commit(repository="stackbot-prune-probe", tag="tmp").id)  # first dangles
    try:
        assert first != second
        volumes = volume_names(lab)
        assert "multivendor_postgres_data" in volumes

        plan, pruned = run(inventory, "docker.prune", tmp_path, results)
        assert plan.before["stopped_containers"] == ["prune-probe"]
        assert plan.before["dangling_images"] == 1
        text = json.dumps(plan.model_dump(mode="json"))
        assert "volumes are never removed" in text
        assert not any("volume" in s.description or "volume" in s.call for s in plan.steps)
        assert pruned.status == "applied" and pruned.changed, pruned.message

        with pytest.raises(docker.errors.NotFound):
            client.containers.get("prune-probe")
        with pytest.raises(docker.errors.NotFound):
            client.images.get(first)
        client.images.get(second)  # tagged: kept
        assert volume_names(lab) == volumes

        again_plan, again = run(inventory, "docker.prune", tmp_path, results)
        assert again_plan.empty and again.status == "nothing to do" and not again.changed
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get("prune-probe").remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(second, force=True)


def test_planted_secrets_never_reach_a_result(
    lab: Lab, inventory: Inventory, tmp_path: Path, backups: Path, results: list[ActionResult]
) -> None:
    ensure_scenario(lab, "healthy")  # (S1's indexo: refused while its data is orphaned)
    # this declared migrate command prints the app's environment and fails
    _, failed = run(
        inventory, "db.migrate", tmp_path, results, stack="shop-leaky",
        backup_directory=str(backups),
    )  # fmt: skip
    assert failed.status == "failed" and not failed.outcomes[-1].ok
    assert "exited 3" in failed.message and "failing on purpose" in failed.message
    assert "DATABASE_URL=" in failed.message and "***" in failed.message
    assert {r.action for r in results} >= {"db.create", "db.migrate", "volume.backup"}
    for result in results:
        text = json.dumps(result.model_dump(mode="json"))
        leaked = [secret for secret in PLANTED if secret in text]
        assert not leaked, f"{result.action}: {leaked} in {text[:400]}"
