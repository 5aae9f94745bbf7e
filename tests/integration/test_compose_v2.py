"""Compose v2 beside v1: every scenario diagnosed the same under both, the compose each
host has detected and named, and a host without compose judged without it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Inventory, load_inventory
from bot.diagnosis import build_report
from bot.engine import run_runbook
from bot.transport import Transport
from runbooks import load_runbook
from tests.integration.inventories import lab_host, write_inventory
from tests.lab import compose_tools
from tests.lab.config import H1
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab
SCENARIOS = {"S1": "lab", "S2": "lab", "S3": "lab", "S4": "lab", "S5": "lab", "S6": "small"}


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


def codes(report: Any) -> list[tuple[str, str]]:
    """(code, severity) of every finding, each once: what must not depend on compose."""
    return sorted({(f.code, str(f.severity)) for f in report.findings})


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_is_diagnosed_the_same_under_v2_and_v1(
    lab: Lab, inventory_path: Path, scenario: str
) -> None:
    inventory = load_inventory(inventory_path)
    env = SCENARIOS[scenario]
    seen: dict[str, Any] = {}
    try:
        for which in ("v2", "v1"):
            info = lab.scenario(scenario, which)
            if info.host == "h1" and scenario != "S6":
                labels = lab.docker("h1").containers.list(all=True)[0].labels
                version = labels.get("com.docker.compose.version", "")
                assert version.startswith("2." if which == "v2" else "1."), (which, version)
            seen[which] = report_of(inventory, env)
    finally:
        lab.last_scenario = None
    v2, v1 = seen["v2"], seen["v1"]
    assert codes(v2) == codes(v1), (scenario, codes(v2), codes(v1))
    assert v2.verdict == v1.verdict == "critical"
    for report in (v2, v1):  # the service list was read (no note), ${VAR}s included
        assert not any("could not list" in n for h in report.hosts for n in h.notes), report.hosts


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
