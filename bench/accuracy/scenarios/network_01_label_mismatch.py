"""A network left without compose's labels, so ``up`` fails.

Project ``shop`` was stopped for maintenance; its network ``shop_default`` was removed
and made again by hand (``docker network create shop_default``, to attach a debugging
container). Compose v2's next ``up`` refuses: "network shop_default was found but has
incorrect label com.docker.compose.network". The stack stays down.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import H1, compose, compose_fails, shop
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    d = shop(lab)
    compose(H1, d, "stop")
    client = lab.docker("h1")
    client.networks.get("shop_default").remove()
    client.networks.create("shop_default", driver="bridge")
    compose_fails(H1, d, "up", "-d", expect="incorrect label")


SCENARIO = Scenario(
    id="network-wrong-labels",
    title="shop_default recreated by hand without compose labels: up fails, the stack is down",
    family="network",
    build=build,
    expect=Expect(
        required=(Required(code="network.label_mismatch", subject="shop_default"),),
        # true: every service of shop is stopped, its database with it
        tolerated=("container.down", "db.unreachable"),
        forbidden=("network.split", "network.unresolvable_host", "compose.orphan_container"),
    ),
)
