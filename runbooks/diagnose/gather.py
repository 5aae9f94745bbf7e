"""Reading one host for the diagnosis: few calls, all at once, within a deadline.

Frugal by construction: one container list, at most one inspect per container,
one ``/system/df``, one ``info``, one network list; logs with a tail limit (a
proxy's, and the last lines of each down or restarting container: one call
each); no stats. Steps that depend on the host's stacks (env files, logs,
database probes (where the app's database is: ``dbconfig``), name resolution
inside containers, migration checks, the services each compose project's files
define now) run concurrently, each starting as soon as the containers are inspected
(the engine's other answers, ``/system/df`` above all, may come later: only the disk
step waits for them); any still running at the deadline is cancelled and named in
``unfinished``.

Read without a Docker call more: ``/proc/meminfo`` (``host.memory_pressure``); the
image each tag points to now, from the same ``/system/df`` (``container.image_stale``);
the ports other environments' containers publish, from the same list
(``container.port_allocated``). One ``sh -c`` over the session stats every bind
mount source and every json-file log without ``max-size`` (``hostpaths``); ``ss``
runs only when a container failed for a taken port; a project whose ``compose
config`` fails gets one ``stat`` of its ``env_file:`` entries (``env.file_missing``).

The services a compose project defines now: when the host has compose projects
whose containers name their working dir and compose files, the compose CLI is
found once per connection (``bot.framework.compose_cli.compose_for_reading``: the
search for the v2 plugin's own program, where the docker CLI would find it, starts
with the first Docker reads, the fallback as soon as the container list is in; else
what ``detect_compose`` finds: the v2
plugin, else ``docker-compose``, v1 or v2's standalone), then one command per
project, at once, each within the session's command timeout::

    env DOCKER_HOST=… COMPOSE_PROFILES=* COMPOSE -p P --project-directory DIR -f FILE…
        [--env-file FILE…] config --services [--no-interpolate]

(``COMPOSE_PROFILES=*``: services behind any profile count as defined; with the
env files compose recorded, interpolated as at deploy time, and again with
``--no-interpolate`` when a variable is missing). Only
service names are kept; when it fails (files gone, no compose, invalid YAML)
the reason is kept instead, one line, redacted, and nothing is judged from it.
Beside it, compose's dry run of ``up`` (v2 from 2.20, not v5: compose#14029; v1:
``config --hash=*``) says which containers the files would recreate, and the compose
files themselves are read (never run) for what ``config --services`` does not say.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.framework.compose_cli import (
    ComposeCLI,
    compose_for_reading,
    parse_dry_run,
    prefetch_compose,
    prefetch_plugin_search,
)
from bot.framework.session import HostSession
from bot.inventory.discovery import (
    DiscoveredStack,
    HostStacks,
    discover_stacks,
    referenced_hosts,
)
from bot.model.docker_objects import (
    COMPOSE_CONFIG_FILES,
    COMPOSE_CONFIG_HASH,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    DiskUsage,
)
from bot.model.errors import (
    DatabaseMissing,
    DatabaseUnreachable,
    HostError,
)
from bot.redaction.redact import redact_text
from runbooks import disk
from runbooks._compose import V1, compose_prefix
from runbooks._compose_files import ComposeFileFacts, compose_file_facts
from runbooks._stacks import (
    answering,
    container_address,
    first_running,
    inspect_existing,
    owned_containers,
    owned_objects,
    secret_values,
)
from runbooks.diagnose.checks_containers import wants_logs
from runbooks.diagnose.checks_ports import bindings, port_conflict
from runbooks.diagnose.db_facts import DataFilesystem, df_argv, parse_df, read_activity
from runbooks.diagnose.dbconfig import DbTarget, locate_database, no_target_reason
from runbooks.diagnose.envfile import parse_env_file
from runbooks.diagnose.facts import (
    ComposeServices,
    DatabaseFacts,
    EnvFileFacts,
    FilesystemFacts,
    HostFacts,
    MemoryFacts,
    MigrationCheck,
    PortHolder,
    Resolution,
)
from runbooks.diagnose.hostpaths import paths_to_stat, stat_paths

LOG_TAIL = 200
CONTAINER_LOG_TAIL = 20  # lines of a down or restarting container (container.down evidence)
OUTPUT_TAIL = 2000
RESOLVE_TIMEOUT = 10.0  # getent hosts: a resolver that hangs this long counts as unknown
MIGRATION_CHECK_TIMEOUT = 60.0
COMPOSE_SERVICES_STEP = "compose config --services"
MEMORY_STEP = "read /proc/meminfo"
STAT_STEP = "stat bind mount sources and container logs"
LISTEN_STEP = "listening sockets (ss)"
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ERROR_LIMIT = 300
_NOT_FOUND = 127  # env (and a shell) when the program is not on the PATH
_EPOCH = datetime.min.replace(tzinfo=UTC)


class DeadlineExceeded(HostError):
    code = "diagnose.deadline"


async def gather_facts(
    session: HostSession, *, deadline: float, now: datetime | None = None
) -> HostFacts:
    host = session.host
    ends = time.monotonic() + deadline
    docker = session.docker
    prefetch_plugin_search(session)  # compose's start-up overlaps the first answers
    listed = asyncio.ensure_future(_listed(session))
    engine = asyncio.gather(docker.info(), docker.networks(), docker.disk_usage(), _uptime(session))
    started: dict[str, asyncio.Task[Any]] = {}
    try:
        async with asyncio.timeout(deadline):
            # the steps that need only the containers start as soon as they are inspected,
            # without waiting for the engine's other answers (``/system/df`` can take long)
            everything = await listed
            now = now or datetime.now(UTC)
            stacks = discover_stacks(everything, host.stacks, host)
            containers = owned_containers(stacks, everything)
            started = _start_steps(_container_steps(session, stacks, containers, now))
            info, networks, usage, uptime = await engine
    except BaseException as exc:
        pending: list[asyncio.Future[Any]] = [listed, engine, *started.values()]
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if isinstance(exc, TimeoutError):
            raise DeadlineExceeded(
                host.label, f"Docker did not list and inspect its containers within {deadline:g} s"
            ) from exc
        raise
    _, networks, volumes = owned_objects(host, stacks, everything, networks, usage.volumes)
    tasks = {  # in the order the steps are named when unfinished
        "disk usage": asyncio.create_task(
            _filesystems(session, usage, info.docker_root_dir), name="disk usage"
        ),
        **started,
    }
    results, unfinished = await _finish_steps(tasks, ends - time.monotonic())
    disk: tuple[tuple[FilesystemFacts, ...], int | None] = results.get("disk usage", ((), None))
    return HostFacts(
        environment=host.env,
        host=host.name,
        now=now,
        info=info,
        uptime_seconds=uptime,
        filesystems=disk[0],
        docker_reclaimable=disk[1],
        containers=tuple(containers),
        networks=tuple(networks),
        volumes=tuple(volumes),
        stacks=stacks,
        env_files={
            f.path: f
            for f in [
                *_of_type(results.values(), EnvFileFacts),
                *(
                    e
                    for read in results.get(COMPOSE_SERVICES_STEP, ())
                    for e in read.env_files_read
                ),
            ]
        },
        proxy_logs={log.container: log.text for log in _of_type(results.values(), _ProxyLog)},
        container_logs={
            log.container: log.text for log in _of_type(results.values(), _ContainerLog)
        },
        resolutions=tuple(_of_type(results.values(), Resolution)),
        databases=tuple(_of_type(results.values(), DatabaseFacts)),
        migration_checks=tuple(_of_type(results.values(), MigrationCheck)),
        compose_services=results.get(COMPOSE_SERVICES_STEP, ()),
        unfinished=tuple(unfinished),
        paths={p.path: p for p in results.get(STAT_STEP, ())},
        memory=results.get(MEMORY_STEP),
        image_tags={tag: image.id for image in usage.images for tag in image.repo_tags},
        foreign_ports=foreign_ports(everything, containers),
        listening=results.get(LISTEN_STEP),
    )


async def _listed(session: HostSession) -> list[ContainerDetails]:
    """Every container, then each one inspected (without waiting for the engine's other
    answers: ``/system/df`` can take longer than the list); when one was deployed by
    compose from files on the host, the compose CLI's detection starts as soon as the
    list is in, so its start-up overlaps the inspections."""
    summaries = await session.docker.containers(all=True)
    if any(
        c.labels.get(COMPOSE_WORKING_DIR) and c.labels.get(COMPOSE_CONFIG_FILES) for c in summaries
    ):
        prefetch_compose(session)
    return await inspect_existing(session.docker.inspect_container, (c.id for c in summaries))


def _container_steps(
    session: HostSession,
    stacks: HostStacks,
    containers: list[ContainerDetails],
    now: datetime,
) -> dict[str, Coroutine[Any, Any, Any]]:
    """Every step but the disk usage's: what each needs is in the containers."""
    secrets = secret_values(containers)
    steps: dict[str, Coroutine[Any, Any, Any]] = {MEMORY_STEP: _meminfo(session)}
    if wanted := paths_to_stat(containers):
        steps[STAT_STEP] = stat_paths(session, wanted)
    if any(port_conflict(c) for c in containers):
        steps[LISTEN_STEP] = _listening(session)
    for path in sorted({p for s in stacks.stacks if s.found for p in s.env_files}):
        steps[f"read env file {path}"] = _env_file(session, path)
    for stack in stacks.stacks:
        for proxy in _role_containers(stack, "proxy"):
            key = f"logs of {proxy.name}"
            if key not in steps:  # two declared stacks may share one compose project
                steps[key] = _logs(session, proxy, secrets)
        if stack.roles.database and stack.roles.app:
            steps[f"database of {stack.name}"] = _database(session, stack, containers, secrets)
        if stack.migration_check_command:
            steps[f"migration check of {stack.name}"] = _migration_check(session, stack, secrets)
    for container in wants_logs(stacks, now):
        key = f"logs of {container.name}"
        if key not in steps:  # a proxy's longer tail serves as well
            steps[key] = _container_logs(session, container, secrets)
    if any(s.found for s in stacks.stacks):
        steps[COMPOSE_SERVICES_STEP] = _compose_services(session, stacks, secrets)
    for name, hostname in _names_to_resolve(stacks, containers):
        steps[f"resolve {hostname} in {name}"] = _resolve(session, name, hostname)
    return steps


def _start_steps(steps: dict[str, Coroutine[Any, Any, Any]]) -> dict[str, asyncio.Task[Any]]:
    return {name: asyncio.create_task(step, name=name) for name, step in steps.items()}


async def _finish_steps(
    tasks: dict[str, asyncio.Task[Any]], budget: float
) -> tuple[dict[str, Any], list[str]]:
    """Each step's result; those still running when ``budget`` is spent are cancelled
    and named."""
    if not tasks:
        return {}, []
    await asyncio.wait(tasks.values(), timeout=max(budget, 0.01))
    results: dict[str, Any] = {}
    unfinished = []
    for name, task in tasks.items():
        if not task.done():
            task.cancel()
            unfinished.append(name)
        else:
            results[name] = task.result()  # steps handle expected errors themselves
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    return results, unfinished


T = TypeVar("T")


@dataclass(frozen=True)
class _ProxyLog:
    container: str
    text: str


@dataclass(frozen=True)
class _ContainerLog:
    container: str
    text: str


def _of_type(values: Iterable[Any], kind: type[T]) -> list[T]:
    return [v for v in values if isinstance(v, kind)]


async def _uptime(session: HostSession) -> float | None:
    try:
        text = (await session.read_file("/proc/uptime", max_bytes=64)).decode()
        return float(text.split()[0])
    except (HostError, ValueError, IndexError):
        return None


_MEMINFO_KEYS = {
    "MemTotal": "total",
    "MemAvailable": "available",
    "SwapTotal": "swap_total",
    "SwapFree": "swap_free",
}


async def _meminfo(session: HostSession) -> MemoryFacts | None:
    """The host's memory and swap from ``/proc/meminfo`` (read-only; None: not readable)."""
    try:
        text = (await session.read_file("/proc/meminfo", max_bytes=8192)).decode()
    except (HostError, OSError, UnicodeDecodeError):
        return None
    return parse_meminfo(text)


def parse_meminfo(text: str) -> MemoryFacts | None:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _MEMINFO_KEYS:
            parts = rest.split()
            try:
                number = int(parts[0])
            except (IndexError, ValueError):
                continue
            unit = parts[1].lower() if len(parts) > 1 else ""
            values[_MEMINFO_KEYS[key]] = number * 1024 if unit == "kb" else number
    if "total" not in values or "available" not in values:
        return None  # kernels before 3.14 have no MemAvailable: nothing judged
    return MemoryFacts(**values)


async def _listening(session: HostSession) -> tuple[str, ...] | None:
    """Listening TCP and UDP sockets of the host (``ss -Hlntu``: addresses and ports only,
    never which process); None when ``ss`` cannot run."""
    try:
        result = await session.run(["ss", "-H", "-l", "-n", "-t", "-u"], check=False, timeout=10)
    except HostError:
        return None
    if not result.ok:
        return None
    out: set[str] = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        proto = "udp" if parts[0].startswith("udp") else "tcp"
        local = parts[4]
        address, _, port = local.rpartition(":")
        address = address.strip("[]").split("%")[0]
        if port.isdigit():
            wildcard = address in ("*", "0.0.0.0", "::")  # noqa: S104 - read, not bound
            out.add(f"{'' if wildcard else address}:{port}/{proto}")
    return tuple(sorted(out))


def foreign_ports(
    everything: Iterable[ContainerDetails], owned: Iterable[ContainerDetails]
) -> tuple[PortHolder, ...]:
    """Host ports published by containers this environment does not judge (another
    environment's, or nobody's), without their names: who holds a port we need."""
    mine = {c.id for c in owned}
    out: set[PortHolder] = set()
    for c in everything:
        if c.id in mine:
            continue
        out |= {
            PortHolder(
                project=c.compose_project,
                host_ip=b.host_ip,
                host_port=b.host_port,
                proto=b.proto,
                running=c.state.running,
            )
            for b in bindings(c)
        }
    return tuple(sorted(out, key=lambda p: (p.host_port, p.proto, p.host_ip, p.project or "")))


async def _filesystems(
    session: HostSession, usage: DiskUsage, docker_root: str | None
) -> tuple[tuple[FilesystemFacts, ...], int | None]:
    report = await disk.read_disk(session, disk.Params(), usage=usage, docker_root=docker_root)
    reclaimable = sum(row.reclaimable_bytes for row in report.docker) if report.docker else None
    filesystems = report.filesystems
    return (
        tuple(
            FilesystemFacts(
                mount=fs.mount_point,
                paths=fs.holds,
                size=fs.size_bytes or 0,
                used=fs.used_bytes or 0,
                available=fs.available_bytes or 0,
                inodes_total=fs.inodes_total,
                inodes_used=fs.inodes_used,
            )
            for fs in filesystems
        ),
        reclaimable,
    )


async def _env_file(session: HostSession, path: str) -> EnvFileFacts:
    try:
        raw = await session.read_file(path, max_bytes=256 * 1024)
    except HostError as exc:
        return EnvFileFacts(path=path, error=f"cannot read {path}: {exc.detail.splitlines()[-1]}")
    except OSError as exc:  # a session that reads this machine's files
        return EnvFileFacts(path=path, error=f"cannot read {path}: {exc.strerror or exc}")
    return EnvFileFacts(path=path, values=parse_env_file(raw.decode("utf-8", errors="replace")))


async def _logs(session: HostSession, container: ContainerDetails, secrets: set[str]) -> _ProxyLog:
    try:  # by id: the container inspected (a name may have moved to a new one since)
        text = await session.docker.logs(container.id, tail=LOG_TAIL)
    except HostError:
        text = ""
    return _ProxyLog(container.name, redact_text(text, known_secrets=secrets))


async def _container_logs(
    session: HostSession, container: ContainerDetails, secrets: set[str]
) -> _ContainerLog:
    """The last ``CONTAINER_LOG_TAIL`` lines of a down or restarting container, redacted."""
    try:
        text = await session.docker.logs(container.id, tail=CONTAINER_LOG_TAIL)
    except HostError:
        text = ""
    return _ContainerLog(container.name, redact_text(text, known_secrets=secrets))


def _role_containers(stack: DiscoveredStack, role: str) -> list[ContainerDetails]:
    service = getattr(stack.roles, role)
    return list(stack.services[service].containers) if service in stack.services else []


async def _database(
    session: HostSession,
    stack: DiscoveredStack,
    containers: list[ContainerDetails],
    secrets: set[str],
) -> DatabaseFacts:
    """Connect where the app's environment says its database is (``dbconfig``: a URL,
    ``PG*`` or split ``*DB_HOST``-style variables, gaps filled from the database
    service's ``POSTGRES_*``), with the app's own credentials."""
    app_containers = (
        stack.services[stack.roles.app].containers if stack.roles.app in stack.services else ()
    )
    # a stopped app still carries its configuration: its environment is what matters
    app = first_running(app_containers) or (app_containers[0] if app_containers else None)
    db_containers = (
        stack.services[stack.roles.database].containers
        if stack.roles.database in stack.services
        else ()
    )
    db = first_running(db_containers)
    base = DatabaseFacts(
        stack=stack.name,
        app_service=stack.roles.app,
        db_service=stack.roles.database,
        db_container=db.name if db else None,
        host=None,
        address=None,
    )
    app_env = app.config.env_map() if app else {}
    newest_db = db or max(db_containers, key=lambda c: c.created or _EPOCH, default=None)
    db_names = _answers_to(stack.roles.database, db_containers)
    target = locate_database(
        app_env,
        newest_db.config.env_map() if newest_db else {},
        db_names=db_names,
        url_key=stack.database.from_env,
    )
    if target is None:
        why = no_target_reason(app_env, url_key=stack.database.from_env) if app else None
        return base.model_copy(update={"status": "no_url", "error": why})
    dbname = stack.database.name or target.dbname
    dialled = _dialled(target.host, app, db, containers, db_names)
    address = container_address(dialled) if dialled else target.host
    facts = base.model_copy(
        update={
            "host": target.host,
            "address": address,
            "port": target.port,
            "dbname": dbname,
            "user": target.user,
            "source": target.source,
            "keys": target.keys,
            "db_keys": target.db_keys,
        }
    )
    if not address:
        return facts.model_copy(
            update={"status": "unreachable", "error": "no running database container"}
        )
    known = secrets | ({target.password.get_secret_value()} if target.password else set())
    # the filesystem of its data dir is read while connecting (one `df` in the container)
    probed, filesystem = await asyncio.gather(
        _probe_database(session, facts, target, address, dbname, known),
        _data_filesystem(session, db),
    )
    return probed.model_copy(update={"data_filesystem": filesystem})


async def _probe_database(
    session: HostSession,
    facts: DatabaseFacts,
    target: DbTarget,
    address: str,
    dbname: str,
    known: set[str],
) -> DatabaseFacts:
    """Connect as the app would; the tables, the cluster's birth, and its sessions
    (``db_facts.ACTIVITY_SQL``: connection use, lock waits)."""
    try:
        async with session.database(
            address=address,
            port=target.port,
            user=target.user,
            password=target.password.get_secret_value() if target.password else "",
            dbname=dbname,
        ) as pg:
            (tables,) = (await pg.fetch(_COUNT_TABLES))[0]
            initialized = await _cluster_initialized(pg)
            activity = await read_activity(pg, sorted(known))
    except DatabaseMissing:
        return facts.model_copy(update={"status": "missing"})
    except DatabaseUnreachable as exc:
        status = "refused" if "authentication" in exc.detail else "unreachable"
        if _NO_SLOT.search(exc.detail):
            status = "exhausted"  # stackbot dials as the app: the app gets no slot either
        return facts.model_copy(
            update={"status": status, "error": redact_text(exc.detail, known_secrets=known)}
        )
    except HostError as exc:
        return facts.model_copy(
            update={
                "status": "unreachable",
                "error": redact_text(exc.detail, known_secrets=known),
            }
        )
    return facts.model_copy(
        update={
            "status": "ok",
            "tables": int(tables),
            "cluster_initialized_at": initialized,
            "activity": activity,
        }
    )


# the server's answer when every slot is taken: "sorry, too many clients already",
# "remaining connection slots are reserved for non-replication superuser connections"
# (before 16; "… for roles with the SUPERUSER attribute" / "… privileges of the
# pg_use_reserved_connections role" since)
_NO_SLOT = re.compile(r"too many clients|remaining connection slots are reserved", re.I)
_DEFAULT_PGDATA = "/var/lib/postgresql/data"
_DF_TIMEOUT = 10.0


async def _data_filesystem(
    session: HostSession, db: ContainerDetails | None
) -> DataFilesystem | None:
    """``df`` of the database container's data dir (its ``PGDATA``), run in the container:
    the host's SSH user may not traverse Docker's data root, the container always can."""
    if db is None or not db.state.running:
        return None
    data_dir = posixpath.normpath(db.config.env_map().get("PGDATA") or _DEFAULT_PGDATA)
    try:
        result = await session.docker.exec_run(db.name, df_argv(data_dir), timeout=_DF_TIMEOUT)
    except HostError:
        return None
    if result.exit_code != 0:
        return None
    return parse_df(result.output, container=db.name, data_dir=data_dir)


def _dialled(
    host: str | None,
    app: ContainerDetails | None,
    db: ContainerDetails | None,
    containers: list[ContainerDetails],
    db_names: set[str],
) -> ContainerDetails | None:
    """The container the app's host name reaches: on the app's own networks first (other
    projects on the engine have their own ``db``), then the stack's database service
    if it answers to that name, then anywhere; with no name, the database service."""
    if not host:
        return db
    if app is not None and (found := answering(containers, host, on=set(app.networks))):
        return found
    if db is not None and host.lower() in {n.lower() for n in db_names}:
        return db
    return answering(containers, host) or db


def _answers_to(service: str | None, containers: Iterable[ContainerDetails]) -> set[str]:
    """Every name and address the database service answers to on its networks."""
    names = {service} if service else set()
    for container in containers:
        names.add(container.name)
        for endpoint in container.networks.values():
            names.update(endpoint.aliases)
            names.update(endpoint.dns_names)
            if endpoint.ip_address:
                names.add(endpoint.ip_address)
    return names


_COUNT_TABLES = (
    "select count(*) from information_schema.tables "
    "where table_schema not in ('pg_catalog', 'information_schema') and table_type = 'BASE TABLE'"
)


async def _cluster_initialized(pg: Any) -> datetime | None:
    """initdb time: the high 32 bits of the cluster's system identifier (superuser only)."""
    try:
        ((identifier,),) = await pg.fetch("select system_identifier from pg_control_system()")
    except HostError:
        return None
    return datetime.fromtimestamp(int(identifier) >> 32, tz=UTC)


def _names_to_resolve(
    stacks: HostStacks, containers: list[ContainerDetails]
) -> list[tuple[str, str]]:
    """(container, host name) pairs worth resolving inside the container itself.

    Only running app containers, and only names of containers on this host
    (or the stack's services): external hosts are not ours to judge.
    """
    local_names: set[str] = set()
    for container in containers:
        local_names.add(container.name)
        if container.compose_service:
            local_names.add(container.compose_service)
        for endpoint in container.networks.values():
            local_names.update(endpoint.aliases)
    pairs: set[tuple[str, str]] = set()
    for stack in stacks.stacks:
        for service in stack.roles.apps:
            for container in (
                stack.services[service].containers if service in stack.services else ()
            ):
                if not container.state.running:
                    continue
                for ref in referenced_hosts(container.config.env_map()):
                    if ref.host in local_names and ref.ip is None:
                        pairs.add((container.name, ref.host))
    return sorted(pairs)


async def _resolve(session: HostSession, container: str, hostname: str) -> Resolution:
    try:
        result = await session.docker.exec_run(
            container, ["getent", "hosts", hostname], timeout=RESOLVE_TIMEOUT
        )
    except HostError:
        return Resolution(container=container, hostname=hostname, resolved=None)
    if result.exit_code == 0:
        addresses = tuple(line.split()[0] for line in result.output.splitlines() if line.strip())
        return Resolution(
            container=container, hostname=hostname, resolved=True, addresses=addresses
        )
    if result.exit_code == 2:  # getent: key not found
        return Resolution(container=container, hostname=hostname, resolved=False)
    return Resolution(container=container, hostname=hostname, resolved=None)


async def _migration_check(
    session: HostSession, stack: DiscoveredStack, secrets: set[str]
) -> MigrationCheck | None:
    app = (
        first_running(stack.services[stack.roles.app].containers)
        if stack.roles.app in stack.services
        else None
    )
    if app is None:
        return None
    try:
        result = await session.docker.exec_run(
            app.name, stack.migration_check_command, timeout=MIGRATION_CHECK_TIMEOUT
        )
    except HostError as exc:
        return MigrationCheck(
            stack=stack.name,
            container=app.name,
            argv=stack.migration_check_command,
            exit_code=None,
            output=redact_text(exc.detail, known_secrets=secrets),
        )
    return MigrationCheck(
        stack=stack.name,
        container=app.name,
        argv=stack.migration_check_command,
        exit_code=result.exit_code,
        output=redact_text(result.output[-OUTPUT_TAIL:], known_secrets=secrets),
    )


async def _compose_services(
    session: HostSession, stacks: HostStacks, secrets: set[str]
) -> tuple[ComposeServices, ...]:
    """What each compose project found on the host defines now (see the module docstring)."""
    projects: dict[str, DiscoveredStack] = {}
    for stack in stacks.stacks:
        if stack.found:
            projects.setdefault(stack.project, stack)  # two declared stacks may share one

    def failed(stack: DiscoveredStack, why: str) -> ComposeServices:
        return ComposeServices(
            project=stack.project,
            working_dir=stack.working_dir,
            config_files=stack.config_files,
            services=None,
            error=why,
        )

    ready = [s for s in projects.values() if s.working_dir and s.config_files]
    out = [
        failed(s, "its containers name no compose working dir or compose file")
        for s in projects.values()
        if s not in ready
    ]
    if ready:
        found = await compose_for_reading(session)
        if found is None:
            why = "the host has neither `docker compose` (v2) nor `docker-compose` (v1)"
            out += [failed(s, why) for s in ready]
        else:
            out += await asyncio.gather(
                *(_defined_services(session, found, s, secrets) for s in ready)
            )
    return tuple(sorted(out, key=lambda s: s.project))


async def _defined_services(
    session: HostSession, found: ComposeCLI, stack: DiscoveredStack, secrets: set[str]
) -> ComposeServices:
    assert stack.working_dir is not None
    argv = compose_prefix(
        found.direct_argv,  # read-only: the plugin's own program when found (compose_cli)
        socket=session.host.docker_socket,
        project=stack.project,
        working_dir=stack.working_dir,
        config_files=stack.config_files,
        # the env files compose recorded (--env-file at deploy time): the same
        # interpolation as `up` had, so `ports: - ${BACKEND_PORT}:8000` reads
        env_files=stack.env_files if stack.env_file_source == "label" else (),
        environment={"COMPOSE_PROFILES": "*"},
    )
    base = ComposeServices(
        project=stack.project,
        working_dir=stack.working_dir,
        config_files=stack.config_files,
        services=None,
    )
    # all at once: compose's dry run, and the compose files (then each service's env
    # files) read while compose starts; what is read is kept only when needed
    staleness = asyncio.ensure_future(_stale(session, found, argv, stack))
    files = asyncio.ensure_future(_read_compose_files(session, stack))
    try:
        result = await session.run([*argv, "config", "--services"], check=False)
        if not result.ok and result.exit_status != _NOT_FOUND:
            # a variable only the deploy shell had: the names need no values
            raw = await session.run(
                [*argv, "config", "--services", "--no-interpolate"], check=False
            )
            result = raw if raw.ok else result
    except HostError as exc:
        staleness.cancel()
        files.cancel()
        await asyncio.gather(staleness, files, return_exceptions=True)
        return base.model_copy(update={"error": _one_line(exc.detail, secrets)})
    (stale, stale_by), (read_files, env_files) = await asyncio.gather(staleness, files)
    base = base.model_copy(update={"stale": stale, "stale_by": stale_by})
    if result.exit_status == _NOT_FOUND and found.argv == V1:
        why = "the host has neither `docker compose` (v2) nor `docker-compose` (v1)"
        return base.model_copy(update={"error": why})
    if not result.ok:
        said = _one_line(result.stderr or result.stdout, secrets) or "no output"
        why = f"`compose config --services` exited with status {result.exit_status}: {said}"
        # compose fails on a required env_file that is not there: say which (one stat)
        missing = await _missing_env_files(session, read_files)
        return base.model_copy(update={"error": why, "missing_env_files": missing})
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not names or not all(_SERVICE_NAME.match(n) for n in names):
        why = "`compose config --services` did not print a list of service names"
        return base.model_copy(update={"error": why})
    return base.model_copy(
        update={
            "services": tuple(sorted(set(names))),
            "named_volumes": read_files.named_volumes,
            "service_env_files": read_files.env_files,
            "service_environment_keys": read_files.environment_keys,
            "env_files_read": env_files,
            "expected_networks": read_files.networks,
            "optional_env_files": tuple(sorted(read_files.optional_env_files)),
        }
    )


async def _read_compose_files(
    session: HostSession, stack: DiscoveredStack
) -> tuple[ComposeFileFacts, tuple[EnvFileFacts, ...]]:
    """What the project's compose files say (read, never run), and each service's own
    ``env_file:`` entries that are not the project's env files, read."""
    read_files = await compose_file_facts(session.read_file, stack.config_files, stack.project)
    per_service = read_files.env_files
    paths = sorted({p for files in per_service.values() for p in files} - set(stack.env_files))
    return read_files, tuple(await asyncio.gather(*(_env_file(session, p) for p in paths)))


async def _missing_env_files(
    session: HostSession, files: ComposeFileFacts
) -> dict[str, tuple[str, ...]]:
    """Each service's required ``env_file:`` entries that do not exist on the host."""
    wanted = sorted(
        {p for paths in files.env_files.values() for p in paths} - set(files.optional_env_files)
    )
    seen = {p.path: p for p in await stat_paths(session, wanted)}
    out: dict[str, tuple[str, ...]] = {}
    for service, paths in sorted(files.env_files.items()):
        gone = tuple(
            p
            for p in paths
            if p not in files.optional_env_files and p in seen and seen[p].kind == "missing"
        )
        if gone:
            out[service] = gone
    return out


async def _stale(
    session: HostSession, found: ComposeCLI, prefix: list[str], stack: DiscoveredStack
) -> tuple[tuple[str, ...], str | None]:
    """The containers compose would recreate now (its files changed since `up`): from
    compose's own dry run of `up` (``ComposeCLI.dry_run_stays_dry``), else by comparing
    `config --hash` with each container's config-hash label (v1). ((), None) when it cannot tell."""
    try:
        if found.dry_run_stays_dry:
            # --no-start: what it would create or recreate, without simulating the
            # start and the wait for healthy dependencies (80 ms instead of 600 here)
            dry = [*prefix, "up", "-d", "--dry-run", "--no-build", "--pull", "never", "--no-start"]
            result = await session.run(dry, check=False)
            if not result.ok:
                return (), None
            said = parse_dry_run(result.stderr + "\n" + result.stdout)
            names = {c.name for c in stack.containers}
            stale = sorted(n for kind, n, what in said if kind == "Container" and n in names
                           and what.lower().startswith("recreat"))  # fmt: skip
            return tuple(stale), "compose's dry run of `up`"
        if found.major >= 2:
            # v2's `config --hash` disagrees with its own labels (compose#14001); v5's dry
            # run is not run (DRY_RUN_BEFORE): it cannot tell
            return (), None
        result = await session.run([*prefix, "config", "--hash=*"], check=False)
    except HostError:
        return (), None
    if not result.ok:
        return (), None
    hashes = dict(line.split(None, 1) for line in result.stdout.splitlines() if " " in line.strip())
    stale = sorted(
        c.name
        for name, service in stack.services.items()
        for c in service.containers
        if name in hashes
        and c.labels.get(COMPOSE_CONFIG_HASH)
        and c.labels[COMPOSE_CONFIG_HASH] != hashes[name].strip()
    )
    return tuple(stale), "`compose config --hash` against each container's label"


def _one_line(text: str, secrets: set[str]) -> str:
    """The last non-empty line of ``text``, redacted and cut short (never the whole file)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = redact_text(lines[-1], known_secrets=secrets) if lines else ""
    return line if len(line) <= _ERROR_LIMIT else line[: _ERROR_LIMIT - 1] + "…"


__all__: list[str] = [
    "DeadlineExceeded",
    "gather_facts",
]
