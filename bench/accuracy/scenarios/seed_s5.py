"""Seed 004: a staging deploy took production down (one compose dir, one .env).

The lab's S5: staging's ``up`` replaced production's compose containers; production was
restarted by hand with ``docker run``; then .env was edited and never applied.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "S5")


SCENARIO = Scenario(
    id="S5",
    title="seed 004: staging and production from one compose dir; .env edited, never applied",
    family="seed",
    environment="lab",
    seed="004_ac68c628d6dae2c0.txt",
    build=build,
    expect=Expect(
        required=(
            Required(code="env.drift", subject="filter-ical-backend-staging"),
            Required(code="env.drift", subject="filter-ical-db-staging"),
            Required(code="compose.project_mismatch", subject="production"),
        ),
        tolerated=("compose.env_collision",),
        forbidden=(
            "volume.orphaned_data",
            "db.missing",
        ),
    ),
)
