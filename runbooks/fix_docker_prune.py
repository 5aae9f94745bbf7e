"""Remove stopped containers, dangling images and unused build cache; never volumes.

The space-freeing fix for ``disk.low``. The plan names every stopped container
that would go, and counts the dangling (untagged, unused) images and the
build cache with their sizes. Volumes are never removed, used or not: data
lives there. Destructive: a stopped container's logs and writable layer go
with it (compose recreates a service's container on ``up``).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.model.docker_objects import ContainerSummary, DiskUsage, ImageUsage
from bot.model.errors import HostError
from bot.model.findings import Finding
from bot.model.units import human_size
from runbooks._stacks import inspect_existing

NAME = "docker.prune"
STOPPED_STATES = frozenset({"created", "exited", "dead"})  # what POST /containers/prune takes
CONTAINERS_CALL = "POST /containers/prune"
IMAGES_CALL = 'POST /images/prune?filters={"dangling":["true"]}'
BUILD_CACHE_CALL = "POST /build/prune"
RESULT_KEYS = {
    CONTAINERS_CALL: "containers",
    IMAGES_CALL: "images",
    BUILD_CACHE_CALL: "build_cache",
}


class Params(HostParams):
    pass


def _untagged(image: ImageUsage) -> bool:
    return not [tag for tag in image.repo_tags if tag != "<none>:<none>"]


def _unique_size(image: ImageUsage) -> int:
    return max(image.size - max(image.shared_size, 0), 0)


def stopped_containers(containers: list[ContainerSummary]) -> list[ContainerSummary]:
    return sorted((c for c in containers if c.state in STOPPED_STATES), key=lambda c: c.name)


def dangling_images(usage: DiskUsage, stopped_image_ids: list[str]) -> list[ImageUsage]:
    """Untagged images no container keeps: unused now, or used only by stopped containers
    (the container prune runs first, so those go too)."""
    return [
        image
        for image in usage.images
        if _untagged(image) and image.containers <= stopped_image_ids.count(image.id)
    ]


async def _image_ids(view: ReadOnlyHost, containers: list[ContainerSummary]) -> list[str]:
    """The image id of each container (one inspect each: only stopped ones are asked)."""
    found = await inspect_existing(view.docker.inspect_container, (c.id for c in containers))
    return [details.image_id for details in found]


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    base = Plan(action=NAME, target={"host": params.host}, destructive=True)
    containers, usage = await asyncio.gather(
        view.docker.containers(all=True), view.docker.disk_usage()
    )
    stopped = stopped_containers(containers)
    images = dangling_images(usage, await _image_ids(view, stopped))
    cache = [record for record in usage.build_cache if not record.in_use]
    sizes = {row.id: row.size_rw for row in usage.containers}
    stopped_bytes = sum(max(sizes.get(c.id, 0), 0) for c in stopped)
    image_bytes = sum(_unique_size(image) for image in images)
    cache_bytes = sum(max(record.size, 0) for record in cache)
    before = {
        "stopped_containers": [c.name for c in stopped],
        "dangling_images": len(images),
        "dangling_image_bytes": image_bytes,
        "build_cache_records": len(cache),
        "build_cache_bytes": cache_bytes,
    }
    unused_volumes = [
        v.name for v in usage.volumes if v.usage is not None and v.usage.ref_count == 0
    ]
    notes = [
        f"volumes are never removed: the {len(usage.volumes)} volumes here all stay, "
        f"{len(unused_volumes)} of them used by no container (see volumes.list)",
    ]
    managed = [c.name for c in stopped if c.compose_project]
    if managed:
        notes.append(
            f"compose-managed: {', '.join(managed)} (`docker-compose up` recreates them; "
            "their logs and writable layers are lost)"
        )
    steps: list[Step] = []
    if stopped:
        steps.append(
            Step(
                description=f"remove {len(stopped)} stopped containers "
                f"({human_size(stopped_bytes)}): " + ", ".join(c.name for c in stopped),
                call=CONTAINERS_CALL,
            )
        )
    if images:
        steps.append(
            Step(
                description=f"remove {len(images)} dangling images ({human_size(image_bytes)})",
                call=IMAGES_CALL,
            )
        )
    if cache:
        steps.append(
            Step(
                description=f"remove {len(cache)} unused build cache records "
                f"({human_size(cache_bytes)})",
                call=BUILD_CACHE_CALL,
            )
        )
    after = {
        **before,
        "stopped_containers": [],
        "dangling_images": 0,
        "dangling_image_bytes": 0,
        "build_cache_records": 0,
        "build_cache_bytes": 0,
    }
    if steps:
        notes.append("the three prunes run together, in this order: containers, images, cache")
    return base.model_copy(
        update={
            "before": before,
            "after": after if steps else before,
            "steps": tuple(steps),
            "notes": tuple(notes),
        }
    )


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    try:
        freed = await session.docker.prune()
    except HostError as exc:
        return [
            StepOutcome(step=step.description, ok=False, detail=exc.detail) for step in plan.steps
        ]
    outcomes = []
    for step in plan.steps:
        amount = 0
        with suppress(KeyError):
            amount = freed[RESULT_KEYS[step.call]]
        outcomes.append(
            StepOutcome(step=step.description, ok=True, detail=f"{human_size(amount)} freed")
        )
    return outcomes


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return []


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.DESTRUCTIVE,
    verifies=(),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
