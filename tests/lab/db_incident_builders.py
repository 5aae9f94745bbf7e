"""Lab states for three database incidents, on h1, each a variant of the healthy ``shop``.

Every builder takes the running ``Lab`` (h1 already reset, as ``built`` or the accuracy
corpus's ``prepared`` leaves it), builds its state with the compose ``stack.CURRENT``
names, and returns a ``ScenarioInfo`` whose docstring-listed names the tests assert on.
Project ``shop`` in /run/stackbot-lab/stacks/shop: containers ``shop-db-1`` (v2 names;
``shop_db_1`` under v1), ``shop-backend-1``, on ``shop_default``; DATABASE_URL
postgresql://shop:pw-planted-4e1d@db:5432/shop (``shop`` is the cluster's superuser, as
with the official image); all migrations applied unless said otherwise.

- ``db_connections_exhausted(lab)``: max_connections 20 (3 reserved for superusers);
  service ``worker`` (``shop-worker-1``, application_name ``leaky-worker``) holds 17
  idle connections: every slot a role without superuser gets.
- ``db_connections_refused(lab)``: the same worker holds all 20: the server answers
  ``sorry, too many clients already`` to everyone, stackbot and the backend included
  (``shop-backend-1`` turns unhealthy).
- ``db_lock_blocking(lab)``: migration 0003 undone (column ``orders.status`` dropped);
  a session ``report-job`` (psql in ``shop-db-1``) sits idle in a transaction that read
  ``orders``; ``manage.py migrate`` (application_name ``migrate``) runs in
  ``shop-backend-1`` and waits for its lock on ``orders`` (``ALTER TABLE``) for at
  least ``LOCK_WAIT`` seconds.
- ``db_volume_nearly_full(lab, percent=93.0)``: the data volume ``shop_postgres_data``
  is a 64 MiB tmpfs (``driver_opts: type=tmpfs, device=tmpfs, o=size=64m``); a dump
  left in it by the database container (``/var/lib/postgresql/data/leftover.dump``,
  written as user postgres) fills it to ``percent`` % (97 and above: critical).

``built(lab, builder)`` runs one under the lab's lock after resetting the hosts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import compose_tools, images, scenarios, stack
from .config import H1, H2, PLANTED_PASSWORD, STACKS_DIR
from .lab import Lab, lab_lock
from .scenarios import ScenarioInfo
from .stack import (
    backend_service,
    cname,
    compose,
    db_service,
    exec_in,
    shop_env,
    wait_health,
    wait_no_starting,
    write_compose,
    write_env,
)
from .util import LabError, log, step

__all__ = [
    "LOCK_WAIT",
    "built",
    "db_connections_exhausted",
    "db_connections_refused",
    "db_lock_blocking",
    "db_volume_nearly_full",
]

PROJECT = "shop"
MAX_CONNECTIONS = 20
RESERVED = 3  # superuser_reserved_connections' default
LOCK_WAIT = 12  # seconds the migration has waited when the builder returns (> the 10 s rule)
WORKER_APP = "leaky-worker"
BLOCKER_APP = "report-job"
DUMP = "/var/lib/postgresql/data/leftover.dump"

# Holds HOLD connections open as the app (retrying while the server is full), then
# marks /tmp/holding and sleeps: a connection leak frozen in place.
_WORKER = """
import os, time, psycopg2
want = int(os.environ["HOLD"])
held = []
while len(held) < want:
    try:
        held.append(psycopg2.connect(os.environ["DATABASE_URL"], application_name="APP"))
    except psycopg2.OperationalError:
        time.sleep(0.2)
open("/tmp/holding", "w").write(str(len(held)))
while True:
    time.sleep(3600)
""".replace("APP", WORKER_APP)


@contextlib.contextmanager
def _held(lab: Lab) -> Iterator[scenarios.Ctx]:
    with lab_lock():
        ctx = scenarios.Ctx(h1=lab.docker("h1"), h2=lab.docker("h2"))
        scenarios.reset(ctx)
        flavor = compose_tools.flavor()
        stack.CURRENT[0] = flavor
        for host in (H1, H2):
            compose_tools.set_host_compose(host, compose_tools.kinds_for(flavor))
        lab.last_scenario = None  # whatever a test built before is gone
        yield ctx
        wait_no_starting(ctx.h1)


def built(lab: Lab, builder: Callable[[Lab], ScenarioInfo]) -> ScenarioInfo:
    """Reset both hosts and build ``builder``'s state, under the lab's lock."""
    with _held(lab):
        return builder(lab)


def _shop(
    lab: Lab,
    *,
    db: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    volume: Mapping[str, Any] | None = None,
) -> None:
    """The healthy shop (db + backend), ``db`` merged into the db service: up, healthy,
    migrated; then the ``extra`` services are added and started."""
    d = STACKS_DIR / PROJECT
    write_env(d, shop_env(PROJECT, PLANTED_PASSWORD, PROJECT))
    health = {**db_service()["healthcheck"], "start_period": "120s"}  # a loaded machine
    services: dict[str, Any] = {
        "db": db_service(healthcheck=health, **dict(db or {})),
        "backend": backend_service(),
        **dict(extra or {}),
    }
    write_compose(
        d,
        {
            "services": services,
            "volumes": {"postgres_data": {"name": f"{PROJECT}_postgres_data", **(volume or {})}},
        },
    )
    compose(H1, d, "up", "-d", "db", "backend")
    wait_health(lab.docker("h1"), {_c("db"): "healthy", _c("backend"): "healthy"}, timeout=120)
    exec_in(lab.docker("h1"), _c("backend"), ["python3", "/app/manage.py", "migrate"])
    if extra:  # after the migration: a worker holding every connection would stop it
        compose(H1, d, "up", "-d", *extra)


def _c(service: str) -> str:
    return cname(PROJECT, service)


def _psql(lab: Lab, sql: str) -> str:
    return scenarios.psql(scenarios.Ctx(h1=lab.docker("h1"), h2=lab.docker("h2")), _c("db"),
                          PROJECT, PROJECT, sql).strip()  # fmt: skip


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def _info(name: str, containers: tuple[str, ...], **facts: str) -> ScenarioInfo:
    return ScenarioInfo(
        name=name,
        host="h1",
        projects=(PROJECT,),
        stack_dirs=(str(STACKS_DIR / PROJECT),),
        containers=containers,
        networks=(f"{PROJECT}_default",),
        volumes=(f"{PROJECT}_postgres_data",),
        facts={"database": PROJECT, "db_user": PROJECT, **facts},
        compose=stack.CURRENT[0],
    )


# ---------------------------------------------------------------- connections


def _leaky(lab: Lab, hold: int) -> None:
    worker = {
        "image": images.ref("backend"),
        "env_file": [".env"],
        "environment": {"HOLD": str(hold)},
        "command": ["python3", "-c", _WORKER],
        "depends_on": {"db": {"condition": "service_healthy"}},
        "restart": "unless-stopped",
    }
    command = ["postgres", "-c", f"max_connections={MAX_CONNECTIONS}"]
    _shop(lab, db={"command": command}, extra={"worker": worker})
    client = lab.docker("h1")
    with step(f"{_c('worker')} holds {hold} connections"):
        _wait(
            f"{_c('worker')} to hold {hold} connections",
            lambda: exec_in(client, _c("worker"), ["cat", "/tmp/holding"], check=False)[0] == 0,
        )


def db_connections_exhausted(lab: Lab) -> ScenarioInfo:
    """Every slot a role without superuser gets is held by ``leaky-worker`` (17 of 20)."""
    hold = MAX_CONNECTIONS - RESERVED
    _leaky(lab, hold)
    got = _psql(
        lab, "select count(*) from pg_stat_activity where application_name = 'leaky-worker'"
    )
    if got != str(hold):
        raise LabError(f"{WORKER_APP} holds {got} connections, expected {hold}")
    return _info(
        "db_connections_exhausted",
        (_c("db"), _c("backend"), _c("worker")),
        holder=_c("worker"),
        application_name=WORKER_APP,
        max_connections=str(MAX_CONNECTIONS),
        held=str(hold),
    )


def db_connections_refused(lab: Lab) -> ScenarioInfo:
    """``leaky-worker`` holds all 20 connections: the server refuses everyone."""
    _leaky(lab, MAX_CONNECTIONS)
    wait_health(lab.docker("h1"), {_c("backend"): "unhealthy"}, timeout=60)
    return _info(
        "db_connections_refused",
        (_c("db"), _c("backend"), _c("worker")),
        holder=_c("worker"),
        application_name=WORKER_APP,
        max_connections=str(MAX_CONNECTIONS),
        held=str(MAX_CONNECTIONS),
        error="too many clients already",
    )


# ---------------------------------------------------------------- locks


def db_lock_blocking(lab: Lab) -> ScenarioInfo:
    """A migration waits behind ``report-job``'s open transaction on ``orders``."""
    _shop(lab)
    client = lab.docker("h1")
    with step("undo migration 0003, open report-job's transaction, start the migration"):
        _psql(
            lab,
            "ALTER TABLE orders DROP COLUMN status; "
            "DELETE FROM app_migrations WHERE name = '0003_orders_status'",
        )
        blocker = (
            "(echo 'BEGIN; SELECT count(*) FROM orders;'; sleep 86400) | "
            "psql -h /run/postgresql -U shop -d shop -q >/dev/null"
        )
        client.containers.get(_c("db")).exec_run(
            ["sh", "-c", blocker], detach=True, environment={"PGAPPNAME": BLOCKER_APP}
        )
        _wait(
            f"{BLOCKER_APP} idle in transaction",
            lambda: (
                _psql(
                    lab,
                    "select count(*) from pg_stat_activity where application_name = "
                    "'report-job' and state = 'idle in transaction'",
                )
                == "1"
            ),
        )
        client.containers.get(_c("backend")).exec_run(
            ["python3", "/app/manage.py", "migrate"],
            detach=True,
            environment={"PGAPPNAME": "migrate"},
        )
        waited = (
            "select coalesce(max(extract(epoch from now() - query_start))::int, -1) "
            "from pg_stat_activity where wait_event_type = 'Lock' and application_name = 'migrate'"
        )
        _wait(f"the migration to wait {LOCK_WAIT} s", lambda: int(_psql(lab, waited)) >= LOCK_WAIT)
    return _info(
        "db_lock_blocking",
        (_c("db"), _c("backend")),
        blocker_application_name=BLOCKER_APP,
        waiter_application_name="migrate",
        table="orders",
    )


# ---------------------------------------------------------------- volume


def db_volume_nearly_full(lab: Lab, percent: float = 93.0) -> ScenarioInfo:
    """The db's 64 MiB tmpfs volume filled to ``percent`` % by a dump left in it."""
    _shop(lab, volume={"driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}})
    client = lab.docker("h1")

    def df() -> tuple[int, int]:
        out = exec_in(client, _c("db"), ["df", "-P", "-k", "/var/lib/postgresql/data"])[1]
        parts = out.strip().splitlines()[-1].split()
        return int(parts[1]) * 1024, int(parts[2]) * 1024

    with step(f"fill shop_postgres_data to {percent:g} %"):
        size, used = df()
        if size > 80 * 1024 * 1024:
            raise LabError(f"shop_postgres_data is {size} bytes: not the 64 MiB tmpfs")
        want = int(size * percent / 100) - used
        if want > 0:
            wrote = client.containers.get(_c("db")).exec_run(
                ["sh", "-c", f"head -c {want} /dev/zero > {DUMP}"], user="postgres"
            )
            if wrote.exit_code != 0:
                raise LabError(f"writing {DUMP} failed: {wrote.output!r}")
        size, used = df()
        now = 100 * used / size
        log(f"shop_postgres_data: {now:.1f} % used")
        if now < percent - 1:
            raise LabError(f"could not fill shop_postgres_data: {now:.1f} %")
    return _info(
        "db_volume_nearly_full",
        (_c("db"), _c("backend")),
        volume=f"{PROJECT}_postgres_data",
        percent=f"{now:.1f}",
        size=str(size),
    )
