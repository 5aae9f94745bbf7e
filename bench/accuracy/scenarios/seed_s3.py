"""Seed 002: app on the default network, db and redis orphaned on another.

The lab's S3: the compose file was cut down to ``app`` and ``up`` ran without
``--remove-orphans``; the app's DATABASE_URL names the db container, not its service.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "S3")


SCENARIO = Scenario(
    id="S3",
    title="seed 002: app on one network, db and redis orphaned on another, URL names the container",
    family="seed",
    environment="lab",
    seed="002_927f202b09f4bdfc.txt",
    build=build,
    expect=Expect(
        required=(
            Required(code="network.split", subject="ventanas-test-app"),
            Required(code="network.container_name_reference", subject="ventanas-test-app"),
            Required(code="compose.orphan_container", subject="ventanas-test-db"),
            Required(code="compose.orphan_container", subject="ventanas-test-redis"),
        ),
        tolerated=(
            "container.unhealthy",
            "volume.project_prefixed",
        ),
        forbidden=(
            "volume.orphaned_data",
            "db.missing",
        ),
    ),
)
