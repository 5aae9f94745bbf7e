"""The database's superuser and the evidence that must stop a data fix.

While ``volume.orphaned_data`` or ``db.reinitialized`` stands for a database,
``db.migrate``, ``db.create`` and ``volume.restore`` read it here, the way the diagnosis
judges it, and refuse (a schema built over lost data buries the evidence). Shared by
those fixes (not a runbook: ``_`` module).
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.framework.action import ReadOnlyHost
from bot.framework.session import Database
from bot.inventory.discovery import DiscoveredStack, HostStacks
from bot.model.docker_objects import ContainerDetails, EngineInfo
from bot.model.errors import DatabaseMissing, DockerObjectNotFound, HostError
from bot.model.findings import Finding
from bot.model.units import human_size
from runbooks._stacks import (
    container_address,
    owned_objects,
)
from runbooks.diagnose.checks_database import check_db_reinitialized
from runbooks.diagnose.checks_volumes import check_orphaned_data
from runbooks.diagnose.facts import DatabaseFacts, HostFacts

_BORN = "select system_identifier from pg_control_system()"


class Connect(Protocol):
    def __call__(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]: ...


def superuser_of(c: ContainerDetails) -> tuple[str, str]:
    env = c.config.env_map()
    return env.get("POSTGRES_USER") or "postgres", env.get("POSTGRES_PASSWORD", "")


@asynccontextmanager
async def superuser(
    connect: Connect, c: ContainerDetails, dbname: str | None = None
) -> AsyncIterator[Database]:
    """Connected to ``c``'s server as its ``POSTGRES_USER`` (to ``dbname``, else the
    ``postgres`` maintenance database, else ``template1``)."""
    address = container_address(c)
    if not address:
        raise DockerObjectNotFound(c.name, f"{c.name} has no IP address on any network")
    user, password = superuser_of(c)
    names = [dbname] if dbname else ["postgres", "template1"]
    for name in names:
        try:
            async with connect(
                address=address, port=5432, user=user, password=password, dbname=name
            ) as pg:
                yield pg
                return
        except DatabaseMissing:
            if name == names[-1]:
                raise


async def read_cluster_born(view: ReadOnlyHost, c: ContainerDetails) -> datetime | None:
    """When ``c``'s cluster was initialised (its system identifier), if it answers."""
    if not c.state.running:
        return None
    try:
        async with superuser(view.database, c) as pg:
            rows = await pg.fetch(_BORN)
    except HostError:
        return None
    if not rows or not rows[0] or rows[0][0] is None:
        return None
    return datetime.fromtimestamp(int(rows[0][0]) >> 32, tz=UTC)


def stack_of(stacks: HostStacks, c: ContainerDetails) -> DiscoveredStack | None:
    return next(
        (s for s in stacks.stacks if any(x.id == c.id for x in s.containers)),
        None,
    )


async def evidence_facts(
    view: ReadOnlyHost,
    containers: list[ContainerDetails],
    stacks: HostStacks,
    db: ContainerDetails,
) -> HostFacts:
    """What ``volume.orphaned_data`` and ``db.reinitialized`` judge, read as the diagnosis
    reads it (volumes with sizes, the containers this environment owns) plus the
    initialisation time of ``db``'s cluster, read as its superuser."""
    usage = await view.docker.disk_usage()
    mine, _, volumes = owned_objects(view.host, stacks, containers, [], usage.volumes)
    born = await read_cluster_born(view, db)
    stack = stack_of(stacks, db)
    database = DatabaseFacts(
        stack=stack.name if stack is not None else db.name,
        app_service=stack.roles.app if stack is not None else None,
        db_service=db.compose_service,
        db_container=db.name,
        host=None,
        address=container_address(db),
        status="ok" if born is not None else "skipped",
        cluster_initialized_at=born,
    )
    return HostFacts(
        environment=view.host.env,
        host=view.host.name,
        now=datetime.now(UTC),
        info=EngineInfo.model_validate({}),
        containers=tuple(mine),
        volumes=tuple(volumes),
        stacks=stacks,
        databases=(database,),
    )


async def blocking_findings(
    view: ReadOnlyHost,
    containers: list[ContainerDetails],
    stacks: HostStacks,
    db: ContainerDetails,
) -> list[Finding]:
    """``volume.orphaned_data`` and ``db.reinitialized`` standing for database ``db``."""
    facts = await evidence_facts(view, containers, stacks, db)
    found = [*check_orphaned_data(facts), *check_db_reinitialized(facts)]
    return [f for f in found if f.evidence.get("db_container") == db.name]


def fix_text(env: str, action: str, params: dict[str, Any]) -> str:
    """``stackbot fix ACTION ENV --param k=v …`` (as the report shows a fix)."""
    argv = ["stackbot", "fix", action, env]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    return shlex.join(argv)


def blocked_refusal(action: str, env: str, findings: Sequence[Finding]) -> str | None:
    """Why ``action`` must not touch the database while ``findings`` stand (None: it may)."""
    reasons = []
    for f in findings:
        if f.code == "volume.orphaned_data":
            orphan = str(f.evidence.get("orphaned_volume"))
            params = {
                "host": f.subject.host,
                "container": f.evidence.get("db_container"),
                "volume": orphan,
            }
            reasons.append(
                f"volume.orphaned_data stands for {f.evidence.get('db_container')}: unmounted "
                f"volume {orphan} ({_size_text(f.evidence.get('orphaned_volume_size'))}) "
                f"looks like the data {f.evidence.get('current_volume') or 'its storage'} "
                f"replaced. Restore it first ({fix_text(env, 'volume.restore', params)}), or, "
                f"if its data is not wanted, archive it (volume.backup) and remove it"
            )
        elif f.code == "db.reinitialized":
            reasons.append(
                f"db.reinitialized stands for {f.evidence.get('db_container')}: its cluster was "
                f"initialised {f.evidence.get('cluster_initialized_at')}, after "
                f"{f.evidence.get('app_container')} was created, so the data the app had is "
                "elsewhere. Find it first (stackbot volumes; a volume.orphaned_data finding "
                "offers volume.restore)"
            )
    if not reasons:
        return None
    return f"{action} would build on a database whose data is probably elsewhere: " + (
        "; ".join(reasons)
    )


def _size_text(value: object) -> str:
    return human_size(value) if isinstance(value, int) and value >= 0 else "unknown size"
