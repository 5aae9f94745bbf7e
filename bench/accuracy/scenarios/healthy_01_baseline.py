"""the lab's healthy shop: db, backend, nginx, migrated, env applied"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "healthy")


SCENARIO = Scenario(
    id="healthy-baseline",
    title="the lab's healthy shop: db, backend, nginx, migrated, env applied",
    family="healthy",
    environment="lab",
    seed=None,
    build=build,
    expect=Expect(
        tolerated=(
            "compose.no_healthcheck",
            "volume.unused",
        ),
        forbidden=(),
    ),
)
