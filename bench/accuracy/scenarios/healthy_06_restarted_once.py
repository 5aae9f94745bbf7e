"""Healthy, with a trap: a worker that crashed once at start and has run since.

Project ``shop`` plus a ``worker`` (restart unless-stopped) whose first start failed
(its cache was not warm: exit 1) and whose second has been running since: restart
count 1, running. A single restart is not a restart loop.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import attrs, backend_service, cname, shop, wait_until
from tests.lab.lab import Lab

WORKER = (
    "import os, sys, time\n"
    "if not os.path.exists('/tmp/.warm'):\n"
    "    open('/tmp/.warm', 'w').close()\n"
    "    print('worker: cache not warm yet, exiting', flush=True)\n"
    "    sys.exit(1)\n"
    "while True:\n"
    "    time.sleep(5)\n"
)


def build(lab: Lab) -> None:
    worker = backend_service(command=["python3", "-c", WORKER], healthcheck={"disable": True})
    shop(lab, extra={"worker": worker})
    name = cname("shop", "worker")

    def once() -> bool:
        a = attrs(lab, name)
        return bool(a["RestartCount"] == 1 and a["State"]["Status"] == "running")

    wait_until(f"{name} running after one restart", once)


SCENARIO = Scenario(
    id="healthy-restarted-once",
    title="healthy; trap: a worker restarted once at start, running since",
    family="healthy",
    build=build,
    expect=Expect(forbidden=("container.restarting", "container.down")),
)
