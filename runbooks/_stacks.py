"""What runbooks share about a host's containers and stacks (not a runbook: ``_`` module)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from bot.framework.action import ReadOnlyHost
from bot.inventory.config.models import ResolvedHost
from bot.inventory.discovery import DiscoveredStack, HostStacks, discover_stacks
from bot.model.docker_objects import COMPOSE_PROJECT, ContainerDetails, NetworkSummary, Volume
from bot.model.errors import DockerObjectNotFound
from bot.redaction.redact import is_secret_key

Inspect = Callable[[str], Awaitable[ContainerDetails]]
_EPOCH = datetime.min.replace(tzinfo=UTC)


async def inspect_existing(inspect: Inspect, refs: Iterable[str]) -> list[ContainerDetails]:
    """Inspect every container at once; one removed meanwhile is simply left out.

    Every call finishes before any other error is raised, so none is left running.
    """
    found = await asyncio.gather(*(inspect(ref) for ref in refs), return_exceptions=True)
    for failure in found:
        if isinstance(failure, BaseException) and not isinstance(failure, DockerObjectNotFound):
            raise failure
    return [c for c in found if isinstance(c, ContainerDetails)]


async def host_stacks(view: ReadOnlyHost) -> tuple[list[ContainerDetails], HostStacks]:
    """Every container (inspected once) and the stacks they form, declared ones first."""
    summaries = await view.docker.containers(all=True)
    containers = await inspect_existing(view.docker.inspect_container, (c.id for c in summaries))
    return containers, discover_stacks(containers, view.host.stacks, view.host)


def find_stack(stacks: HostStacks, name: str) -> DiscoveredStack | None:
    """The stack by declared name, else by compose project."""
    return stacks.get(name) or next((s for s in stacks.stacks if s.project == name), None)


def service_containers(stack: DiscoveredStack, service: str | None) -> tuple[ContainerDetails, ...]:
    return stack.services[service].containers if service in stack.services else ()


def creation(c: ContainerDetails) -> datetime:
    """When ``c`` was created, for sorting (unknown counts as the oldest)."""
    return c.created or _EPOCH


def newest(containers: Iterable[ContainerDetails]) -> ContainerDetails | None:
    """The most recently created container, if any."""
    return max(containers, key=creation, default=None)


def first_running(containers: Iterable[ContainerDetails]) -> ContainerDetails | None:
    return next((c for c in containers if c.state.running), None)


def answering(
    containers: Iterable[ContainerDetails],
    hostname: str,
    *,
    on: Collection[str] | None = None,
) -> ContainerDetails | None:
    """The running container that answers to ``hostname`` on some network (one of the
    networks ``on``, when given: where a container on them would reach), if any."""
    for container in containers:
        if not container.state.running:
            continue
        names: set[str] = set()
        for network, endpoint in container.networks.items():
            if on is None or network in on:
                names.update(endpoint.aliases)
                names.update(endpoint.dns_names)
        if on is None or any(n in on for n in container.networks):
            names.update((container.name, container.compose_service or ""))
        if hostname in names:
            return container
    return None


def container_address(container: ContainerDetails) -> str | None:
    return next((e.ip_address for e in container.networks.values() if e.ip_address), None)


def secret_values(containers: Iterable[ContainerDetails]) -> set[str]:
    """Secret env values and URL passwords of every container, to redact wherever they appear."""
    found: set[str] = set()
    for container in containers:
        for key, value in container.config.env_map().items():
            if is_secret_key(key) and len(value) >= 4:
                found.add(value)
            if "://" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:
                    continue
                if password and len(password) >= 4:
                    found.add(unquote(password))
    return found


def owned_containers(
    stacks: HostStacks, containers: Sequence[ContainerDetails]
) -> list[ContainerDetails]:
    """This environment's own containers on a (possibly shared) engine (``owned_objects``)."""
    return [c for c in containers if stacks.owned(c)]


def owned_objects(
    host: ResolvedHost,
    stacks: HostStacks,
    containers: list[ContainerDetails],
    networks: Sequence[NetworkSummary],
    volumes: Sequence[Volume],
) -> tuple[list[ContainerDetails], list[NetworkSummary], list[Volume]]:
    """What this environment's diagnosis may judge on a shared engine: its own
    containers, networks and volumes (by compose project label); an unlabelled
    network always (shared plumbing), an unlabelled volume when the environment owns
    unlabelled objects here or one of its containers mounts it."""
    mine = owned_containers(stacks, containers)
    mounted = {m.name for c in mine for m in c.mounts if m.name}
    kept_networks = [
        n
        for n in networks
        if not n.labels.get(COMPOSE_PROJECT) or host.owns(n.labels[COMPOSE_PROJECT])
    ]
    kept_volumes = [v for v in volumes if v.name in mounted or host.owns(v.compose_project)]
    return mine, kept_networks, kept_volumes


__all__ = [
    "answering",
    "container_address",
    "creation",
    "find_stack",
    "first_running",
    "host_stacks",
    "inspect_existing",
    "newest",
    "owned_containers",
    "owned_objects",
    "secret_values",
    "service_containers",
]
