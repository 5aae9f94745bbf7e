"""Which environment owns what an action is about to touch.

An environment owns the compose projects it declares, those its ``projects:``
patterns match, and — only when no other environment on the same Docker engine
declares any stack or pattern — everything else there (``ResolvedHost.owner_of``).
Every action is checked here against the environment it runs in, at plan time and
again right before it applies, whatever the front end: a Slack button from another
environment's report, a stale or forged button, a CLI ``fix`` naming another
environment's project. A mismatch is refused (``NotOwned``) and nothing runs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from bot.framework.action import ReadOnlyHost
from bot.inventory.config.models import Inventory
from bot.model.docker_objects import COMPOSE_PROJECT
from bot.model.errors import DockerObjectNotFound, NotOwned


@dataclass(frozen=True)
class Touched:
    """One object an action's target names, and the environment that owns it."""

    what: str
    owner: str | None  # None: no environment owns it


async def touched(view: ReadOnlyHost, target: Mapping[str, str]) -> list[Touched]:
    """The objects ``target`` (a plan's target) names on ``view``'s host, with owners.

    A container or volume that does not exist is left out: the plan itself says so.
    A target that is the host alone (``docker.prune``) touches the whole engine.
    """
    host = view.host
    found: list[Touched] = []
    if "container" in target:
        try:
            container = await view.docker.inspect_container(target["container"])
        except DockerObjectNotFound:
            pass
        else:
            found.append(
                Touched(f"container {container.name}", host.owner_of(container.compose_project))
            )
    if "project" in target:
        found.append(
            Touched(f"compose project {target['project']}", host.owner_of(target["project"]))
        )
    if "volume" in target:
        volume = next((v for v in await view.docker.volumes() if v.name == target["volume"]), None)
        if volume is not None:
            found.append(Touched(f"volume {volume.name}", host.owner_of(volume.compose_project)))
    if "network" in target:
        network = next(
            (n for n in await view.docker.networks() if n.name == target["network"]), None
        )
        if network is not None and network.labels.get(COMPOSE_PROJECT):
            owner = host.owner_of(network.labels[COMPOSE_PROJECT])
            found.append(Touched(f"network {network.name}", owner))
    if set(target) <= {"host"}:
        found.append(Touched(f"the whole Docker engine of {host.name}", host.owner_of(None)))
    return found


async def check_owned(view: ReadOnlyHost, action: str, target: Mapping[str, str]) -> None:
    """Raise ``NotOwned`` when anything ``target`` names is not this environment's."""
    env = view.host.env
    for item in await touched(view, target):
        if item.owner == env:
            continue
        if item.owner is None:
            sharing = ", ".join(n.env for n in view.host.neighbours) or "another environment"
            raise NotOwned(
                f"{action} was not applied: {item.what} belongs to no environment "
                f"(its engine is shared with {sharing}, and nothing declares it); "
                "declare its stack or a `projects:` pattern in the inventory",
                owner=None,
            )
        raise NotOwned(
            f"{action} was not applied: {item.what} belongs to environment "
            f"{item.owner}, not {env}; nothing was run",
            owner=item.owner,
        )


def shared_engine_warnings(inventory: Inventory) -> list[str]:
    """What ``check-config`` warns about: environments sharing a Docker engine where a
    compose project could belong to either (or silently to neither)."""
    warnings: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for env, cfg in inventory.environments.items():
        for host_name in cfg.hosts:
            host = inventory.resolved_host(env, host_name)
            mine = set(cfg.declared_projects(host_name))
            for other in host.neighbours:
                pair = (*sorted((env, other.env)), host.address)
                where = f"{env}/{host_name} and {other.env}/{other.hosts[0]} share a Docker engine"
                if pair not in seen:
                    seen.add(pair)
                    both = sorted(mine & set(other.projects))
                    if both:
                        warnings.append(f"{where}: both declare project(s) {', '.join(both)}")
                    if not (mine or cfg.projects) and not other.claims_any:
                        warnings.append(
                            f"{where} and neither declares its stacks or `projects:` patterns: "
                            "every project there belongs to both"
                        )
                for project in sorted(mine):
                    hit = [p for p in other.patterns if fnmatch.fnmatchcase(project, p)]
                    if hit:
                        warnings.append(
                            f"{where}: project {project}, declared by {env}, also matches "
                            f"{other.env}'s pattern {hit[0]} (the declaration wins)"
                        )
                if not (mine or cfg.projects) and other.claims_any:
                    warnings.append(
                        f"{where}: {env} owns nothing there ({other.env} declares stacks); "
                        f"declare {env}'s stacks or a `projects:` pattern"
                    )
    return warnings
