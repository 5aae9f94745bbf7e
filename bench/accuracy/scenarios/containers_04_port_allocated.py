"""A recreate fails with "port is already allocated": a hand-run proxy took the port.

Project ``shop`` is healthy; nginx was stopped for maintenance, and meanwhile someone
ran a debug copy of the proxy by hand (``docker run -p 8080:80 --name proxy-debug``).
The next deploy recreated nginx: the new container was created but could not start
(``Bind for 0.0.0.0:8080 failed: port is already allocated``).
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import H1, compose, compose_fails, images, shop, shop_dir
from tests.lab.lab import Lab
from tests.lab.stack import run_container


def build(lab: Lab) -> None:
    d = shop(lab)
    compose(H1, d, "stop", "nginx")
    run_container(lab.docker("h1"), images.ref("nginx"), name="proxy-debug", ports={"80/tcp": 8080})
    compose_fails(
        H1, shop_dir(), "up", "-d", "--force-recreate", "--no-deps", "nginx",
        expect="port is already allocated",
    )  # fmt: skip


SCENARIO = Scenario(
    id="port-allocated-after-recreate",
    title='nginx recreated but not started: "port is already allocated" (a debug proxy)',
    family="containers",
    build=build,
    expect=Expect(
        required=(Required(code="container.port_allocated", subject="nginx"),),
        # all true: nginx is down, a hand-run container publishes its port
        tolerated=("container.down", "compose.port_collision", "compose.project_mismatch"),
        forbidden=("network.split", "dns.resolution_failed"),
    ),
)
