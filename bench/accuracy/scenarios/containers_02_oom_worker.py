"""An import worker killed for lack of memory (its 64 MiB limit), and left down.

Project ``shop`` plus an ``importer`` service with ``mem_limit: 64m`` and restart
``no``: it reads a batch into memory (256 MiB of it) and the kernel's OOM killer ends it
(exit 137, ``State.OOMKilled``). Nothing restarts it.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import attrs, backend_service, cname, shop, wait_until
from tests.lab.lab import Lab

IMPORTER = (
    "print('importer: loading batch 2026-12-01 into memory', flush=True)\n"
    "rows = []\n"
    "for i in range(256):\n"
    "    rows.append(bytearray(1024 * 1024))\n"
)


def build(lab: Lab) -> None:
    importer = backend_service(
        command=["python3", "-c", IMPORTER],
        healthcheck={"disable": True},
        restart="no",
        mem_limit="64m",
        memswap_limit="64m",
    )
    shop(lab, extra={"importer": importer})
    name = cname("shop", "importer")
    wait_until(f"{name} OOM-killed", lambda: attrs(lab, name)["State"]["OOMKilled"] is True)


SCENARIO = Scenario(
    id="oom-killed-worker",
    title="an import worker was OOM-killed at its 64 MiB limit and stays down",
    family="containers",
    build=build,
    expect=Expect(
        required=(
            Required(code="container.oom_killed", subject="importer"),
            Required(code="container.down", subject="importer"),
        ),
        tolerated=(),
        forbidden=("container.restarting", "host.memory_pressure", "db.unreachable"),
    ),
)
