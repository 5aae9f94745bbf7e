"""Recreate one service (or container) so it reloads its env file.

The fix for ``env.drift``: the env file on disk changed after the container
was created, and a restart keeps the old environment. Destructive: the
container is replaced by a new one (new id, processes started afresh).

Two paths, chosen by the container's labels:

- **compose** (it carries ``com.docker.compose.project``/``service``): one
  argv, run on the host, never through a shell string::

      env DOCKER_HOST=unix://SOCKET COMPOSE -p PROJECT --project-directory WORKING_DIR
          -f FILE… [--env-file FILE…] up -d --no-deps --force-recreate SERVICE

  ``-p`` keeps every other project's containers out of it (seed 004: a staging
  deploy recreated production), ``--no-deps`` leaves the service's
  dependencies as they are, ``--project-directory`` resolves relative paths as
  at deploy time, ``--env-file`` only when the project label says one was
  used. Files and working dir come from the container's labels (compose v1
  writes the files relative to the working dir: joined). ``COMPOSE`` is
  ``docker compose`` (v2) when the host has ``docker`` and a compose CLI plugin
  in a standard place, else ``docker-compose`` (v1, or v2's standalone binary:
  the same flags); apply checks that ``COMPOSE version`` runs before anything.
- **API** (no compose labels: a container started by hand with ``docker run``):
  ``env_file`` (absolute, on the host) is required. The container is stopped,
  renamed ``<name>-old-<short id>``, and a clone is created under its name:
  ``Config`` (image, cmd, entrypoint, labels, health check, exposed ports,
  volumes) with ``Env`` = the old environment with the env file's keys
  replaced or added (nothing removed: the image's own variables stay),
  ``HostConfig`` as inspect returns it (binds, port bindings, restart policy,
  mounts, network mode, limits), the primary network with its aliases at
  create and any other network connected before start. It is started when the
  old one ran, then the old one is removed. When a step after the stop fails,
  the old container is put back (new one removed, renamed back, started).
  The image is the one the old container ran: its tag when the tag still
  points at it, else its id. Carried over too: ``User``, ``WorkingDir``,
  ``StopSignal``, ``StopTimeout``, ``Tty``, ``OpenStdin`` and the static
  address on the primary network. Not carried over: a static address on
  another network (connected without one).

Nothing to do (empty plan) when the running container already has what it
would get: compose path, the stack's env file(s) read on the host compared as
``env.drift`` compares them (a container that loads the whole file: keys
added or changed; otherwise, and for the database, keys changed among those
it has); API path, every key of ``env_file`` present with the same value.

Refused when recreating would leave an anonymous volume with data behind (a
mount of a volume named by 64 hex digits without a ``com.docker.compose.volume``
label, whose size in ``/system/df`` is above zero or unknown); when the
container, project or service does not exist; when no env file can be read.

Plan, steps and outcomes name env keys, never values: ``before``/``after``
hold the short id, created time and the names of keys that change.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
import shlex
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Self

from pydantic import Field, model_validator

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.compose_cli import DRY_RUN_BEFORE, parse_dry_run
from bot.framework.runbook import Risk
from bot.framework.session import CommandResult, HostSession
from bot.inventory.discovery import discover_stacks
from bot.model.docker_objects import (
    COMPOSE_CONFIG_FILES,
    COMPOSE_ENV_FILE,
    COMPOSE_PROJECT,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    ImageUsage,
)
from bot.model.errors import DockerObjectNotFound, HostError
from bot.model.findings import Finding
from bot.model.units import human_size
from bot.redaction.redact import redact_text
from runbooks._compose import absolute_paths, compose_prefix
from runbooks._compose_files import compose_file_facts
from runbooks._settle import SETTLE_SECONDS, settle
from runbooks._stacks import creation, inspect_existing
from runbooks.diagnose.checks_config import POSTGRES_INIT_KEYS, loads_env_file
from runbooks.diagnose.envfile import parse_env_file

NAME = "container.recreate"
STOP_TIMEOUT = 10
MAX_KEYS_SHOWN = 4
COMPOSE_TIMEOUT = 300.0
ENV_FILE_MAX = 256 * 1024
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_HOST_NETWORK_MODES = ("host", "none")
ROLLBACK_SUFFIX = "-stackbot-rollback"
ROLLBACK_LABEL = "org.stackbot.rollback-of"
ReadFile = Callable[..., Awaitable[bytes]]


class Params(HostParams):
    project: str | None = Field(None, description="compose project (give service too)")
    service: str | None = Field(None, description="compose service of that project")
    container: str | None = Field(None, description="or: the container (name or id)")
    env_file: str | None = Field(
        None,
        description="absolute path on the host of the env file a container started by hand "
        "(docker run, no compose labels) should get; required for such a container",
    )
    settle: float = Field(
        SETTLE_SECONDS,
        ge=0,
        le=600,
        description="seconds the new container must stay up (healthy, with a health check) "
        "before the recreate counts as done; else the old one is put back",
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        by_service = self.project is not None or self.service is not None
        if by_service and self.container is not None:
            raise ValueError("give either project and service, or container, not both")
        if by_service and not (self.project and self.service):
            raise ValueError("project and service go together")
        if not by_service and not self.container:
            raise ValueError("name the container, or the compose project and service")
        if by_service and self.env_file is not None:
            raise ValueError(
                "env_file is for containers started by hand; compose reads the project's own"
            )
        if self.env_file is not None and not posixpath.isabs(self.env_file):
            raise ValueError("env_file must be an absolute path on the host")
        return self


# --- small pure helpers ---------------------------------------------------------------


def compose_argv(
    compose: Sequence[str],
    *,
    socket: str,
    project: str,
    working_dir: str,
    config_files: Sequence[str],
    env_files: Sequence[str],
    service: str,
    dry_run: bool = False,
) -> list[str]:
    """The one command of the compose path (see the module docstring)."""
    argv = compose_prefix(
        compose,
        socket=socket,
        project=project,
        working_dir=working_dir,
        config_files=config_files,
        env_files=env_files,
    )
    dry = ["--dry-run"] if dry_run else []
    # never -y (it answers "Recreate volume (data will be lost)?" for us); `--` so a
    # service name can never read as an option; stdin is closed by the transport
    return [*argv, "up", "-d", "--no-deps", "--force-recreate", *dry, "--", service]


def dry_run_refusal(
    said: list[tuple[str, str, str]], project: str, service: str, others: Iterable[str]
) -> str | None:
    """Why compose's own dry run forbids the recreate: a volume it would create or
    recreate, or a container of another project it would touch."""
    foreign = set(others)
    for kind, name, what in said:
        if kind == "Volume" and what.lower().startswith(("creat", "recreat", "remov")):
            return (
                f"compose's dry run says it would {what.lower()} volume {name} for {project}: "
                "the data the service had may not be in it; nothing was run (give the volume "
                "an explicit `name:` in the compose file, or restore it first)"
            )
        if kind == "Container" and name.lstrip("/") in foreign:
            return (
                f"compose's dry run says it would touch container {name}, which is not of "
                f"project {project}; nothing was run"
            )
    return None


def env_changes(
    env: dict[str, str], file: dict[str, str], *, added_too: bool = True
) -> tuple[list[str], list[str]]:
    """Key names (changed, added): the file's keys whose value differs / that are absent."""
    changed = sorted(k for k in file if k in env and env[k] != file[k])
    added = sorted(k for k in file if k not in env) if added_too else []
    return changed, added


def merged_env(old: Iterable[str], file: dict[str, str]) -> list[str]:
    """The old ``Env`` list with the file's keys replaced in place and new ones appended."""
    out: list[str] = []
    seen: set[str] = set()
    for item in old:
        key = item.partition("=")[0]
        if key in file:
            out.append(f"{key}={file[key]}")
            seen.add(key)
        else:
            out.append(item)
    return out + [f"{k}={v}" for k, v in file.items() if k not in seen]


def _short(c: ContainerDetails) -> str:
    return c.id[:12]


def _created(c: ContainerDetails) -> str:
    return c.created.isoformat() if c.created else "unknown"


def _state(
    containers: Sequence[ContainerDetails],
    changed: Iterable[str],
    added: Iterable[str],
    env_files: Sequence[str],
) -> dict[str, Any]:
    return {
        "container": ", ".join(c.name for c in containers),
        "id": ", ".join(_short(c) for c in containers),
        "created": ", ".join(_created(c) for c in containers),
        "env_files": list(env_files),
        "keys_changed": sorted(set(changed)),
        "keys_added": sorted(set(added)),
    }


def _after(before: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        **before,
        "id": "new",
        "created": "at apply",
        "keys_changed": [],
        "keys_added": [],
        **extra,
    }


def _refused(base: Plan, reason: str, before: dict[str, Any] | None = None) -> Plan:
    return base.model_copy(update={"before": before or {}, "refusal": reason})


# --- reads shared by both paths -------------------------------------------------------


async def _read_env_files(
    read: ReadFile, paths: Sequence[str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """Merged values (later files win), the paths read, the paths that could not be read."""
    values: dict[str, str] = {}
    done: list[str] = []
    failed: list[str] = []
    for path in paths:
        try:
            raw: bytes = await read(path, max_bytes=ENV_FILE_MAX)
        except (HostError, OSError):
            failed.append(path)
            continue
        values.update(parse_env_file(raw.decode("utf-8", errors="replace")))
        done.append(path)
    return values, done, failed


async def anonymous_volume_refusal(
    view: ReadOnlyHost, containers: Sequence[ContainerDetails]
) -> str | None:
    """Why recreating would lose data in an anonymous volume, or None."""
    mounts = [
        (c, m)
        for c in containers
        for m in c.mounts
        if m.type == "volume" and m.name and _ANONYMOUS.match(m.name)
    ]
    if not mounts:
        return None
    volumes = {v.name: v for v in (await view.docker.disk_usage()).volumes}
    for c, m in mounts:
        volume = volumes.get(m.name or "")
        if volume is not None and volume.compose_volume:
            continue
        size = volume.usage.size if volume is not None and volume.usage is not None else -1
        if size == 0:
            continue
        held = f"{human_size(size, binary=True)} of data" if size > 0 else "data of unknown size"
        return (
            f"recreating {c.name} would leave its anonymous volume {m.name} "
            f"(mounted at {m.destination}, {held}) behind: the new container would start "
            f"with an empty {m.destination}. To keep the data, copy it into a named volume "
            f"(docker volume create NAME; docker run --rm -v {m.name}:/from -v NAME:/to "
            f"IMAGE cp -a /from/. /to/) and mount NAME at {m.destination} instead "
            "(-v NAME:… or a named volume in the compose file), then recreate"
        )
    return None


# --- plan -----------------------------------------------------------------------------


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    if params.container is not None:
        target = {"container": params.container}
        try:
            container = await view.docker.inspect_container(params.container)
        except DockerObjectNotFound:
            base = Plan(action=NAME, target=target, destructive=True)
            return _refused(
                base,
                f"container {params.container} does not exist (any more)",
                {"container": "absent"},
            )
        project, service = container.compose_project, container.compose_service
        if project and service:
            target = {**target, "project": project, "service": service}
            if params.env_file is not None:
                base = Plan(action=NAME, target=target, destructive=True)
                return _refused(
                    base,
                    f"{container.name} is service {service} of compose project {project}: "
                    "it is recreated through compose, which reads the project's env files; "
                    "leave env_file out",
                    {"container": container.name, "id": _short(container)},
                )
            return await _plan_compose(view, target, project, service)
        return await _plan_api(view, params, target, container)
    assert params.project is not None and params.service is not None  # the validator says so
    target = {"project": params.project, "service": params.service}
    return await _plan_compose(view, target, params.project, params.service)


async def _project_containers(view: ReadOnlyHost, project: str) -> list[ContainerDetails]:
    ids = [s.id for s in await view.docker.containers() if s.compose_project == project]
    found = await inspect_existing(view.docker.inspect_container, ids)
    return [c for c in found if c.labels.get(COMPOSE_PROJECT) == project]


async def _plan_compose(
    view: ReadOnlyHost, target: dict[str, str], project: str, service: str
) -> Plan:
    base = Plan(action=NAME, target=target, destructive=True)
    containers = await _project_containers(view, project)
    if not containers:
        return _refused(
            base,
            f"compose project {project} does not exist (any more): no container carries it",
            {"project": "absent"},
        )
    stack = next(s for s in discover_stacks(containers, view.host.stacks).stacks if s.found)
    svc = stack.services.get(service)
    if svc is None:
        known = ", ".join(sorted(stack.services)) or "none"
        return _refused(
            base,
            f"service {service} of project {project} does not exist (any more) (services: {known})",
            {"service": "absent"},
        )
    targets = svc.containers
    newest = max(targets, key=creation)
    working_dir = newest.labels.get(COMPOSE_WORKING_DIR) or stack.working_dir
    if not working_dir:
        return _refused(
            base,
            f"{newest.name} has no compose working-dir label: cannot tell where to run compose",
            _state(targets, (), (), ()),
        )
    config_files = absolute_paths(newest.labels.get(COMPOSE_CONFIG_FILES, ""), working_dir)
    config_files = config_files or stack.config_files
    if not config_files:
        return _refused(
            base,
            f"{newest.name} names no compose file (label {COMPOSE_CONFIG_FILES}) and the "
            "inventory declares none",
            _state(targets, (), (), ()),
        )
    flag_env_files = absolute_paths(newest.labels.get(COMPOSE_ENV_FILE, ""), working_dir)

    file, read, failed = await _read_env_files(view.read_file, stack.env_files)
    # the service's own `env_file:` entries: compose loads each whole into the container
    compose_files = await compose_file_facts(view.read_file, config_files, project)
    own_paths = [p for p in compose_files.env_files.get(service, ()) if p not in stack.env_files]
    # keys the service's `environment:` sets to a literal win over every env file
    fixed = compose_files.environment_keys.get(service, frozenset())
    own, own_read, own_failed = await _read_env_files(view.read_file, own_paths)
    compared = [*own_read, *read]
    if not compared:
        paths = ", ".join([*own_paths, *stack.env_files]) or "none known"
        return _refused(
            base,
            f"cannot read the env file(s) of project {project} ({paths}): there is nothing "
            "to compare with, and nothing a recreate would reload",
            _state(targets, (), (), [*own_paths, *stack.env_files]),
        )
    is_db = service == stack.roles.database
    changed: list[str] = []
    added: list[str] = []
    for c in targets:
        env = c.config.env_map()
        loads = loads_env_file(c, file, stack.containers)
        more_changed, more_added = env_changes(env, file, added_too=loads and not is_db)
        own_changed, own_added = env_changes(env, own)
        changed += [*more_changed, *own_changed]
        added += [*more_added, *own_added]
    changed, added = sorted(set(changed) - fixed), sorted(set(added) - fixed)
    before = _state(targets, changed, added, compared)
    notes = [f"could not read {p}: left out of the comparison" for p in [*own_failed, *failed]]
    if not changed and not added:
        notes.append(f"{service} already runs with what {', '.join(compared)} holds")
        return base.model_copy(update={"before": before, "after": before, "notes": tuple(notes)})

    refusal = await anonymous_volume_refusal(view, targets)
    if refusal:
        return _refused(base, refusal, before)
    compose = await view.compose()
    if compose is None:
        return _refused(
            base,
            "the host has neither `docker compose` (v2 plugin) nor `docker-compose` (v1) "
            "on its PATH",
            before,
        )
    # exactly the env files the plan compared with: compose interpolates from them
    # (seed 004: staging's file, never the default .env of production's values)
    env_files = list(dict.fromkeys([*flag_env_files, *read]))
    arguments: dict[str, Any] = {
        "socket": view.host.docker_socket,
        "project": project,
        "working_dir": working_dir,
        "config_files": config_files,
        "env_files": env_files,
        "service": service,
    }
    argv = compose_argv(compose.argv, **arguments)
    if compose.dry_run_stays_dry:
        dry = await view.compose_dry_run(compose_argv(compose.argv, dry_run=True, **arguments))
        said = parse_dry_run(dry.stderr + "\n" + dry.stdout)
        if not dry.ok:
            tail = " | ".join((dry.stderr or dry.stdout).strip().splitlines()[-2:])
            return _refused(
                base,
                f"compose's dry run of this recreate failed (status {dry.exit_status}): "
                f"{redact_text(tail)}; nothing was run",
                before,
            )
        everyone = await view.docker.containers(all=True)
        others = [
            name.lstrip("/")
            for c in everyone
            if c.labels.get(COMPOSE_PROJECT) != project
            for name in c.names
        ]
        refusal = dry_run_refusal(said, project, service, others)
        if refusal:
            return _refused(base, refusal, before)
        shown = "; ".join(f"{kind.lower()} {name}: {what}" for kind, name, what in said[:8])
        notes.append(f"compose's own dry run of this up: {shown or 'nothing to do'}")
    elif compose.version_tuple >= DRY_RUN_BEFORE:
        notes.append(
            f"{compose.label}: its dry run is not run (compose#14029: v5's `up -d --dry-run` "
            "was seen recreating for real): the command above is exactly what will run"
        )
    else:
        notes.append(f"{compose.label} has no dry run: the command above is exactly what will run")
    loaded = ", ".join(dict.fromkeys([*own_read, *env_files])) or "no env file"
    step = Step(
        description=f"recreate service {service} of project {project} through compose "
        f"({compose.label}) with {loaded}, only it: no "
        "dependencies, no other project or environment; the old container is kept aside "
        "and put back if the new one does not stay up",
        call=shlex.join(argv),
    )
    if is_db and changed and not added and all(k in POSTGRES_INIT_KEYS for k in changed):
        notes.append(
            "Postgres applies POSTGRES_* init keys only to an empty data directory: recreating "
            "will not change the user or password (use ALTER USER)"
        )
    return base.model_copy(
        update={
            "before": before,
            "after": _after(before),
            "steps": (step,),
            "notes": tuple(notes),
        }
    )


def image_for_clone(c: ContainerDetails, images: Sequence[ImageUsage]) -> tuple[str, str | None]:
    """The image reference for the clone, and a note when it is not the old tag."""
    name = c.config.image
    if not name or name.startswith("sha256:") or "@" in name:
        return name or c.image_id, None
    tagged = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
    current = next((i for i in images if tagged in i.repo_tags), None)
    if current is not None and current.id == c.image_id:
        return name, None
    return c.image_id, (
        f"{name} now names another image (or none): the new container keeps the image "
        f"{c.image_id[:19]} the old one ran"
    )


def primary_network(c: ContainerDetails) -> str | None:
    """The network given at create (``NetworkMode``); None for host/none/container:… modes."""
    mode = str(c.host_config.get("NetworkMode") or "")
    if mode in _HOST_NETWORK_MODES or mode.startswith("container:"):
        return None
    if mode in c.networks:
        return mode
    if mode == "default" and "bridge" in c.networks:
        return "bridge"
    return min(c.networks) if c.networks else None


def _aliases(c: ContainerDetails, network: str) -> list[str]:
    """User aliases on ``network`` (the engine's own short-id alias left out)."""
    return [a for a in c.networks[network].aliases if a not in (_short(c), c.id)]


def clone_body(c: ContainerDetails, env: list[str], image: str) -> dict[str, Any]:
    """``POST /containers/create`` body: ``c``'s configuration with ``env``."""
    config = c.config
    body: dict[str, Any] = {
        "Image": image,
        "Env": env,
        "Cmd": list(config.cmd) or None,
        "Entrypoint": list(config.entrypoint) or None,
        "Labels": dict(config.labels),
        "ExposedPorts": dict(config.exposed_ports) or None,
        "Volumes": dict(config.volumes) or None,
        "HostConfig": dict(c.host_config),
    }
    if config.healthcheck is not None:
        body["Healthcheck"] = dict(config.healthcheck)
    # what the container ran as, where, and how it stops (else the image's defaults)
    body.update(
        {
            key: value
            for key, value in (
                ("User", config.user),
                ("WorkingDir", config.working_dir),
                ("StopSignal", config.stop_signal),
                ("StopTimeout", config.stop_timeout),
                ("Tty", config.tty),
                ("OpenStdin", config.open_stdin),
            )
            if value
        }
    )
    primary = primary_network(c)
    if primary is not None:
        endpoint: dict[str, Any] = {}
        aliases = _aliases(c, primary)
        if aliases:
            endpoint["Aliases"] = aliases
        static = c.networks[primary].ipam_config
        if static:
            endpoint["IPAMConfig"] = dict(static)
        body["NetworkingConfig"] = {"EndpointsConfig": {primary: endpoint}}
    return body


def extra_networks(c: ContainerDetails) -> list[str]:
    """Networks connected after create (API < 1.44 takes one network at create)."""
    primary = primary_network(c)
    if primary is None:
        return []
    return sorted(n for n in c.networks if n != primary)


def old_name(c: ContainerDetails) -> str:
    return f"{c.name}-old-{_short(c)}"


def api_steps(
    c: ContainerDetails, image: str, env_file: str, changed: Sequence[str], added: Sequence[str]
) -> dict[str, Step]:
    """The API path's steps by key (``stop``, ``rename``, ``create``, ``connect:NET``,
    ``start``, ``remove``), in order; plan shows them, apply runs them."""
    name, old = c.name, old_name(c)
    keys = [*changed, *added]
    shown = ", ".join(keys[:MAX_KEYS_SHOWN]) + (
        f" and {len(keys) - MAX_KEYS_SHOWN} more" if len(keys) > MAX_KEYS_SHOWN else ""
    )
    steps: dict[str, Step] = {}
    if c.state.running:
        steps["stop"] = Step(
            description=f"stop {name} (waits up to {STOP_TIMEOUT} s)",
            call=f"POST /containers/{name}/stop?t={STOP_TIMEOUT}",
        )
    steps["rename"] = Step(
        description=f"rename {name} to {old} (kept until the new one is up)",
        call=f"POST /containers/{name}/rename?name={old}",
    )
    as_old = f"<as {old}>"
    summary: dict[str, Any] = {
        "Image": image,
        "Env": f"<Env of {old}, with {', '.join(keys)} from {env_file}: values not shown>",
        "Cmd, Entrypoint, Labels, Healthcheck, ExposedPorts, Volumes, User, WorkingDir, "
        "StopSignal": as_old,
        "HostConfig": as_old,
    }
    primary = primary_network(c)
    if primary is not None:
        aliases = _aliases(c, primary)
        summary["NetworkingConfig"] = {
            "EndpointsConfig": {primary: {"Aliases": aliases} if aliases else {}}
        }
    steps["create"] = Step(
        description=f"create a new {name} configured as {old}, with {shown} from {env_file}",
        call=f"POST /containers/create?name={name} {json.dumps(summary)}",
    )
    for network in extra_networks(c):
        aliases = _aliases(c, network)
        body: dict[str, Any] = {"Container": name}
        if aliases:
            body["EndpointConfig"] = {"Aliases": aliases}
        steps[f"connect:{network}"] = Step(
            description=f"connect {name} to {network}"
            + (f" as {', '.join(aliases)}" if aliases else ""),
            call=f"POST /networks/{network}/connect {json.dumps(body)}",
        )
    if c.state.running:
        steps["start"] = Step(
            description=f"start the new {name}", call=f"POST /containers/{name}/start"
        )
    steps["remove"] = Step(
        description=f"remove the old container {old}", call=f"DELETE /containers/{old}"
    )
    return steps


async def _plan_api(
    view: ReadOnlyHost, params: Params, target: dict[str, str], c: ContainerDetails
) -> Plan:
    base = Plan(action=NAME, target=target, destructive=True)
    if params.env_file is None:
        return _refused(
            base,
            f"{c.name} carries no compose labels (started by hand): name the env file it "
            "should load with env_file=/absolute/path/on/the/host",
            _state([c], (), (), ()),
        )
    file, read, _ = await _read_env_files(view.read_file, [params.env_file])
    if not read:
        return _refused(base, f"cannot read {params.env_file} on the host", _state([c], (), (), ()))
    changed, added = env_changes(c.config.env_map(), file)
    before = {**_state([c], changed, added, read), "state": c.state.status}
    if not changed and not added:
        same = f"{c.name} already has every key of {params.env_file} with its value"
        return base.model_copy(update={"before": before, "after": before, "notes": (same,)})
    refusal = await anonymous_volume_refusal(view, [c])
    if refusal:
        return _refused(base, refusal, before)
    image, note = image_for_clone(c, (await view.docker.disk_usage()).images)
    steps = api_steps(c, image, params.env_file, changed, added)
    after = _after(before, image=image, state="running" if c.state.running else "created")
    return base.model_copy(
        update={
            "before": before,
            "after": after,
            "steps": tuple(steps.values()),
            "notes": (note,) if note else (),
        }
    )


# --- apply ----------------------------------------------------------------------------


def _failed(step: str, exc: HostError, secrets: Iterable[str], more: str = "") -> StepOutcome:
    detail = redact_text(exc.detail, known_secrets=secrets) + more
    return StepOutcome(step=step, ok=False, detail=detail)


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    if "project" in plan.target and "service" in plan.target:
        return await _apply_compose(session, plan, params.settle)
    return await _apply_api(session, params, plan)


async def _apply_compose(
    session: HostSession, plan: Plan, settle_seconds: float = SETTLE_SECONDS
) -> list[StepOutcome]:
    """Keep a stopped copy of each old container aside (no compose labels, so compose
    never sees it), run the planned compose command, then watch the new container
    settle. If compose fails or the new container does not stay up, the new one is
    removed and the copy takes the old name and state back: the result says so."""
    (step,) = plan.steps
    argv = shlex.split(step.call)  # exactly what the plan showed
    compose = argv[2 : argv.index("-p")]
    project, service = plan.target["project"], plan.target["service"]
    secrets, _, _ = await _read_env_files(session.read_file, plan.before.get("env_files", []))
    known = list(secrets.values())
    try:
        check = await session.run([*compose, "version"], check=False, timeout=60)
    except HostError as exc:
        return [_failed(step.description, exc, known, "; nothing changed")]
    if not check.ok:
        return [
            _command_failed(
                step.description, check, known, "compose does not run: ", "; nothing changed"
            )
        ]
    docker = session.docker
    olds = await _service_now(session, project, service)
    known += [v for c in olds for v in c.config.env_map().values()]
    aside: list[tuple[ContainerDetails, str]] = []
    try:
        for c in olds:
            clone = await docker.create_container(rollback_body(c), name=_aside_name(c))
            aside.append((c, clone))
    except HostError as exc:
        await _drop(session, [clone for _, clone in aside])
        return [_failed(step.description, exc, known, "; nothing changed (no copy aside)")]
    failed: StepOutcome | None
    try:
        result = await session.run(argv, timeout=COMPOSE_TIMEOUT, check=False)
    except HostError as exc:
        failed = _failed(step.description, exc, known)
    else:
        failed = None if result.ok else _command_failed(step.description, result, known)
    if failed is None:
        new = [
            c
            for c in await _service_now(session, project, service)
            if c.id not in {o.id for o in olds}
        ]
        if not new:
            failed = StepOutcome(
                step=step.description, ok=False, detail="compose left no new container"
            )
        else:
            watched = await settle(session.docker, [c.id for c in new], seconds=settle_seconds)
            if watched.ok:
                await _drop(session, [clone for _, clone in aside])
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
                said = redact_text(" ".join(tail), known_secrets=known)
                detail = f"{said}; {', '.join(c.name for c in new)} {watched.detail}"
                return [StepOutcome(step=step.description, ok=True, detail=detail.strip("; "))]
            logs = redact_text(watched.logs, known_secrets=known)
            detail = f"the new container did not stay up: {watched.detail}"
            if logs:
                detail += " — last lines: " + " ⏎ ".join(logs.splitlines()[-5:])
            failed = StepOutcome(step=step.description, ok=False, detail=detail)
    assert failed is not None
    return [failed, await _roll_back(session, project, service, aside, known)]


async def _service_now(session: HostSession, project: str, service: str) -> list[ContainerDetails]:
    """The service's containers now (not one-off, not a copy kept aside)."""
    return [
        c
        for c in await _project_containers(ReadOnlyHost(session), project)
        if c.compose_service == service
        and c.labels.get("com.docker.compose.oneoff", "False").lower() != "true"
    ]


def _aside_name(c: ContainerDetails) -> str:
    return f"{c.name}{ROLLBACK_SUFFIX}"


def rollback_body(c: ContainerDetails) -> dict[str, Any]:
    """A stopped copy of ``c`` (its image id, environment, mounts, ports, networks),
    without compose's labels so that compose never counts it as the service's."""
    body = clone_body(c, list(c.config.env), c.image_id or c.config.image)
    labels = {k: v for k, v in c.config.labels.items() if not k.startswith("com.docker.compose.")}
    body["Labels"] = {**labels, ROLLBACK_LABEL: c.id}
    return body


async def _drop(session: HostSession, ids: Iterable[str]) -> None:
    for ref in ids:
        # best effort: a leftover copy is named …-stackbot-rollback
        with contextlib.suppress(HostError):
            await session.docker.remove_container(ref, force=True)


async def _roll_back(
    session: HostSession,
    project: str,
    service: str,
    aside: list[tuple[ContainerDetails, str]],
    known: list[str],
) -> StepOutcome:
    """The new (or half-made) containers out, each old one back under its name."""
    docker = session.docker
    step = f"roll back service {service} of project {project} to the previous container"
    if not aside:
        return StepOutcome(
            step=step, ok=False, detail="there was no previous container to put back"
        )
    try:
        await _drop(session, [c.id for c in await _service_now(session, project, service)])
        restored = []
        for old, clone in aside:
            await docker.rename_container(clone, old.name)
            for network in extra_networks(old):
                await docker.connect_network(network, clone, aliases=_aliases(old, network))
            if old.state.running:
                await docker.start_container(clone)
            restored.append(f"{old.name} ({'running' if old.state.running else old.state.status})")
    except HostError as exc:
        detail = redact_text(exc.detail, known_secrets=known)
        return StepOutcome(
            step=step,
            ok=False,
            detail=f"{detail}; the copies kept aside are named …{ROLLBACK_SUFFIX}: check by hand",
        )
    return StepOutcome(
        step=step,
        ok=True,
        detail=f"rolled back: {', '.join(restored)} with its previous environment, as a "
        "copy without compose labels (compose's next `up` of the service needs it removed "
        "first: docker rm -f NAME)",
    )


def _command_failed(
    step: str, result: CommandResult, secrets: Iterable[str], prefix: str = "", suffix: str = ""
) -> StepOutcome:
    tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:]) or "no output"
    detail = f"{prefix}`{result.command}` exited with status {result.exit_status}: {tail}"
    return StepOutcome(
        step=step, ok=False, detail=redact_text(detail, known_secrets=secrets) + suffix
    )


async def _apply_api(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    docker = session.docker
    first = plan.steps[0].description
    assert params.container is not None and params.env_file is not None  # plan refused else
    try:
        c = await docker.inspect_container(params.container)
        raw = await session.read_file(params.env_file, max_bytes=ENV_FILE_MAX)
    except HostError as exc:
        return [_failed(first, exc, (), "; nothing changed")]
    file = parse_env_file(raw.decode("utf-8", errors="replace"))
    known = [*file.values(), *c.config.env_map().values()]
    if _short(c) != plan.before.get("id"):
        return [
            StepOutcome(
                step=first,
                ok=False,
                detail=f"{c.name} is not the container planned for ({_short(c)}, planned "
                f"{plan.before.get('id')}); nothing changed",
            )
        ]
    changed, added = env_changes(c.config.env_map(), file)
    image = str(plan.after.get("image") or c.config.image)
    steps = api_steps(c, image, params.env_file, changed, added)
    body = clone_body(c, merged_env(c.config.env, file), image)
    outcomes: list[StepOutcome] = []
    renamed = False
    new_id: str | None = None
    current = "stop"
    try:
        if "stop" in steps:
            await docker.stop_container(c.id, timeout=STOP_TIMEOUT)
            outcomes.append(StepOutcome(step=steps["stop"].description, ok=True))
        current = "rename"
        await docker.rename_container(c.id, old_name(c))
        renamed = True
        outcomes.append(StepOutcome(step=steps["rename"].description, ok=True))
        current = "create"
        new_id = await docker.create_container(body, name=c.name)
        outcomes.append(
            StepOutcome(step=steps["create"].description, ok=True, detail=f"id {new_id[:12]}")
        )
        for network in extra_networks(c):
            current = f"connect:{network}"
            await docker.connect_network(network, new_id, aliases=_aliases(c, network))
            outcomes.append(StepOutcome(step=steps[current].description, ok=True))
        if "start" in steps:
            current = "start"
            await docker.start_container(new_id)
            outcomes.append(StepOutcome(step=steps["start"].description, ok=True))
    except HostError as exc:
        outcomes.append(_failed(steps[current].description, exc, known))
        outcomes.append(await _put_back(session, c, renamed=renamed, new_id=new_id))
        return outcomes
    try:
        await docker.remove_container(c.id)
    except HostError as exc:
        outcomes.append(
            _failed(steps["remove"].description, exc, known, f"; {old_name(c)} is left: remove it")
        )
    else:
        outcomes.append(StepOutcome(step=steps["remove"].description, ok=True))
    return outcomes


async def _put_back(
    session: HostSession, c: ContainerDetails, *, renamed: bool, new_id: str | None
) -> StepOutcome:
    """Undo after a failure past the stop: new one removed, old renamed back and started."""
    docker = session.docker
    step = f"put the old {c.name} back"
    try:
        if new_id is not None:
            await docker.remove_container(new_id, force=True)
        if renamed:
            await docker.rename_container(c.id, c.name)
        if c.state.running:
            await docker.start_container(c.id)
    except HostError as exc:
        return StepOutcome(
            step=step,
            ok=False,
            detail=f"{exc.detail}; the old container is {_short(c)}: check it by hand",
        )
    how = "runs" if c.state.running else "is back"
    return StepOutcome(step=step, ok=True, detail=f"{c.name} ({_short(c)}) {how} as before")


# --- post-check -----------------------------------------------------------------------


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    def about(f: Finding) -> bool:
        if params.container is not None:
            return f.subject.container == params.container
        return f.subject.project == params.project and f.subject.service == params.service

    return [f for f in findings if f.code == "env.drift" and about(f)]


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.DESTRUCTIVE,
    verifies=("env.drift",),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
