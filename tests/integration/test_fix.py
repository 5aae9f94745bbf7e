"""The fix framework on the real engine over SSH: plan, confirm, re-plan, apply, verify, lock."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from bot.framework.action import ActionResult
from bot.framework.engine import run_runbook
from bot.framework.envlock import EnvironmentBusy, environment_lock
from bot.framework.executor import PlanStale, execute, plan_action
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import build_report
from bot.model.findings import Finding
from bot.transport import Transport
from runbooks import load_actions, load_runbook
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

BACKEND = "indexo_backend_staging"
INTERNAL = "indexo-staging_internal"


@pytest.fixture
def inventory_path(lab: Lab, tmp_path: Path) -> Path:
    return write_inventory(
        tmp_path / "inv.yaml",
        lab,
        {
            "lab": {"hosts": {"h1": lab_host(lab, "h1")}},
            "small": {"hosts": {"h2": lab_host(lab, "h2")}},
        },
    )


@pytest.fixture
def inventory(inventory_path: Path) -> Inventory:
    return load_inventory(inventory_path)


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )


async def findings_of(session: HostSession) -> list[Finding]:
    return judge(await gather_facts(session, deadline=60)).findings


def diagnose_codes(inventory: Inventory) -> dict[str, list[Finding]]:
    runbook = load_runbook("diagnose")

    async def go() -> dict[str, list[Finding]]:
        async with Transport(inventory.ssh) as transport:
            report = build_report(
                await run_runbook(transport, inventory, "lab", runbook, runbook.params())
            )
        out: dict[str, list[Finding]] = {}
        for finding in report.findings:
            out.setdefault(finding.code, []).append(finding)
        return out

    return asyncio.run(go())


def run_action(
    inventory: Inventory, name: str, params: dict[str, Any], lock_dir: Path, *, hook: Any = None
) -> ActionResult:
    """Plan, optionally let ``hook`` change the world, then execute the confirmed plan."""
    action = load_actions()[name]
    model = action.params.model_validate(params)

    async def go() -> ActionResult:
        async with Transport(inventory.ssh) as transport:
            plan = await plan_action(transport, inventory, "lab", action, model)
            if hook is not None:
                hook()
            return await execute(
                transport,
                inventory,
                "lab",
                action,
                model,
                confirmed=plan,
                actor="test",
                lock_dir=lock_dir,
                diagnose=findings_of,
            )

    return asyncio.run(go())


def test_s1_fix_by_finding_id_then_nothing_left(
    lab: Lab, inventory: Inventory, inventory_path: Path, tmp_path: Path
) -> None:
    lab.scenario("S1")
    (split,) = [
        f for f in diagnose_codes(inventory)["network.split"] if f.subject.container == BACKEND
    ]
    proc = stackbot("--config", str(inventory_path), "fix", "--finding", split.id, "lab")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"POST /networks/{INTERNAL}/connect" in proc.stdout
    assert "✔ applied" in proc.stdout and "✔ post-check" in proc.stdout
    assert "network.split" not in diagnose_codes(inventory)
    assert INTERNAL in lab.docker("h1").containers.get(BACKEND).attrs["NetworkSettings"]["Networks"]

    again = run_action(
        inventory,
        "network.connect",
        {"host": "h1", "container": BACKEND, "network": INTERNAL},
        tmp_path / "locks",
    )
    assert again.status == "nothing to do" and again.changed is False and again.plan.empty

    gone = stackbot("--config", str(inventory_path), "fix", "--finding", split.id, "lab")
    assert gone.returncode == 5 and "may be fixed already" in gone.stderr  # target gone


def test_plan_goes_stale_when_someone_fixed_it_by_hand(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    lab.scenario("S1")
    client = lab.docker("h1")

    def connect_by_hand() -> None:
        client.networks.get(INTERNAL).connect(BACKEND)

    with pytest.raises(PlanStale, match=r"networks.*nothing was run"):
        run_action(
            inventory,
            "network.connect",
            {"host": "h1", "container": BACKEND, "network": INTERNAL},
            tmp_path / "locks",
            hook=connect_by_hand,
        )


def test_plan_goes_stale_when_the_container_vanished(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    lab.scenario("S4")
    client = lab.docker("h1")

    def remove_backend() -> None:
        client.containers.get("hanna_backend_1").remove(force=True)

    with pytest.raises(PlanStale, match="absent"):
        run_action(
            inventory,
            "container.restart",
            {"host": "h1", "container": "hanna_backend_1"},
            tmp_path / "locks",
            hook=remove_backend,
        )
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("hanna_backend_1")


def test_destructive_fix_asks_first_then_applies_and_verifies(
    lab: Lab, inventory_path: Path, inventory: Inventory
) -> None:
    lab.scenario("S4")
    client = lab.docker("h1")
    args = ("--config", str(inventory_path), "fix", "container.restart", "lab")
    params = ("--param", "host=h1", "--param", "container=hanna_backend_1")

    unconfirmed = stackbot(*args, *params)
    assert unconfirmed.returncode == 5
    assert "rerun with --yes" in unconfirmed.stderr
    assert "POST /containers/hanna_backend_1/restart" in unconfirmed.stdout  # the plan was shown
    assert client.containers.get("hanna_backend_1").status == "exited"

    applied = stackbot(*args, *params, "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert client.containers.get("hanna_backend_1").status == "running"
    assert "post-check: no container.down" in applied.stdout
    nginx = client.containers.get("hanna_nginx_1")
    code, _ = nginx.exec_run(["getent", "hosts", "backend"])
    assert code == 0  # nginx resolves its upstream again (seed 003)

    again = stackbot(*args, *params, "--yes", "--format", "json")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


def test_second_action_on_the_environment_waits_or_is_refused(
    lab: Lab, inventory_path: Path, inventory: Inventory, tmp_path: Path
) -> None:
    lab.scenario("S1")
    assert inventory.data_dir is not None
    lock_dir = inventory.data_dir / "locks"  # where the CLI takes it too
    params = {"host": "h1", "container": BACKEND, "network": INTERNAL}

    async def held_then_refused() -> None:
        async with environment_lock(
            lock_dir, "lab", holder="alice", what="container.recreate on h1"
        ):
            action = load_actions()["network.connect"]
            model = action.params.model_validate(params)
            async with Transport(inventory.ssh) as transport:
                with pytest.raises(EnvironmentBusy, match=r"container\.recreate on h1 by alice"):
                    await execute(
                        transport, inventory, "lab", action, model,
                        confirmed=None, actor="bob", lock_dir=lock_dir, lock_wait=0.5,
                    )  # fmt: skip
            # another process is refused too, naming the holder
            proc = await asyncio.to_thread(
                stackbot, "--config", str(inventory_path), "fix", "network.connect", "lab",
                "--param", "host=h1", "--param", f"container={BACKEND}",
                "--param", f"network={INTERNAL}", "--wait", "1",
            )  # fmt: skip
            assert proc.returncode == 5 and "busy" in proc.stderr and "alice" in proc.stderr

    asyncio.run(held_then_refused())
    assert (
        INTERNAL
        not in lab.docker("h1").containers.get(BACKEND).attrs["NetworkSettings"]["Networks"]
    )

    async def waits_for_release() -> tuple[ActionResult, bool]:
        action = load_actions()["network.connect"]
        model = action.params.model_validate(params)
        released = asyncio.Event()

        async def alice() -> None:
            async with environment_lock(lock_dir, "lab", holder="alice", what="a short action"):
                await asyncio.sleep(0.5)
            released.set()

        holder = asyncio.create_task(alice())
        await asyncio.sleep(0.1)
        async with Transport(inventory.ssh) as transport:
            result = await execute(
                transport, inventory, "lab", action, model,
                confirmed=None, actor="bob", lock_dir=lock_dir, lock_wait=10,
            )  # fmt: skip
            ran_after_release = released.is_set()
        await holder
        return result, ran_after_release

    result, ran_after_release = asyncio.run(waits_for_release())
    assert ran_after_release  # bob waited for alice, then ran
    assert result.status == "applied" and result.changed


def test_bad_fix_input_is_one_line(inventory_path: Path) -> None:
    unknown = stackbot("--config", str(inventory_path), "fix", "network.conect", "lab")
    assert unknown.returncode == 2 and "unknown action 'network.conect'" in unknown.stderr
    bad = stackbot(
        "--config", str(inventory_path), "fix", "network.connect", "lab", "--param", "host=h1"
    )
    assert bad.returncode == 2 and "container: required key is missing" in bad.stderr
    nohost = stackbot(
        "--config", str(inventory_path), "fix", "network.connect", "lab",
        "--param", "host=h9", "--param", "container=x", "--param", "network=y",
    )  # fmt: skip
    assert nohost.returncode == 2 and "has no host 'h9'" in nohost.stderr
    for proc in (unknown, bad, nohost):
        assert "Traceback" not in proc.stderr


def test_read_only_fix_of_a_disk_finding_shows_the_disk_report(
    lab: Lab, inventory_path: Path
) -> None:
    ensure_scenario(lab, "S6")
    proc = stackbot("--config", str(inventory_path), "diagnose", "small", "--format", "json")
    (low,) = [
        f for f in json.loads(proc.stdout)["findings"]
        if f["code"] == "disk.low" and f["severity"] == "critical"
    ]  # fmt: skip
    fixed = stackbot("--config", str(inventory_path), "fix", "--finding", low["id"], "small")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "CRITICAL:" in fixed.stdout and "docker root" in fixed.stdout


def test_s3_connect_the_app_to_the_db_network(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    lab.scenario("S3")
    split = [
        f for f in diagnose_codes(inventory)["network.split"]
        if f.subject.container == "ventanas-test-app"
    ]  # fmt: skip
    (fix,) = split[0].fixes[:1]
    result = run_action(inventory, fix.action, dict(fix.params), tmp_path / "locks")
    assert result.status == "applied" and result.changed
    assert result.post_check is not None and result.post_check.cleared
    app = lab.docker("h1").containers.get("ventanas-test-app")
    ok, output = app.exec_run(["getent", "hosts", "ventanas-test-db"])
    assert ok == 0 and isinstance(output, bytes) and output.strip()  # it resolves its database
    again = run_action(inventory, fix.action, dict(fix.params), tmp_path / "locks")
    assert again.status == "nothing to do" and not again.changed


def test_a_fix_in_the_lab_leaves_its_whole_story_in_the_audit_trail(
    lab: Lab, inventory_path: Path
) -> None:
    lab.scenario("S1")
    args = ("--config", str(inventory_path))
    applied = stackbot(
        *args, "fix", "network.connect", "lab",
        "--param", "host=h1", "--param", f"container={BACKEND}", "--param", f"network={INTERNAL}",
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    listing = stackbot(*args, "audit", "export", "--format", "jsonl", "--action", "network.connect")
    assert listing.returncode == 0, listing.stderr
    rows = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
    (correlation,) = {row["correlation_id"] for row in rows}
    kinds = [row["kind"] for row in rows]
    assert kinds == [
        "requested", "authorised", "planned", "confirmed", "started", "finished", "post_checked",
    ]  # fmt: skip
    planned = next(row for row in rows if row["kind"] == "planned")
    assert f"POST /networks/{INTERNAL}/connect" in json.dumps(planned["details"])
    finished = next(row for row in rows if row["kind"] == "finished")
    assert finished["details"]["changed"] is True
    assert all(row["environment"] == "lab" and row["host"] == "h1" for row in rows[1:])
    story = stackbot(*args, "audit", "show", correlation[:8])  # as `audit list` shows it
    assert story.returncode == 0 and "post_checked" in story.stdout
    verify = stackbot(*args, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
