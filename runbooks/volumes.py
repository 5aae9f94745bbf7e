"""Volumes: every Docker volume with its size, age, compose labels and the containers that mount it.

Shows which volumes no container mounts (candidates for cleanup, or data a
renamed project left behind) and which are anonymous (lost when their
container is recreated).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from bot.framework.runbook import Risk, Runbook
from bot.framework.session import HostSession
from bot.model.docker_objects import ContainerSummary, Volume
from bot.model.host_reports import VolumeRow, VolumesReport, VolumeUser

ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # set by Docker ≥ 23 on anonymous volumes
_ANONYMOUS_NAME = re.compile(r"^[0-9a-f]{64}$")


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(
        None,
        max_length=128,
        description="only volumes of this compose project (by label, or mounted by its containers)",
    )


def is_anonymous(volume: Volume) -> bool:
    if volume.compose_volume is not None:
        return False
    return ANONYMOUS_LABEL in volume.labels or bool(_ANONYMOUS_NAME.match(volume.name))


def users_by_volume(containers: Iterable[ContainerSummary]) -> dict[str, list[VolumeUser]]:
    """Volume name → the containers mounting it, from the containers' Mounts."""
    users: dict[str, list[VolumeUser]] = {}
    for container in containers:
        for mount in container.mounts:
            if mount.type != "volume" or not mount.name:
                continue
            users.setdefault(mount.name, []).append(
                VolumeUser(
                    container=container.name,
                    state=container.state,
                    running=container.state == "running",
                    destination=mount.destination,
                )
            )
    for entries in users.values():
        entries.sort(key=lambda user: (not user.running, user.container, user.destination))
    return users


def volume_row(volume: Volume, users: list[VolumeUser]) -> VolumeRow:
    size = volume.usage.size if volume.usage is not None else -1
    return VolumeRow(
        name=volume.name,
        driver=volume.driver,
        created=volume.created_at,
        size_bytes=None if size < 0 else size,
        compose_project=volume.compose_project,
        compose_volume=volume.compose_volume,
        labels=dict(volume.labels),
        mounted_by=users,
        anonymous=is_anonymous(volume),
        in_use=bool(users),
    )


def _belongs(row: VolumeRow, project: str, project_containers: set[str]) -> bool:
    if row.compose_project == project:
        return True
    return any(user.container in project_containers for user in row.mounted_by)


def _sort_key(row: VolumeRow) -> tuple[bool, str, str]:
    return (row.compose_project is None, row.compose_project or "", row.name)


async def run(session: HostSession, params: Params) -> VolumesReport:
    usage, containers = await asyncio.gather(
        session.docker.disk_usage(), session.docker.containers(all=True)
    )
    users = users_by_volume(containers)
    rows = [volume_row(volume, users.get(volume.name, [])) for volume in usage.volumes]
    if params.project is not None:
        members = {c.name for c in containers if c.compose_project == params.project}
        rows = [row for row in rows if _belongs(row, params.project, members)]
    return VolumesReport(project=params.project, volumes=sorted(rows, key=_sort_key))


RUNBOOK = Runbook(
    name="volumes",
    summary=__doc__ or "",
    params=Params,
    result=VolumesReport,
    risk=Risk.READ_ONLY,
    run=run,
)
