"""What runbooks share about a host's containers and stacks (not a runbook: ``_`` module)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from bot.action import ReadOnlyHost
from bot.discovery import DiscoveredStack, HostStacks, discover_stacks
from bot.docker_objects import ContainerDetails
from bot.errors import DockerObjectNotFound

Inspect = Callable[[str], Awaitable[ContainerDetails]]


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


__all__ = ["find_stack", "host_stacks", "inspect_existing", "service_containers"]
