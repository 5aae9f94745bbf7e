"""The typed results of the read-only host runbooks `disk` and `volumes`.

Neutral models: the runbooks build them, the renderers (bot/render) and the JSON output
read them, so a renderer never imports a runbook (bot/render/ruff.toml).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Level = Literal["ok", "warning", "critical"]
UsageKind = Literal["images", "containers", "local volumes", "build cache"]

WARNING_PERCENT = 85.0
CRITICAL_PERCENT = 95.0


class Filesystem(BaseModel):
    """One mounted filesystem, as ``df`` reports it; sizes in bytes, None when unknown."""

    mount_point: str
    device: str
    size_bytes: int | None
    used_bytes: int | None
    available_bytes: int | None
    percent_used: float | None = Field(description="used / (used + available), as df counts")
    inodes_total: int | None = None
    inodes_used: int | None = None
    inodes_percent: float | None = None
    holds: tuple[str, ...] = Field(
        (), description="the asked paths that live here: '/', 'docker root' or an extra path"
    )
    level: Level


class DockerUsageRow(BaseModel):
    """One line of ``docker system df``, computed as the docker CLI does."""

    kind: UsageKind
    total: int
    active: int
    size_bytes: int
    reclaimable_bytes: int
    reclaimable_percent: int | None = Field(
        None, description="integer percent of size, as the CLI prints it; None when size is 0"
    )


class DiskReport(BaseModel):
    docker_root: str
    filesystems: list[Filesystem]
    docker: list[DockerUsageRow] = []
    unresolved_paths: list[str] = Field(
        [], description="asked paths df reported nothing for (missing, unreadable)"
    )
    inodes_error: str | None = Field(None, description="why inode figures are unknown")
    docker_error: str | None = Field(
        None, description="why Docker figures are missing (the root dir is then the default)"
    )

    @property
    def level(self) -> Level:
        """The worst level of any filesystem."""
        return max((fs.level for fs in self.filesystems), key=_LEVEL_ORDER.index, default="ok")


_LEVEL_ORDER: tuple[Level, ...] = ("ok", "warning", "critical")


def level_of(*percents: float | None) -> Level:
    worst = max((p for p in percents if p is not None), default=0.0)
    if worst >= CRITICAL_PERCENT:
        return "critical"
    if worst >= WARNING_PERCENT:
        return "warning"
    return "ok"


class VolumeUser(BaseModel):
    """A container that mounts the volume, in whatever state it is."""

    container: str
    state: str
    running: bool
    destination: str


class VolumeRow(BaseModel):
    """One volume.

    ``created`` is the volume's ``CreatedAt``; for the local driver that is the
    modification time of its data directory, not when it was created, so it
    moves when files directly in the volume's root change.
    """

    name: str
    driver: str
    created: datetime | None
    size_bytes: int | None = Field(description="None when Docker does not know (-1)")
    compose_project: str | None
    compose_volume: str | None
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="every label; secret-looking values are redacted on output",
    )
    mounted_by: list[VolumeUser]
    anonymous: bool = Field(description="a 64-hex name and no compose volume label")
    in_use: bool = Field(description="mounted by at least one container, running or not")


class VolumesReport(BaseModel):
    project: str | None = None
    volumes: list[VolumeRow]
