"""A compose file edited on the host and never applied, under Compose v1.

As compose-edited-not-applied (backend gets ``FEATURE_FLAGS=new-checkout`` in the file,
no ``up``), built and read with Compose v1 1.29: v1 has no dry run, so the diagnosis
compares ``config --hash=backend`` with the container's config-hash label.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import backend_service, shop
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    shop(lab)
    edited = backend_service(environment={"FEATURE_FLAGS": "new-checkout"})
    shop(lab, services={"backend": edited}, up=False)  # rewrites the file only


SCENARIO = Scenario(
    id="compose-edited-not-applied-v1",
    title="docker-compose.yml edited, never applied, under Compose v1 (config --hash)",
    family="compose",
    compose="v1",
    build=build,
    expect=Expect(
        required=(Required(code="compose.config_stale", subject="backend"),),
        forbidden=("env.drift", "container.down", "compose.orphan_container"),
    ),
)
