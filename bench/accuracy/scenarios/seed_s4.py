"""Seed 003: nginx cannot resolve the stopped backend; migrations never ran.

The lab's S4: ``hanna``'s backend was stopped (``compose stop``), so nginx logs
``backend could not be resolved``; database ``hanna`` exists with no tables.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "S4")


SCENARIO = Scenario(
    id="S4",
    title="seed 003: nginx cannot resolve the stopped backend; migrations never ran",
    family="seed",
    environment="lab",
    seed="003_3fdc45080e43865e.txt",
    build=build,
    expect=Expect(
        required=(
            Required(code="dns.resolution_failed", subject="hanna"),
            Required(code="db.empty", subject="hanna"),
            Required(code="container.down", subject="backend"),
        ),
        tolerated=(
            "volume.project_prefixed",
            "network.unresolvable_host",
        ),
        forbidden=(
            "db.missing",
            "volume.orphaned_data",
        ),
    ),
)
