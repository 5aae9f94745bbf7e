"""Compose v2 beside v1: the compose each host has, detected and named; a host without
compose judged without it; container.recreate under v2; compose.config_stale under
both. (S1-S6 diagnosed the same under both: tests/integration/test_demo.py builds them
with v2, test_diagnose.py with v1, and both compare with scenario_codes.py.)"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.framework.action import ActionResult, Plan
from bot.framework.engine import run_runbook
from bot.framework.executor import execute, plan_action
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import build_report
from bot.model.findings import Finding
from bot.transport import Transport
from runbooks import load_runbook
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from runbooks.fix_container_recreate import ACTION
from tests.integration.inventories import lab_host, write_inventory
from tests.lab import compose_tools
from tests.lab.config import H1, STACKS_DIR
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab


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
def restore_h1_compose(lab: Lab) -> Iterator[None]:
    yield
    compose_tools.set_host_compose(H1, compose_tools.kinds_for(compose_tools.flavor()))
    lab.last_scenario = None


def report_of(inventory: Inventory, env: str) -> Any:
    runbook = load_runbook("diagnose")

    async def go() -> Any:
        async with Transport(inventory.ssh) as transport:
            outcome = await run_runbook(transport, inventory, env, runbook, runbook.params())
        return build_report(outcome)

    return asyncio.run(go())


async def findings_of(session: HostSession) -> list[Finding]:
    return judge(await gather_facts(session, deadline=60)).findings


def codes(report: Any) -> list[tuple[str, str]]:
    """(code, severity) of every finding, each once: what must not depend on compose."""
    return sorted({(f.code, str(f.severity)) for f in report.findings})


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (("plugin",), f"compose: docker compose {compose_tools.V2_VERSION} (v2 plugin)"),
        (("v2",), f"compose: docker-compose {compose_tools.V2_VERSION} (v2 standalone)"),
        (("v1",), "compose: docker-compose 1.29.2 (v1 standalone)"),
        (("plugin", "v1"), f"compose: docker compose {compose_tools.V2_VERSION} (v2 plugin)"),
        ((), "compose: none"),
    ],
)
def test_each_host_says_which_compose_it_has_and_it_is_used(
    lab: Lab, inventory_path: Path, restore_h1_compose: None, kinds: tuple[str, ...], expected: str
) -> None:
    lab.scenario("S3", "v2")  # its orphans are found only from the compose file
    compose_tools.set_host_compose(H1, kinds)
    check = stackbot("--config", str(inventory_path), "check-config", "--connect", "--env", "lab")
    assert check.returncode == 0, check.stdout + check.stderr
    assert expected in check.stdout, check.stdout
    report = report_of(load_inventory(inventory_path), "lab")
    found = {f.code for f in report.findings}
    notes = report.hosts[0].notes
    if kinds:
        assert "compose.orphan_container" in found, codes(report)
        assert not any("could not list" in n for n in notes), notes
    else:  # no compose: a note, and nothing judged from the compose file
        assert "compose.orphan_container" not in found
        assert any("neither `docker compose` (v2) nor `docker-compose` (v1)" in n for n in notes)
        assert "network.split" in found  # the rest of the diagnosis is whole


PROD = ("filter-ical-db-production", "filter-ical-backend-production")
STAGING_BACKEND = "filter-ical-backend-staging"


def test_recreate_under_v2_reloads_staging_and_puts_back_one_that_cannot_start(
    lab: Lab, inventory_path: Path, tmp_path: Path
) -> None:
    """Seed 004's class under v2: staging recreated from its own env file (compose's dry
    run in the plan), production untouched; a recreate that cannot start (staging asks
    for production's port) leaves the previous staging container running, and says so."""
    lab.scenario("S5", "v2")
    lab.last_scenario = None  # changed below
    inventory = load_inventory(inventory_path)
    client = lab.docker("h1")

    def ids(*names: str) -> dict[str, str]:
        return {n: str(client.containers.get(n).id) for n in names}

    def env_of(name: str) -> dict[str, str]:
        raw = client.containers.get(name).attrs["Config"]["Env"] or []
        return dict(item.partition("=")[::2] for item in raw)

    prod = ids(*PROD)
    prod_env = {name: env_of(name) for name in PROD}
    (drift,) = [
        f
        for f in report_of(inventory, "lab").findings
        if f.code == "env.drift" and f.subject.container == STAGING_BACKEND
    ]
    params = ACTION.params.model_validate({**drift.fixes[0].params, "settle": 5})
    env_file = str(STACKS_DIR / "filter-ical" / ".env")

    def plan() -> Plan:
        async def go() -> Plan:
            async with Transport(inventory.ssh) as transport:
                return await plan_action(transport, inventory, "lab", ACTION, params)

        return asyncio.run(go())

    def apply(confirmed: Plan) -> ActionResult:
        async def go() -> ActionResult:
            async with Transport(inventory.ssh) as transport:
                return await execute(
                    transport, inventory, "lab", ACTION, params, confirmed=confirmed,
                    actor="test", lock_dir=tmp_path, diagnose=findings_of,
                )  # fmt: skip

        return asyncio.run(go())

    first = plan()
    argv = shlex.split(first.steps[0].call)
    assert argv[argv.index("--env-file") + 1] == env_file and argv[2:4] == ["docker", "compose"]
    assert argv[-2:] == ["--", "backend"] and "-y" not in argv
    assert any("compose's own dry run" in note and STAGING_BACKEND in note for note in first.notes)
    done = apply(first)
    assert done.status == "applied", done
    assert done.post_check is not None and done.post_check.cleared
    assert "stayed up" in done.outcomes[0].detail
    assert env_of(STAGING_BACKEND)["LOG_LEVEL"] == "debug"
    assert ids(*PROD) == prod and {n: env_of(n) for n in PROD} == prod_env

    before = ids(STAGING_BACKEND)
    path = Path(env_file)
    path.write_text(path.read_text().replace("BACKEND_PORT=8002", "BACKEND_PORT=8001"))
    # as an on-call engineer runs it: the terminal says it failed and what it left
    cli = stackbot(
        "--config", str(inventory_path), "fix", "container.recreate", "lab", "--yes",
        *(f"--param={k}={v}" for k, v in {**drift.fixes[0].params, "settle": 5}.items()),
    )  # fmt: skip
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "✘ failed" in cli.stdout and "rolled back" in cli.stdout, cli.stdout
    assert "not fixed" in cli.stdout and "post-check" not in cli.stdout, cli.stdout
    staging = client.containers.get(STAGING_BACKEND)
    assert staging.status == "running" and staging.id != before[STAGING_BACKEND]  # the copy
    assert staging.attrs["HostConfig"]["PortBindings"]["8000/tcp"][0]["HostPort"] == "8002"
    assert env_of(STAGING_BACKEND)["LOG_LEVEL"] == "debug"  # the environment it had
    assert ids(*PROD) == prod
    leftovers = [c.name for c in client.containers.list(all=True) if "rollback" in (c.name or "")]
    assert leftovers == []


@pytest.mark.parametrize("which", ["v2", "v1"])
def test_a_compose_file_edited_after_up_is_config_stale(
    lab: Lab, inventory_path: Path, which: str
) -> None:
    lab.scenario("healthy", which)
    lab.last_scenario = None  # edited below
    inventory = load_inventory(inventory_path)
    assert "compose.config_stale" not in {f.code for f in report_of(inventory, "lab").findings}
    path = STACKS_DIR / "shop" / "docker-compose.yml"
    spec = yaml.safe_load(path.read_text())
    spec["services"]["nginx"].setdefault("environment", {})["NGINX_WORKERS"] = "4"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    nginx = "shop-nginx-1" if which == "v2" else "shop_nginx_1"
    client = lab.docker("h1")
    before = client.containers.get(nginx)
    report = report_of(inventory, "lab")
    stale = [f for f in report.findings if f.code == "compose.config_stale"]
    assert [f.subject.container for f in stale] == [nginx], codes(report)
    assert ("dry run" if which == "v2" else "config --hash") in str(stale[0].evidence["seen_by"])
    # the diagnosis changed nothing (compose#14029: a dry run that recreated for real):
    # the same container, still running, and still stale when diagnosed again
    after = client.containers.get(nginx)
    assert (after.id, after.status) == (before.id, "running")
    assert after.attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]
    again = report_of(inventory, "lab")
    assert [f.subject.container for f in again.findings if f.code == "compose.config_stale"] == [
        nginx
    ]
