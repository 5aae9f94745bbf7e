"""`scripts/demo SN`, as a new user runs it: each ends on the diagnosis that shows its
seed's incident (README's lab section says which seed file each SN reproduces). The
demo builds its scenario with Compose v2 (the hosts get the `docker compose` plugin),
and its diagnosis has exactly the codes the v1 diagnosis tests have
(tests/integration/scenario_codes.py): S1-S6 are diagnosed the same under both."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.scenario_codes import SCENARIO_CODES, comparable
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]

SEED_CODES = {
    "S1": ("network.split", "volume.orphaned_data", "db.empty"),  # seed 000
    "S2": ("db.missing",),  # seed 001
    "S3": ("network.split", "compose.orphan_container"),  # seed 002
    "S4": ("container.down", "dns.resolution_failed", "db.empty"),  # seed 003
    "S5": ("compose.env_collision", "env.drift"),  # seed 004
    "S6": ("disk.low", "disk.inodes_low"),  # the full disk
}


@pytest.mark.parametrize("scenario", sorted(SEED_CODES))
def test_the_demo_ends_on_its_seed_incident(lab: Lab, scenario: str) -> None:
    try:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "demo"), scenario],
            cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
            env={**os.environ, "STACKBOT_LAB_COMPOSE": "v2"},  # the demo's own default
        )  # fmt: skip
    finally:
        lab.last_scenario = None  # the demo rebuilt the hosts behind this process's back
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = "small" if scenario == "S6" else "lab"
    assert f"its incident is in environment '{env}'" in proc.stdout
    diagnosis = proc.stdout.split(f"$ stackbot diagnose {env}\n", 1)[-1]
    assert diagnosis != proc.stdout, proc.stdout[-3000:]
    assert " CRITICAL " in diagnosis.splitlines()[0]
    for code in SEED_CODES[scenario]:
        assert f"● {code} " in diagnosis, (code, diagnosis[:3000])
    assert "Warning" not in proc.stdout + proc.stderr  # no library warning on the way
    assert "compose v2" in proc.stderr  # built with Compose v2
    found = comparable(re.findall(r"● ([a-z_]+\.[a-z_]+) ", diagnosis))
    assert found == SCENARIO_CODES[scenario], sorted(found ^ SCENARIO_CODES[scenario])
