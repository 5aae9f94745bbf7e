"""Builders of diagnosis facts for the checks' unit tests.

Containers are built as the Engine sends them (``GET /containers/{id}/json``)
and parsed with ``ContainerDetails.model_validate``, so the tests go through
the same aliases and validators as production. ``facts()`` runs
``discover_stacks`` over them to fill ``HostFacts.stacks``.

Times: every default is relative to ``NOW``; ``ago(hours=3)`` gives an
Engine-style timestamp. ``OLD`` (30 days before ``NOW``) is the default
creation time, so nothing looks "recently recreated" unless a test says so.

The lab stack (``lab_stack``/``lab_env``): a compose project with ``backend``
(``env_file: .env``), ``db`` (``POSTGRES_*`` through ``environment:``
substitution, named data volume, health check) and ``nginx`` (no env): the
healthy baseline every check must stay quiet about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.inventory.config.models import StackConfig
from bot.inventory.discovery import discover_stacks
from bot.model.docker_objects import (
    COMPOSE_CONFIG_FILES,
    COMPOSE_CONFIG_HASH,
    COMPOSE_CONTAINER_NUMBER,
    COMPOSE_ENV_FILE,
    COMPOSE_NETWORK,
    COMPOSE_ONEOFF,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    COMPOSE_VOLUME,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    EngineInfo,
    NetworkSummary,
    Volume,
)
from runbooks.diagnose.facts import EnvFileFacts, FilesystemFacts, HostFacts

__all__ = [
    "ENVIRONMENT",
    "GIB",
    "HOST",
    "NOW",
    "OLD",
    "PLANTED_SECRET",
    "ago",
    "anonymous_mount",
    "bind_mount",
    "container",
    "env_file",
    "facts",
    "filesystem",
    "lab_env",
    "lab_stack",
    "network",
    "object_id",
    "timestamp",
    "volume",
    "volume_mount",
]

NOW = datetime(2025, 10, 10, 12, 0, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)
ENVIRONMENT = "staging"
HOST = "web1"
PLANTED_SECRET = "planted-secret-7f3a9c"  # must never appear in a finding's JSON
ZERO_TIME = "0001-01-01T00:00:00Z"
GIB = 1024**3

# Docker reports a running-but-restarting container as Running=true, Restarting=true.
_RUNNING_STATES = {"running", "restarting", "paused"}


def ago(**delta: float) -> str:
    """An Engine timestamp ``timedelta(**delta)`` before ``NOW``: ``ago(hours=3)``."""
    return timestamp(NOW - timedelta(**delta))


def timestamp(when: datetime | str | None) -> str:
    """An Engine timestamp (RFC 3339 with nanoseconds); None is Docker's zero time."""
    if when is None:
        return ZERO_TIME
    if isinstance(when, str):
        return when
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def object_id(name: str) -> str:
    """A stable 64-hex id for an object name (containers, networks)."""
    return hashlib.sha256(name.encode()).hexdigest()


def _ip(name: str, network_name: str) -> str:
    digest = hashlib.sha256(f"{network_name}/{name}".encode()).digest()
    return f"172.{18 + digest[0] % 8}.{digest[1]}.{2 + digest[2] % 250}"


# --- mounts -------------------------------------------------------------------


def volume_mount(name: str, destination: str = "/var/lib/postgresql/data") -> dict[str, Any]:
    """A named (or, with 64 hex digits, anonymous) volume mount as in ``Mounts``."""
    return {
        "Type": "volume",
        "Name": name,
        "Source": f"/var/lib/docker/volumes/{name}/_data",
        "Destination": destination,
        "Driver": "local",
        "Mode": "rw",
        "RW": True,
        "Propagation": "",
    }


def anonymous_mount(
    destination: str = "/var/lib/postgresql/data", seed: str = ""
) -> dict[str, Any]:
    """An anonymous volume (named by 64 hex digits) mounted at ``destination``."""
    return volume_mount(object_id(f"anonymous:{seed}:{destination}"), destination)


def bind_mount(source: str, destination: str) -> dict[str, Any]:
    return {
        "Type": "bind",
        "Source": source,
        "Destination": destination,
        "Mode": "rw",
        "RW": True,
        "Propagation": "rprivate",
    }


# --- containers ---------------------------------------------------------------


def _port_bindings(
    bindings: Mapping[str, str | int | Sequence[str | int]],
) -> dict[str, list[dict[str, str]]]:
    """``{"8000/tcp": "8000"}`` or ``{"5432": ["127.0.0.1:5432"]}`` → Engine PortBindings."""
    out: dict[str, list[dict[str, str]]] = {}
    for port, value in bindings.items():
        key = port if "/" in port else f"{port}/tcp"
        values = [value] if isinstance(value, str | int) else list(value)
        rows = []
        for item in values:
            host_ip, _, host_port = str(item).rpartition(":")
            rows.append({"HostIp": host_ip, "HostPort": host_port})
        out[key] = rows
    return out


def container(
    name: str,
    *,
    project: str | None = None,
    service: str | None = None,
    state: str = "running",
    image: str = "busybox:latest",
    env: Mapping[str, str] | None = None,
    networks: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    ips: Mapping[str, str] | None = None,
    dns_names: bool = False,
    mounts: Sequence[Mapping[str, Any]] = (),
    volumes: Sequence[str] = (),
    created: datetime | str = OLD,
    started: datetime | str | None = None,
    finished: datetime | str | None = None,
    exit_code: int | None = None,
    oom_killed: bool = False,
    restart_count: int = 0,
    restart_policy: str = "unless-stopped",
    error: str = "",
    health: str | None = None,
    health_log: Sequence[str | tuple[int, str]] = (),
    failing_streak: int | None = None,
    healthcheck: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    entrypoint: Sequence[str] | None = None,
    exposed_ports: Sequence[str] = (),
    port_bindings: Mapping[str, str | int | Sequence[str | int]] | None = None,
    labels: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    config_files: str | None = None,
    environment_file: str | None = None,
    config_hash: str | None = None,
    number: int = 1,
    oneoff: bool = False,
    config: Mapping[str, Any] | None = None,
    host_config: Mapping[str, Any] | None = None,
) -> ContainerDetails:
    """A container as ``GET /containers/{id}/json`` describes it.

    - ``project``: adds the compose labels (service defaults to ``name``;
      working dir ``/srv/<project>``; config files ``<working_dir>/docker-compose.yml``
      as compose v2 writes them, pass a relative ``config_files`` for v1;
      ``environment_file`` only when given, as with ``--env-file``).
      Without ``project`` the container is unmanaged (``docker run``).
    - ``state``: ``running``, ``restarting``, ``paused``, ``exited``, ``dead``,
      ``created``. Exit code defaults to 0 when running, paused or created, else
      (exited, dead, restarting: the last exit) 1, or 137 with ``oom_killed``; a
      stopped container finishes 1 h before ``NOW`` unless ``finished`` says
      otherwise; non-running containers get no IP address.
    - ``networks``: names, or ``{network: aliases}``; each running endpoint gets
      a stable IP (override with ``ips``); ``dns_names=True`` also fills
      ``DNSNames`` (name, aliases, short id) as Engine API ≥ 1.44 does.
    - ``volumes``: named volumes mounted at the Postgres data dir (shorthand);
      ``mounts``: raw ``Mounts`` rows (``volume_mount``, ``anonymous_mount``,
      ``bind_mount``).
    - ``health``: ``healthy``/``unhealthy``/``starting``: adds ``State.Health``
      with ``health_log`` outputs (strings, or ``(exit_code, output)``) and, unless
      ``healthcheck`` is given, a ``CMD-SHELL true`` health check in the config.
      ``healthcheck=["NONE"]`` is a disabled check.
    - ``port_bindings``: ``{"8000/tcp": "8000"}`` or ``{"5432": ["127.0.0.1:5432"]}``.
    - ``config``/``host_config``: raw keys merged last into ``Config``/``HostConfig``.
    """
    cid = object_id(name)
    running = state in _RUNNING_STATES
    created_ts = timestamp(created)
    if started is None:
        started = None if state == "created" else created
    if finished is None and not running and state != "created":
        finished = NOW - timedelta(hours=1)
    if exit_code is None:
        up = state in {"running", "paused", "created"}
        exit_code = 0 if up else (137 if oom_killed else 1)

    all_labels: dict[str, str] = {}
    if project is not None:
        wd = working_dir or f"/srv/{project}"
        svc = service or name
        all_labels = {
            COMPOSE_PROJECT: project,
            COMPOSE_SERVICE: svc,
            COMPOSE_WORKING_DIR: wd,
            COMPOSE_CONFIG_FILES: config_files or f"{wd}/docker-compose.yml",
            COMPOSE_ONEOFF: "True" if oneoff else "False",
            COMPOSE_CONTAINER_NUMBER: str(number),
            COMPOSE_CONFIG_HASH: config_hash or object_id(f"{project}/{svc}/config"),
            "com.docker.compose.version": "2.24.5",
        }
        if environment_file is not None:
            all_labels[COMPOSE_ENV_FILE] = environment_file
    all_labels.update(labels or {})

    state_json: dict[str, Any] = {
        "Status": state,
        "Running": running,
        "Paused": state == "paused",
        "Restarting": state == "restarting",
        "OOMKilled": oom_killed,
        "Dead": state == "dead",
        "Pid": 4242 if running else 0,
        "ExitCode": exit_code,
        "Error": error,
        "StartedAt": timestamp(started),
        "FinishedAt": timestamp(finished),
    }
    healthcheck_json: dict[str, Any] | None = None
    if healthcheck is not None:
        healthcheck_json = {"Test": list(healthcheck)}
    elif health is not None:
        healthcheck_json = {"Test": ["CMD-SHELL", "true"], "Interval": 10_000_000_000}
    if health is not None:
        log = []
        for i, entry in enumerate(health_log):
            code, output = (
                entry
                if isinstance(entry, tuple)
                else (
                    1 if health == "unhealthy" else 0,
                    entry,
                )
            )
            when = NOW - timedelta(seconds=10 * (len(health_log) - i))
            log.append(
                {
                    "Start": timestamp(when),
                    "End": timestamp(when + timedelta(milliseconds=40)),
                    "ExitCode": code,
                    "Output": output,
                }
            )
        streak = failing_streak
        if streak is None:
            streak = sum(1 for e in log if e["ExitCode"] != 0) if health == "unhealthy" else 0
        state_json["Health"] = {"Status": health, "FailingStreak": streak, "Log": log}

    if isinstance(networks, Mapping):
        net_aliases: dict[str, list[str]] = {n: list(a) for n, a in networks.items()}
    else:
        net_aliases = {n: [] for n in networks or ()}
    endpoints: dict[str, Any] = {}
    for net, aliases in net_aliases.items():
        ip = (ips or {}).get(net, _ip(name, net)) if running else ""
        endpoint: dict[str, Any] = {
            "NetworkID": object_id(f"network:{net}"),
            "EndpointID": object_id(f"endpoint:{net}/{name}") if running else "",
            "IPAddress": ip,
            "Aliases": aliases or None,
            "Gateway": ip.rsplit(".", 1)[0] + ".1" if ip else "",
        }
        if dns_names:
            endpoint["DNSNames"] = [name, *aliases, cid[:12]]
        endpoints[net] = endpoint

    all_mounts = [*(volume_mount(v) for v in volumes), *(dict(m) for m in mounts)]
    config_json: dict[str, Any] = {
        "Hostname": cid[:12],
        "Image": image,
        "Env": [f"{k}={v}" for k, v in (env or {}).items()]
        + ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Labels": all_labels,
        "Cmd": list(cmd) if cmd is not None else None,
        "Entrypoint": list(entrypoint) if entrypoint is not None else None,
        "ExposedPorts": {(p if "/" in p else f"{p}/tcp"): {} for p in exposed_ports} or None,
        "Volumes": None,
    }
    if healthcheck_json is not None:
        config_json["Healthcheck"] = healthcheck_json
    config_json.update(config or {})
    host_config_json: dict[str, Any] = {
        "NetworkMode": next(iter(net_aliases), "default"),
        "RestartPolicy": {"Name": restart_policy, "MaximumRetryCount": 0},
        "PortBindings": _port_bindings(port_bindings or {}),
        "Binds": None,
    }
    host_config_json.update(host_config or {})
    payload: dict[str, Any] = {
        "Id": cid,
        "Name": f"/{name}",
        "Created": created_ts,
        "Image": "sha256:" + object_id(f"image:{image}"),
        "RestartCount": restart_count,
        "LogPath": f"/var/lib/docker/containers/{cid}/{cid}-json.log",
        "State": state_json,
        "Config": config_json,
        "HostConfig": host_config_json,
        "Mounts": all_mounts,
        "NetworkSettings": {"Networks": endpoints},
    }
    return ContainerDetails.model_validate(payload)


# --- other Engine objects -----------------------------------------------------


def network(
    name: str,
    *,
    project: str | None = None,
    driver: str = "bridge",
    internal: bool = False,
    labels: Mapping[str, str] | None = None,
) -> NetworkSummary:
    """A network; with ``project`` it carries compose's labels (network key: name minus prefix)."""
    all_labels: dict[str, str] = {}
    if project is not None:
        key = name.removeprefix(f"{project}_")
        all_labels = {COMPOSE_PROJECT: project, COMPOSE_NETWORK: key}
    all_labels.update(labels or {})
    return NetworkSummary.model_validate(
        {
            "Id": object_id(f"network:{name}"),
            "Name": name,
            "Driver": driver,
            "Internal": internal,
            "Labels": all_labels,
        }
    )


def volume(
    name: str,
    *,
    project: str | None = None,
    compose_volume: str | None = None,
    created: datetime | str = OLD,
    size: int = -1,
    ref_count: int = -1,
    labels: Mapping[str, str] | None = None,
) -> Volume:
    """A volume as ``/system/df`` lists it (``size``/``ref_count`` -1: unknown).

    With ``project`` it carries compose's labels; the compose volume key defaults
    to ``name`` minus the ``<project>_`` prefix.
    """
    all_labels: dict[str, str] = {}
    if project is not None:
        all_labels = {
            COMPOSE_PROJECT: project,
            COMPOSE_VOLUME: compose_volume or name.removeprefix(f"{project}_"),
            "com.docker.compose.version": "2.24.5",
        }
    all_labels.update(labels or {})
    return Volume.model_validate(
        {
            "Name": name,
            "Driver": "local",
            "Mountpoint": f"/var/lib/docker/volumes/{name}/_data",
            "CreatedAt": timestamp(created),
            "Labels": all_labels,
            "Scope": "local",
            "UsageData": {"Size": size, "RefCount": ref_count},
        }
    )


def filesystem(
    mount: str = "/",
    *,
    paths: Sequence[str] = ("/", "/var/lib/docker"),
    size_gib: float = 50,
    percent: float = 40,
    inodes_total: int | None = 3_276_800,
    inodes_percent: float | None = 10,
) -> FilesystemFacts:
    """A filesystem ``percent`` full (by ``used / (used + available)``, as ``df``)."""
    size = int(size_gib * GIB)
    used = int(size * percent / 100)
    inodes_used = None
    if inodes_total is not None and inodes_percent is not None:
        inodes_used = int(inodes_total * inodes_percent / 100)
    return FilesystemFacts(
        mount=mount,
        paths=tuple(paths),
        size=size,
        used=used,
        available=size - used,
        inodes_total=inodes_total,
        inodes_used=inodes_used,
    )


def env_file(path: str, values: Mapping[str, str], error: str | None = None) -> EnvFileFacts:
    return EnvFileFacts(path=path, values=dict(values), error=error)


def _derived_networks(containers: Iterable[ContainerDetails]) -> tuple[NetworkSummary, ...]:
    found: dict[str, str | None] = {}
    for c in containers:
        for net in c.networks:
            project = c.compose_project
            owner = project if project and net.startswith(f"{project}_") else None
            found[net] = found.get(net) or owner
    return tuple(network(n, project=p) for n, p in sorted(found.items()))


def _derived_volumes(containers: Iterable[ContainerDetails]) -> tuple[Volume, ...]:
    found: dict[str, str | None] = {}
    for c in containers:
        for m in c.mounts:
            if m.type != "volume" or not m.name:
                continue
            project = c.compose_project
            owner = project if project and m.name.startswith(f"{project}_") else None
            found[m.name] = found.get(m.name) or owner
    return tuple(volume(n, project=p, ref_count=1) for n, p in sorted(found.items()))


def facts(
    containers: Iterable[ContainerDetails] = (),
    *,
    declared: Mapping[str, StackConfig] | None = None,
    environment: str = ENVIRONMENT,
    host: str = HOST,
    now: datetime = NOW,
    uptime_seconds: float | None = 30 * 86400,
    filesystems: Sequence[FilesystemFacts] | None = None,
    docker_reclaimable: int | None = 2 * GIB,
    networks: Sequence[NetworkSummary] | None = None,
    volumes: Sequence[Volume] | None = None,
    env_files: Mapping[str, Mapping[str, str] | EnvFileFacts] | None = None,
    docker_root_dir: str = "/var/lib/docker",
    **more: Any,
) -> HostFacts:
    """``HostFacts`` for these containers, with ``stacks`` from ``discover_stacks``.

    ``declared`` is the inventory's stacks for this host. ``networks``/``volumes``
    default to those the containers use (compose-labelled when named
    ``<project>_…``; volumes with unknown size, ``RefCount`` 1); pass them to
    control exactly what the host has. ``env_files`` maps a path to its values
    (or an ``EnvFileFacts``). ``filesystems`` defaults to one healthy ``/``.
    Any other ``HostFacts`` field (``databases``, ``resolutions``,
    ``proxy_logs``, ``migration_checks``, ``unfinished``) passes through ``more``.
    """
    items = tuple(containers)
    files: dict[str, EnvFileFacts] = {}
    for path, value in (env_files or {}).items():
        files[path] = value if isinstance(value, EnvFileFacts) else env_file(path, value)
    return HostFacts(
        environment=environment,
        host=host,
        now=now,
        info=EngineInfo.model_validate(
            {
                "Name": host,
                "DockerRootDir": docker_root_dir,
                "ServerVersion": "24.0.7",
                "Containers": len(items),
                "ContainersRunning": sum(1 for c in items if c.state.running),
            }
        ),
        uptime_seconds=uptime_seconds,
        filesystems=tuple(filesystems) if filesystems is not None else (filesystem(),),
        docker_reclaimable=docker_reclaimable,
        containers=items,
        networks=tuple(networks) if networks is not None else _derived_networks(items),
        volumes=tuple(volumes) if volumes is not None else _derived_volumes(items),
        stacks=discover_stacks(items, declared or {}),
        env_files=files,
        **more,
    )


# --- the lab's healthy stack --------------------------------------------------


def lab_env(project: str = "shop", secret: str = PLANTED_SECRET) -> dict[str, str]:
    """The values of the lab stack's ``.env`` (``secret`` is its SECRET_KEY and password)."""
    return {
        "POSTGRES_USER": "shop",
        "POSTGRES_PASSWORD": secret,
        "POSTGRES_DB": project,
        "DATABASE_URL": f"postgresql://shop:{secret}@db:5432/{project}",
        "SECRET_KEY": secret,
        "DEBUG": "0",
    }


def lab_stack(
    project: str = "shop",
    *,
    env: Mapping[str, str] | None = None,
    created: datetime | str = OLD,
    working_dir: str | None = None,
    db_env_file: bool = False,
) -> list[ContainerDetails]:
    """The healthy lab stack: ``backend`` (``env_file: .env``), ``db`` (``environment:``
    ``POSTGRES_USER: ${POSTGRES_USER}`` …, named volume ``<project>_pgdata``, health
    check ``pg_isready``) and ``nginx`` (no env, port 80 published), on
    ``<project>_default``; ``env`` is the env file's values (default ``lab_env``)."""
    values = dict(env if env is not None else lab_env(project))
    net = f"{project}_default"
    wd = working_dir or f"/srv/{project}"
    db_keys = ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
    db_env: dict[str, str] = {k: values[k] for k in db_keys if k in values}
    if db_env_file:
        db_env = dict(values)
    db_env["PGDATA"] = "/var/lib/postgresql/data"
    return [
        container(
            f"{project}-backend-1",
            project=project,
            service="backend",
            image=f"{project}-backend:latest",
            env={**values, "PYTHONUNBUFFERED": "1"},
            networks={net: ["backend"]},
            cmd=["python3", "/app/server.py"],
            exposed_ports=["8000"],
            health="healthy",
            health_log=['{"status": "ok"}'],
            healthcheck=[
                "CMD",
                "python3",
                "-c",
                "urllib.request.urlopen('http://127.0.0.1:8000/health')",
            ],
            created=created,
            working_dir=wd,
        ),
        container(
            f"{project}-db-1",
            project=project,
            service="db",
            image="lab/postgres:16",
            env=db_env,
            networks={net: ["db"]},
            volumes=[f"{project}_pgdata"],
            entrypoint=["docker-entrypoint.sh"],
            cmd=["postgres"],
            exposed_ports=["5432"],
            health="healthy",
            health_log=["/var/run/postgresql:5432 - accepting connections\n"] * 3,
            healthcheck=["CMD-SHELL", "pg_isready -h 127.0.0.1 -U shop"],
            created=created,
            working_dir=wd,
        ),
        container(
            f"{project}-nginx-1",
            project=project,
            service="nginx",
            image="lab/nginx:latest",
            networks={net: ["nginx"]},
            cmd=["nginx", "-g", "daemon off;"],
            exposed_ports=["80"],
            port_bindings={"80/tcp": "8080"},
            created=created,
            working_dir=wd,
        ),
    ]
