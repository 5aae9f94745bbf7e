"""Healthy, with a trap: a second compose file, docker-compose.override.yml.

Project ``shop`` deployed with the base file and compose's automatic
``docker-compose.override.yml`` (backend ``LOG_LEVEL=debug``, nginx on 8081 as well).
Both files were applied: the running containers are what the two files say together,
so nothing is stale.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import H1, compose, shop, shop_dir
from tests.lab.lab import Lab
from tests.lab.stack import write_compose


def build(lab: Lab) -> None:
    d = shop(lab, up=False)
    override = {
        "services": {
            "backend": {"environment": {"LOG_LEVEL": "debug"}},
            "nginx": {"ports": ["8081:80"]},
        }
    }
    write_compose(shop_dir(), override, "docker-compose.override.yml")
    compose(H1, d, "up", "-d")
    from tests.lab.corpus_builders import cname, exec_in, wait_running

    wait_running(lab, cname("shop", "backend"))
    exec_in(lab.docker("h1"), cname("shop", "backend"), ["python3", "/app/manage.py", "migrate"])


SCENARIO = Scenario(
    id="healthy-override-file",
    title="healthy; trap: deployed with docker-compose.yml + docker-compose.override.yml",
    family="healthy",
    build=build,
    expect=Expect(forbidden=("compose.config_stale", "env.drift", "compose.port_collision")),
)
