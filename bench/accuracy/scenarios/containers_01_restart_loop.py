"""A worker in a restart loop: it needs REDIS_URL, which its environment lacks.

Project ``shop`` (the lab's healthy stack) plus a ``worker`` service (restart
unless-stopped) whose program reads ``os.environ["REDIS_URL"]`` at start: the deploy's
.env never got that key, so it dies with a KeyError and Docker restarts it, again and
again. The build waits until Docker has restarted it three times.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import attrs, backend_service, cname, shop, wait_until
from tests.lab.lab import Lab

WORKER = (
    "import os, sys\n"
    "print('worker: connecting to the queue', flush=True)\n"
    "url = os.environ['REDIS_URL']\n"
)


def build(lab: Lab) -> None:
    worker = backend_service(
        depends_on_db=True, command=["python3", "-c", WORKER], healthcheck={"disable": True}
    )
    shop(lab, extra={"worker": worker})
    name = cname("shop", "worker")
    wait_until(f"{name} restarted 3 times", lambda: attrs(lab, name)["RestartCount"] >= 3)


SCENARIO = Scenario(
    id="restart-loop-missing-env",
    title="a worker restarts in a loop: REDIS_URL is missing from its environment",
    family="containers",
    build=build,
    expect=Expect(
        required=(Required(code="container.restarting", subject="worker"),),
        tolerated=("env.missing_required", "container.down"),
        forbidden=("container.oom_killed", "db.unreachable", "container.unhealthy"),
    ),
)
