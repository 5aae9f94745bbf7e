"""Seed 000: the staging db recreated under a new project with an empty volume.

The lab's S1 (tests/lab/scenarios.py): project ``multivendor`` renamed to
``indexo-staging``; the new db container got a new, empty volume while
``multivendor_postgres_data`` (25 customers) sits unmounted; backend and db are on
different networks.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "S1")


SCENARIO = Scenario(
    id="S1",
    title="seed 000: project renamed, new empty db volume, data orphaned, networks split",
    family="seed",
    environment="lab",
    seed="000_11c094d2cc4c67ab.txt",
    build=build,
    expect=Expect(
        required=(
            Required(code="network.split", subject="indexo_backend_staging"),
            Required(code="volume.orphaned_data", subject="multivendor_postgres_data"),
        ),
        tolerated=(
            "db.empty",
            "container.unhealthy",
            "volume.project_prefixed",
        ),
        forbidden=(
            "db.missing",
            "volume.ephemeral_data",
        ),
    ),
)
