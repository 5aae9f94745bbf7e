"""Fixes that leave the stack working (issue #13), on the lab over SSH.

Seed 000's class (S1, compose v2): ``db.migrate`` is refused while the orphaned
volume stands; ``volume.restore`` brings back the rows the stack had (25
customers), names the emptied volume's archive and its sha256, and a second run
is an empty plan. Seed 003's class (S4, compose v1): the fixes the report offers,
applied in the report's order, end with the app up and its tables present; the
snapshot taken before ``db.migrate`` puts the volume back to its pre-fix content.
Every action goes through ``bot.framework.executor.execute`` as ``stackbot fix --yes`` does.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.framework.action import Action, ActionResult, Plan
from bot.framework.engine import run_runbook
from bot.framework.executor import execute, plan_action
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import build_report
from bot.model.findings import Finding
from bot.transport import Transport
from runbooks import load_actions, load_runbook
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.integration.compose_kinds import V2_AND_SAMPLED_V1
from tests.integration.inventories import lab_host, write_inventory
from tests.lab.lab import Lab
from tests.lab.stack import cname, exec_in
from tests.lab.util import LabError

pytestmark = pytest.mark.lab

ENV = "lab"
MIGRATE = ["python3", "/app/manage.py", "migrate"]
CHECK = ["python3", "/app/manage.py", "check_migrations"]
STACKS = {
    "indexo": {"compose_project": "indexo-staging", "migrate_command": MIGRATE,
               "migration_check_command": CHECK},
    "hanna": {"compose_project": "hanna", "migrate_command": MIGRATE,
              "migration_check_command": CHECK},
}  # fmt: skip
ACTIONS = load_actions()
SCHEMA = (
    "CREATE TABLE app_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL "
    "DEFAULT now()); CREATE TABLE clients (id serial PRIMARY KEY, name text NOT NULL)"
)
_ARCHIVE = re.compile(r"archive (?P<path>/\S+\.tar\.gz), (?P<size>\d+) bytes, sha256 (?P<sha>\w+)")


@pytest.fixture(scope="module")
def inventory(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("cures") / "inv.yaml"
    hosts = {"h1": lab_host(lab, "h1")}
    return load_inventory(write_inventory(path, lab, {ENV: {"hosts": hosts, "stacks": STACKS}}))


@pytest.fixture(scope="module")
def backups(lab: Lab) -> Iterator[Path]:
    directory = lab.run_dir / "cures-backups"
    shutil.rmtree(directory, ignore_errors=True)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def scenario(lab: Lab, name: str, compose: str) -> None:
    last = lab.last_scenario
    if last is None or last.name != name or last.compose != compose:
        lab.scenario(name, compose)


async def findings_of(session: HostSession) -> list[Finding]:
    return judge(await gather_facts(session, deadline=60)).findings


def run(inventory: Inventory, name: str, tmp_path: Path, **raw: Any) -> tuple[Plan, ActionResult]:
    """Plan, then execute with that plan confirmed (as `stackbot fix --yes` does)."""
    action: Action[Any] = ACTIONS[name]
    params = action.params.model_validate({"host": "h1", **raw})

    async def go() -> tuple[Plan, ActionResult]:
        async with Transport(inventory.ssh) as transport:
            plan = await plan_action(transport, inventory, ENV, action, params)
            result = await execute(
                transport, inventory, ENV, action, params, confirmed=plan, actor="test",
                lock_dir=tmp_path, diagnose=findings_of,
            )  # fmt: skip
        return plan, result

    return asyncio.run(go())


def report(inventory: Inventory) -> list[Finding]:
    """The environment's findings in the order the report gives them."""
    runbook = load_runbook("diagnose")

    async def go() -> list[Finding]:
        async with Transport(inventory.ssh) as transport:
            outcome = await run_runbook(transport, inventory, ENV, runbook, runbook.params())
        return build_report(outcome).findings

    return asyncio.run(go())


def psql(lab: Lab, container: str, user: str, database: str, sql: str) -> str:
    argv = ["psql", "-h", "/run/postgresql", "-U", user, "-d", database, "-Atc", sql]
    return exec_in(lab.docker("h1"), container, argv)[1].strip()


def tables(lab: Lab, container: str, user: str, database: str) -> set[str]:
    sql = "select table_name from information_schema.tables where table_schema = 'public'"
    return set(psql(lab, container, user, database, sql).split())


def archive_of(result: ActionResult) -> tuple[Path, int, str]:
    for outcome in result.outcomes:
        match = _ARCHIVE.search(outcome.detail)
        if match:
            return Path(match["path"]), int(match["size"]), match["sha"]
    raise AssertionError(f"no archive named in {[o.detail for o in result.outcomes]}")


def test_s1_restore_brings_the_rows_back_and_migrate_waits_for_it(
    lab: Lab, inventory: Inventory, tmp_path: Path, backups: Path
) -> None:
    scenario(lab, "S1", "v2")
    db, old, new = "indexo_db_staging", "multivendor_postgres_data", "indexo-staging_postgres_data"
    # seed 000's backend migrates at start: the new volume gains a schema (and may outgrow
    # the lab's orphan, which holds only 25 rows): the finding stays
    if not tables(lab, db, "multivendor", "multivendor"):
        psql(lab, db, "multivendor", "multivendor", SCHEMA)
    (orphan,) = [f for f in report(inventory) if f.code == "volume.orphaned_data"]
    assert orphan.evidence["current_cluster_initialized"]
    restore = next(fix for fix in orphan.fixes if fix.action == "volume.restore")
    assert restore.destructive
    assert restore.params == {"host": "h1", "container": db, "volume": old}

    # never bury the evidence: no migration onto the new, empty volume
    _, refused = run(inventory, "db.migrate", tmp_path, stack="indexo",
                     backup_directory=str(backups))  # fmt: skip
    assert refused.status == "refused" and not refused.changed
    assert old in refused.message and "volume.restore" in refused.message
    assert not {"customers", "orders"} & tables(lab, db, "multivendor", "multivendor")

    plan, restored = run(
        inventory, "volume.restore", tmp_path, container=db, volume=old,
        backup_directory=str(backups), settle=3,
    )  # fmt: skip
    text = " ".join(plan.notes)
    assert f"{old} wins" in text and "CreatedAt" in text and f"{new}:" in text
    assert f"{backups}/{new}-<UTC time>.tar.gz" in text
    assert restored.status == "applied", [o.detail for o in restored.outcomes]
    assert restored.changed
    path, size, sha = archive_of(restored)
    assert path.parent == backups and path.name.startswith(f"{new}-")
    assert path.stat().st_size == size > 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    counted = restored.outcomes[-1].detail
    assert "public.customers 25" in counted and "public.orders 25" in counted, counted
    assert restored.post_check is not None and restored.post_check.cleared
    assert psql(lab, db, "multivendor", "multivendor", "select count(*) from customers") == "25"
    assert {v.name for v in lab.docker("h1").volumes.list()} >= {old, new}  # orphan kept

    again_plan, again = run(
        inventory, "volume.restore", tmp_path, container=db, volume=old,
        backup_directory=str(backups), settle=3,
    )  # fmt: skip
    assert again_plan.empty and again.status == "nothing to do" and not again.changed
    assert "does not stand" in " ".join(again_plan.notes)
    assert "volume.orphaned_data" not in {f.code for f in report(inventory)}

    # the orphan is gone as evidence: db.migrate may run now (it plans, no refusal)
    plan, _ = run_plan_only(inventory, "db.migrate", stack="indexo", backup_directory=str(backups))
    assert plan.refusal is None, plan.refusal


def run_plan_only(inventory: Inventory, name: str, **raw: Any) -> tuple[Plan, None]:
    action: Action[Any] = ACTIONS[name]
    params = action.params.model_validate({"host": "h1", **raw})

    async def go() -> Plan:
        async with Transport(inventory.ssh) as transport:
            return await plan_action(transport, inventory, ENV, action, params)

    return asyncio.run(go()), None


@pytest.mark.parametrize("compose", V2_AND_SAMPLED_V1)
def test_s4_the_offered_fixes_in_report_order_leave_the_app_up_with_its_tables(
    lab: Lab, inventory: Inventory, tmp_path: Path, backups: Path, compose: str
) -> None:
    scenario(lab, "S4", compose)
    backend, db = cname("hanna", "backend"), cname("hanna", "db")
    findings = report(inventory)
    down = next(f for f in findings if f.code == "container.down")
    assert [fix.action for fix in down.fixes][:1] == ["db.migrate"], down.fixes
    applied: list[ActionResult] = []
    snapshot: Path | None = None
    for finding in findings:
        for fix in finding.fixes:
            if fix.action not in ("db.migrate", "container.restart", "db.create"):
                continue
            params = {k: v for k, v in fix.params.items() if k != "host"}
            if fix.action == "db.migrate":
                params["backup_directory"] = str(backups)
            _, result = run(inventory, fix.action, tmp_path, **params)
            assert result.status in ("applied", "nothing to do"), (fix, result.message)
            applied.append(result)
            if fix.action == "db.migrate" and result.status == "applied":
                snapshot = archive_of(result)[0]
    cured_at = time.monotonic()
    assert applied[0].action == "db.migrate" and applied[0].status == "applied"
    steps = [o.step.split()[0] for o in applied[0].outcomes]
    assert steps == ["stop", "archive", "start", "run", "start"]  # db stopped for the archive
    container = lab.docker("h1").containers.get(backend)
    assert container.status == "running"
    assert {"app_migrations", "customers", "orders"} <= tables(lab, db, "hanna", "hanna")
    codes = {f.code for f in report(inventory)}
    assert not codes & {"container.down", "db.empty", "db.migrations_pending"}, codes
    # seed 003's promise: 30 s after the last fix the app is still up (never restarted)
    # and the proxy answers through it
    restarts = container.attrs["RestartCount"]
    time.sleep(max(0.0, 30 - (time.monotonic() - cured_at)))
    container.reload()
    assert container.status == "running" and container.attrs["RestartCount"] == restarts
    answer = exec_in(
        lab.docker("h1"), cname("hanna", "nginx"),
        ["python3", "-c", "import urllib.request as u; "
         "print(u.urlopen('http://127.0.0.1/api/orders', timeout=10).status)"],
    )[1]  # fmt: skip
    assert answer.strip() == "200", answer

    # the snapshot taken before db.migrate puts the volume back to its pre-fix content
    assert snapshot is not None
    hint = next(o.detail for o in applied[0].outcomes if "to restore it:" in o.detail)
    assert "docker run --rm -v hanna_postgres_data:/data" in hint
    client = lab.docker("h1")
    client.containers.get(db).stop(timeout=30)
    client.containers.run(
        "stackbot-lab/postgres:lab",
        ["sh", "-c", f"find /data -mindepth 1 -delete && tar -xzpf /backup/{snapshot.name} "
         "-C /data"],
        entrypoint=[], user="0:0", remove=True, network_mode="none",
        volumes={"hanna_postgres_data": {"bind": "/data", "mode": "rw"},
                 str(snapshot.parent): {"bind": "/backup", "mode": "ro"}},
        tmpfs={"/var/lib/postgresql/data": ""},
    )  # fmt: skip
    client.containers.get(db).start()
    assert wait_for_tables(lab, db, "hanna", "hanna") == set()  # as before the migration


def wait_for_tables(lab: Lab, container: str, user: str, database: str) -> set[str]:
    """The tables once the (re)started server answers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return tables(lab, container, user, database)
        except LabError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
