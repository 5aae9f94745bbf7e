"""Postgres out of connections: a reporting job leaks them until none is left.

Project ``shop`` with ``max_connections=20`` on its db, plus a ``reports`` service that
opens a connection per report and never closes it (a leak): it holds every slot.
The backend's health check, and anything else that connects, gets "sorry, too many
clients already".
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import backend_service, cname, db_service, shop, wait_until
from tests.lab.lab import Lab
from tests.lab.stack import health

LEAK = (
    "import time, db\n"
    "held = []\n"
    "while True:\n"
    "    try:\n"
    "        held.append(db.connect())\n"
    "        print(f'reports: report {len(held)} started', flush=True)\n"
    "    except Exception as exc:\n"
    "        print(f'reports: {exc}'.strip(), flush=True)\n"
    "        time.sleep(5)\n"
)


def build(lab: Lab) -> None:
    db = db_service(command=["postgres", "-c", "max_connections=20"])
    reports = backend_service(command=["python3", "-c", LEAK], healthcheck={"disable": True})
    shop(lab, services={"db": db})  # migrated first, while slots are free
    shop(lab, services={"db": db}, extra={"reports": reports}, migrate=False)
    client = lab.docker("h1")
    wait_until(
        "backend unhealthy (no connection left)",
        lambda: health(client, cname("shop", "backend")) == "unhealthy",
    )


SCENARIO = Scenario(
    id="postgres-out-of-connections",
    title="a leaking reports job holds all 20 of Postgres's connections",
    family="database",
    build=build,
    expect=Expect(
        required=(Required(code="db.connections_exhausted", subject="shop"),),
        tolerated=("container.unhealthy",),
        # the server is up and refuses for want of slots: not unreachable, not missing
        forbidden=("db.unreachable", "db.missing", "db.empty"),
    ),
)
