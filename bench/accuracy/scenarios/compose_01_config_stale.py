"""A compose file edited on the host and never applied.

Project ``shop`` is healthy; then a deploy edited docker-compose.yml (backend gets
``FEATURE_FLAGS=new-checkout`` in ``environment:``) and nobody ran ``up``: the running
backend is not what the file describes.
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
    id="compose-edited-not-applied",
    title="docker-compose.yml edited (backend environment), never applied with up",
    family="compose",
    build=build,
    expect=Expect(
        required=(Required(code="compose.config_stale", subject="backend"),),
        forbidden=("env.drift", "container.down", "compose.orphan_container"),
    ),
)
