"""Healthy, with a trap: services without a health check that are fine.

Project ``shop`` plus a ``worker`` (a loop that logs a heartbeat) and ``redis``, neither
with a health check: nothing to wait on, nothing wrong.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import backend_service, images, shop
from tests.lab.lab import Lab

WORKER = (
    "import time\n"
    "while True:\n"
    "    print('worker: queue empty, sleeping', flush=True)\n"
    "    time.sleep(5)\n"
)


def build(lab: Lab) -> None:
    worker = backend_service(command=["python3", "-c", WORKER], healthcheck={"disable": True})
    redis = {"image": images.ref("redis"), "restart": "unless-stopped"}
    shop(lab, extra={"worker": worker, "redis": redis})


SCENARIO = Scenario(
    id="healthy-no-healthcheck",
    title="healthy; trap: a worker and redis run without health checks",
    family="healthy",
    build=build,
    expect=Expect(forbidden=("container.unhealthy", "container.down")),
)
