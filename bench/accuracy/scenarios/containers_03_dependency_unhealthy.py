"""The database never turns healthy, so its dependants are never started.

Project ``shop`` where the db service runs ``postgres -c port=5433`` (a port change
made in one place only): its health check (``pg_isready -h 127.0.0.1``, port 5432)
fails, compose's ``up`` gives up ("dependency failed to start: ... is unhealthy"),
and backend (``depends_on: db: service_healthy``) and nginx stay ``created``, never
started.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import (
    H1,
    cname,
    compose_fails,
    db_service,
    shop,
    shop_dir,
    wait_until,
)
from tests.lab.lab import Lab
from tests.lab.stack import health


def build(lab: Lab) -> None:
    db = db_service(command=["postgres", "-c", "port=5433"])
    db["healthcheck"] = {**db["healthcheck"], "retries": 3}
    shop(lab, services={"db": db}, up=False)
    compose_fails(H1, shop_dir(), "up", "-d", expect="unhealthy")
    client = lab.docker("h1")
    wait_until("db unhealthy", lambda: health(client, cname("shop", "db")) == "unhealthy")


SCENARIO = Scenario(
    id="dependency-unhealthy",
    title="the db never turns healthy, so backend and nginx are never started",
    family="containers",
    build=build,
    expect=Expect(
        required=(
            Required(code="container.unhealthy", subject="db"),
            Required(code="container.down", subject="backend"),
            Required(code="container.down", subject="nginx"),
        ),
        # the app's database really does not answer on the port the app uses
        tolerated=("db.unreachable",),
        forbidden=("container.port_allocated", "container.oom_killed", "db.missing"),
    ),
)
