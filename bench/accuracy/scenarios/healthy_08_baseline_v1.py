"""Healthy under Compose v1: the lab's healthy shop, built and read with v1 1.29.

v1 names containers ``shop_db_1``, writes relative ``config_files`` labels and has no
dry run (``config --hash`` instead): none of it may read as a problem.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "healthy")


SCENARIO = Scenario(
    id="healthy-baseline-v1",
    title="the lab's healthy shop under Compose v1",
    family="healthy",
    compose="v1",
    build=build,
    expect=Expect(forbidden=("compose.config_stale", "env.drift")),
)
