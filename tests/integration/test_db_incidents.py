"""Three database incidents on the lab's real Postgres, diagnosed over SSH by the CLI:
out of connections (``db.connections_exhausted``), a migration waiting behind an open
transaction (``db.lock_blocking``; ``db.migrate`` refuses to start), and a small data
volume nearly full (``volume.nearly_full``). The states come from
tests/lab/db_incident_builders.py; no planted secret may reach the output."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.framework.action import Plan
from bot.framework.executor import plan_action
from bot.inventory.config import load_inventory
from bot.transport import Transport
from runbooks import load_actions
from tests.integration.inventories import lab_host, write_inventory
from tests.lab.config import PLANTED_JWT, PLANTED_PASSWORD, PLANTED_SECRET
from tests.lab.db_incident_builders import (
    LOCK_WAIT,
    built,
    db_connections_exhausted,
    db_connections_refused,
    db_lock_blocking,
    db_volume_nearly_full,
)
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

ENV = "lab"
PLANTED = (PLANTED_SECRET, PLANTED_PASSWORD, PLANTED_JWT)
MIGRATE = ["python3", "/app/manage.py", "migrate"]
Finding = dict[str, Any]


@pytest.fixture(scope="module")
def inventory_path(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    stacks = {"shop": {"compose_project": "shop", "migrate_command": MIGRATE}}
    return write_inventory(
        tmp_path_factory.mktemp("db-incidents") / "inv.yaml",
        lab,
        {ENV: {"hosts": {"h1": lab_host(lab, "h1")}, "stacks": stacks}},
    )


def diagnose(inventory_path: Path, fmt: str = "json") -> str:
    """``stackbot diagnose lab`` as a user runs it; its output, checked for secrets."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(inventory_path), "diagnose", ENV,
         "--format", fmt],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    for secret in PLANTED:
        assert secret not in proc.stdout + proc.stderr, (fmt, secret)
    return proc.stdout


def findings(inventory_path: Path) -> list[Finding]:
    found: list[Finding] = json.loads(diagnose(inventory_path))["findings"]
    print(describe(found))  # shown with -s or on failure: what else the state reports
    return found


def describe(found: list[Finding]) -> str:
    return "\n".join(f"{f['severity']} {f['code']}: {f['title']}" for f in found)


def one(found: list[Finding], code: str) -> Finding:
    matching = [f for f in found if f["code"] == code]
    assert len(matching) == 1, describe(found)
    return matching[0]


def test_every_slot_held_by_a_leaking_worker(lab: Lab, inventory_path: Path) -> None:
    info = built(lab, db_connections_exhausted)
    found = findings(inventory_path)
    f = one(found, "db.connections_exhausted")
    db, worker = info.containers[0], info.facts["holder"]
    assert f["severity"] == "critical"
    assert f["subject"]["container"] == db and f["subject"]["database"] == "shop"
    e = f["evidence"]
    assert e["max_connections"] == 20 and e["available"] == 17
    assert e["in_use"] >= 17
    assert f"{worker}: 17" in e["by_client"] and "leaky-worker: 17" in e["by_application"]
    assert "idle: 17" in e["by_state"] or e["by_state"][0].startswith("idle: ")
    (fix,) = f["fixes"]
    assert fix["action"] == "container.restart" and fix["params"]["container"] == worker
    assert "db.unreachable" not in {x["code"] for x in found}


def test_a_server_with_no_slot_left_refuses_stackbot_too(lab: Lab, inventory_path: Path) -> None:
    info = built(lab, db_connections_refused)
    found = findings(inventory_path)
    f = one(found, "db.connections_exhausted")
    assert f["severity"] == "critical"
    assert f["subject"]["container"] == info.containers[0]
    assert "too many clients already" in f["evidence"]["error"]
    codes = {x["code"] for x in found}
    assert "db.unreachable" not in codes and "db.empty" not in codes


def test_a_migration_waiting_behind_an_open_transaction(lab: Lab, inventory_path: Path) -> None:
    info = built(lab, db_lock_blocking)
    found = findings(inventory_path)
    f = one(found, "db.lock_blocking")
    assert f["severity"] == "critical"
    assert f["subject"]["container"] == info.containers[0] and f["subject"]["database"] == "shop"
    e = f["evidence"]
    assert e["blocker_application_name"] == "report-job"
    assert e["blocker_state"] == "idle in transaction"
    assert e["blocker_state_seconds"] >= LOCK_WAIT
    assert e["blocker_query"] == "SELECT count(*) FROM orders;"
    assert e["waiting"] >= 1 and e["longest_wait_seconds"] >= LOCK_WAIT
    assert e["waiting_for"] == ["orders"]
    assert any(" (migrate) " in w and "ALTER TABLE orders" in w for w in e["longest_waits"])
    assert f"pg_terminate_backend({e['blocker_pid']})" in e["advice"]
    assert "report-job" in diagnose(inventory_path, "table")

    # db.migrate will not start behind it: its ALTER TABLE would queue too
    plan = migrate_plan(inventory_path)
    assert plan.refusal is not None and plan.steps == ()
    assert "would queue behind a lock in" in plan.refusal
    assert "(report-job, idle in transaction for" in plan.refusal
    for secret in PLANTED:
        assert secret not in plan.model_dump_json()


def test_a_small_data_volume_nearly_full(lab: Lab, inventory_path: Path) -> None:
    info = built(lab, db_volume_nearly_full)
    found = findings(inventory_path)
    f = one(found, "volume.nearly_full")
    assert f["severity"] == "warning"
    assert f["subject"]["container"] == info.containers[0]
    assert f["subject"]["volume"] == "shop_postgres_data"
    e = f["evidence"]
    assert e["filesystem"] == "tmpfs" and 90 <= e["percent"] < 97
    assert e["size"] <= 64 * 1024 * 1024 and e["database_size"] > 0
    assert "disk.low" not in {x["code"] for x in found}  # the host's disks are fine

    built(lab, lambda lab: db_volume_nearly_full(lab, percent=98.0))
    f = one(findings(inventory_path), "volume.nearly_full")
    assert f["severity"] == "critical" and f["evidence"]["percent"] >= 97


def migrate_plan(inventory_path: Path) -> Plan:
    inventory = load_inventory(inventory_path)
    action = load_actions()["db.migrate"]
    params = action.params.model_validate({"host": "h1", "stack": "shop"})

    async def go() -> Plan:
        async with Transport(inventory.ssh) as transport:
            return await plan_action(transport, inventory, ENV, action, params)

    return asyncio.run(go())
