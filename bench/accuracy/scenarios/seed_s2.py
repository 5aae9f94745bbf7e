"""Seed 001: the app's database vanished overnight.

The lab's S2: project ``shop`` healthy, then ``DROP DATABASE shop``: Postgres answers,
the backend's health check fails with ``database "shop" does not exist`` (3D000).
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "S2")


SCENARIO = Scenario(
    id="S2",
    title="seed 001: the app's database vanished overnight (3D000)",
    family="seed",
    environment="lab",
    seed="001_102ac80cae658f17.txt",
    build=build,
    expect=Expect(
        required=(Required(code="db.missing", subject="shop"),),
        tolerated=("container.unhealthy",),
        forbidden=(
            "db.empty",
            "volume.orphaned_data",
            "db.unreachable",
        ),
    ),
)
