"""A bind mount's source file did not exist, so Docker made an empty directory there.

Project ``shop`` whose backend mounts ``./config/settings.json:/app/settings.json:ro``;
the deploy forgot to copy config/settings.json, so Docker created
``config/settings.json`` as an empty directory when it created the container: the app
finds a directory where its settings file should be.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import backend_service, shop
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    backend = backend_service(volumes=["./config/settings.json:/app/settings.json:ro"])
    shop(lab, services={"backend": backend})


SCENARIO = Scenario(
    id="bind-source-missing",
    title="./config/settings.json was missing: Docker bind-mounted an empty directory",
    family="config",
    build=build,
    expect=Expect(
        required=(Required(code="container.bind_source_missing", subject="backend"),),
        forbidden=("container.down", "env.file_missing", "compose.config_stale"),
    ),
)
