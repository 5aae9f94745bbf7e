"""Disk space: the filesystems holding / and Docker's data root, and `docker system df`.

Space and inodes come from df. Each filesystem is rated ok, warning (85 % of
its space or inodes used) or critical (95 %). The Docker rows say how much
space images, containers, local volumes and the build cache take and how much
a prune could reclaim.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.framework.runbook import Risk, Runbook
from bot.framework.session import CommandResult, HostSession
from bot.model.docker_objects import DiskUsage
from bot.model.errors import CommandFailed, CommandTimeout, DockerAPIError, DockerUnavailable
from bot.model.host_reports import (
    DiskReport,
    DockerUsageRow,
    Filesystem,
    level_of,
)

DF_TIMEOUT = 20.0
DEFAULT_DOCKER_ROOT = "/var/lib/docker"
ROOT_LABEL = "/"
DOCKER_ROOT_LABEL = "docker root"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: tuple[str, ...] = Field(
        (), description="extra absolute paths on the host whose filesystems to report too"
    )

    @field_validator("paths")
    @classmethod
    def _absolute(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not path.startswith("/") or "\0" in path or "\n" in path:
                raise ValueError(f"not an absolute path: {path!r}")
        return paths


# --- df output ----------------------------------------------------------------

_FIGURES = r"(?P<total>\d+|-)\s+(?P<used>\d+|-)\s+(?P<free>\d+|-)\s+(?P<percent>\d+%|-)"
_TAIL = re.compile(rf"^\s*{_FIGURES}\s+(?P<mount>/.*)$")
_ROW = re.compile(rf"^(?P<device>\S.*?)\s+{_FIGURES}\s+(?P<mount>/.*)$")


@dataclass(frozen=True)
class DfRow:
    """One data row of POSIX ``df -P`` output (blocks or inodes)."""

    device: str
    total: int | None
    used: int | None
    free: int | None
    percent: int | None
    mount_point: str


def _figure(text: str) -> int | None:
    text = text.rstrip("%")
    return None if text == "-" else int(text)


def _row(device: str, match: re.Match[str]) -> DfRow:
    return DfRow(
        device=device,
        total=_figure(match["total"]),
        used=_figure(match["used"]),
        free=_figure(match["free"]),
        percent=_figure(match["percent"]),
        mount_point=match["mount"],
    )


def parse_df(output: str) -> list[DfRow]:
    """The data rows of ``df -P`` output, in order, header skipped.

    A device name too long for its column may be printed alone on a line with
    the figures on the next; the two lines are joined. ``-`` (no figure, as for
    inodes on filesystems without them) becomes None.
    """
    rows: list[DfRow] = []
    pending_device: str | None = None
    for raw in output.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        tail = _TAIL.match(line) if pending_device is not None else None
        if tail and pending_device is not None:
            rows.append(_row(pending_device, tail))
            pending_device = None
            continue
        full = _ROW.match(line)
        if full:
            rows.append(_row(full["device"], full))
            pending_device = None
        else:  # the header, or a device name alone on its line
            pending_device = line.strip()
    return rows


def _holder(path: str, rows: Sequence[DfRow]) -> DfRow | None:
    """The row whose mount point is the longest prefix of ``path``."""
    candidates = [
        row
        for row in rows
        if path == row.mount_point
        or row.mount_point == "/"
        or path.startswith(row.mount_point.rstrip("/") + "/")
    ]
    return max(candidates, key=lambda row: len(row.mount_point), default=None)


def failed_paths(stderr: str, paths: Iterable[str]) -> set[str]:
    """The paths df complained about (``df: /x: No such file or directory``)."""
    lines = stderr.splitlines()
    return {
        path
        for path in paths
        for quoted in (path, f"'{path}'", f"\u2018{path}\u2019")
        if any(line.startswith(f"df: {quoted}: ") for line in lines)
    }


def assign_paths(
    asked: Sequence[tuple[str, str]], rows: Sequence[DfRow], failed: Iterable[str] = ()
) -> tuple[list[tuple[DfRow, list[str]]], list[str]]:
    """Group ``rows`` by mount point with the labels of the asked paths they hold.

    df prints one row per path argument, in order, leaving out the ``failed``
    paths it could not read (those come back as unresolved). When every other
    path has its row they pair up by position (which also follows symlinks);
    otherwise each goes to the mount point that is its longest prefix. Returns
    the groups and the paths left unmatched.
    """
    failed = set(failed)
    groups: dict[str, tuple[DfRow, list[str]]] = {}
    unresolved = [path for path, _ in asked if path in failed]
    wanted = [(path, label) for path, label in asked if path not in failed]
    positional = len(rows) == len(wanted)
    for index, (path, label) in enumerate(wanted):
        row = rows[index] if positional else _holder(path, rows)
        if row is None:
            unresolved.append(path)
            continue
        _, labels = groups.setdefault(row.mount_point, (row, []))
        if label not in labels:
            labels.append(label)
    for row in rows:  # rows no asked path was matched to are still filesystems
        groups.setdefault(row.mount_point, (row, []))
    return list(groups.values()), unresolved


def _percent(part: int | None, whole: int | None) -> float | None:
    if part is None or whole is None or whole <= 0:
        return None
    return round(part * 100 / whole, 1)


def build_filesystem(space: DfRow, inodes: DfRow | None, holds: Iterable[str]) -> Filesystem:
    if space.used is not None and space.free is not None:
        percent = _percent(space.used, space.used + space.free)
    else:
        percent = float(space.percent) if space.percent is not None else None
    inodes_total = inodes.total if inodes is not None and inodes.total else None
    inodes_used = inodes.used if inodes_total is not None and inodes is not None else None
    inodes_percent = _percent(inodes_used, inodes_total)
    return Filesystem(
        mount_point=space.mount_point,
        device=space.device,
        size_bytes=space.total,
        used_bytes=space.used,
        available_bytes=space.free,
        percent_used=percent,
        inodes_total=inodes_total,
        inodes_used=inodes_used,
        inodes_percent=inodes_percent,
        holds=tuple(holds),
        level=level_of(percent, inodes_percent),
    )


# --- docker system df ---------------------------------------------------------


def _share(part: int, whole: int) -> int | None:
    return part * 100 // whole if whole > 0 else None


def docker_usage_rows(usage: DiskUsage) -> list[DockerUsageRow]:
    """The four ``docker system df`` rows, with the docker CLI's arithmetic.

    Images: size is the layers' total; reclaimable is that minus the unique size
    of images used by a container. Containers: active when running, paused or
    restarting; reclaimable is the writable layers of the others. Volumes: sizes
    of -1 (unknown) are skipped; reclaimable is the size of volumes with no
    reference. Build cache: reclaimable is everything not in use. (The CLI also
    leaves out build cache records marked shared; the Engine model here does not
    carry that flag, so they are counted.)
    """
    images_used = sum(
        image.size - image.shared_size
        for image in usage.images
        if image.containers != 0 and image.size != -1 and image.shared_size != -1
    )
    images_reclaimable = max(usage.layers_size - images_used, 0)

    def active(state: str) -> bool:
        return any(word in state for word in ("running", "paused", "restarting"))

    containers_size = sum(c.size_rw for c in usage.containers)
    containers_reclaimable = sum(c.size_rw for c in usage.containers if not active(c.state))

    sized = [(v.usage.size, v.usage.ref_count) for v in usage.volumes if v.usage is not None]
    volumes_size = sum(size for size, _ in sized if size != -1)
    volumes_reclaimable = sum(size for size, refs in sized if size != -1 and refs == 0)

    cache_size = sum(item.size for item in usage.build_cache)
    cache_in_use = sum(item.size for item in usage.build_cache if item.in_use)

    return [
        DockerUsageRow(
            kind="images",
            total=len(usage.images),
            active=sum(1 for image in usage.images if image.containers > 0),
            size_bytes=usage.layers_size,
            reclaimable_bytes=images_reclaimable,
            reclaimable_percent=_share(images_reclaimable, usage.layers_size),
        ),
        DockerUsageRow(
            kind="containers",
            total=len(usage.containers),
            active=sum(1 for c in usage.containers if active(c.state)),
            size_bytes=containers_size,
            reclaimable_bytes=containers_reclaimable,
            reclaimable_percent=_share(containers_reclaimable, containers_size),
        ),
        DockerUsageRow(
            kind="local volumes",
            total=len(usage.volumes),
            active=sum(1 for v in usage.volumes if v.usage is not None and v.usage.ref_count > 0),
            size_bytes=volumes_size,
            reclaimable_bytes=volumes_reclaimable,
            reclaimable_percent=_share(volumes_reclaimable, volumes_size),
        ),
        DockerUsageRow(
            kind="build cache",
            total=len(usage.build_cache),
            active=sum(1 for item in usage.build_cache if item.in_use),
            size_bytes=cache_size,
            reclaimable_bytes=cache_size - cache_in_use,
        ),
    ]


# --- the run --------------------------------------------------------------------


@dataclass(frozen=True)
class _Filesystems:
    docker_root: str
    docker_error: str | None
    space: CommandResult
    inodes: CommandResult | CommandTimeout


async def _df(session: HostSession, flag: str, targets: Sequence[str]) -> CommandResult:
    return await session.run(["df", "-P", flag, "--", *targets], timeout=DF_TIMEOUT, check=False)


async def _df_inodes(
    session: HostSession, targets: Sequence[str]
) -> CommandResult | CommandTimeout:
    try:
        return await _df(session, "-i", targets)
    except CommandTimeout as exc:
        return exc


async def _read_filesystems(
    session: HostSession, extra: Sequence[str], docker_root: str | None = None
) -> _Filesystems:
    docker_error: str | None = None
    try:
        root = docker_root or (await session.docker.info()).docker_root_dir or DEFAULT_DOCKER_ROOT
    except (DockerUnavailable, DockerAPIError) as exc:
        root, docker_error = DEFAULT_DOCKER_ROOT, f"{exc.code}: {exc.detail}"
    targets = [ROOT_LABEL, root, *extra]
    space, inodes = await asyncio.gather(_df(session, "-B1", targets), _df_inodes(session, targets))
    return _Filesystems(root, docker_error, space, inodes)


async def _read_docker_usage(
    session: HostSession,
) -> DiskUsage | DockerUnavailable | DockerAPIError:
    try:
        return await session.docker.disk_usage()
    except (DockerUnavailable, DockerAPIError) as exc:
        return exc


def _inode_rows(result: CommandResult | CommandTimeout) -> tuple[dict[str, DfRow], str | None]:
    if isinstance(result, CommandTimeout):
        return {}, result.detail
    rows = parse_df(result.stdout)
    if not rows and result.ok:
        return {}, f"`{result.command}` printed no figures"
    if not rows:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return {}, f"`{result.command}` exited with status {result.exit_status}: {tail[0]}"
    return {row.mount_point: row for row in rows}, None


async def _given(usage: DiskUsage) -> DiskUsage:
    return usage


async def read_disk(
    session: HostSession,
    params: Params,
    *,
    usage: DiskUsage | None = None,
    docker_root: str | None = None,
) -> DiskReport:
    """The disk report; ``usage`` is a ``/system/df`` answer and ``docker_root`` the
    engine's ``DockerRootDir`` the caller already has (no second request for either)."""
    found, usage_or_error = await asyncio.gather(
        _read_filesystems(session, params.paths, docker_root),
        _read_docker_usage(session) if usage is None else _given(usage),
    )
    space_rows = parse_df(found.space.stdout)
    if not space_rows:
        raise CommandFailed(session.host.name, found.space)
    asked = [(ROOT_LABEL, ROOT_LABEL), (found.docker_root, DOCKER_ROOT_LABEL)]
    asked += [(path, path) for path in params.paths]
    failed = failed_paths(found.space.stderr, (path for path, _ in asked))
    groups, unresolved = assign_paths(asked, space_rows, failed)
    inode_rows, inodes_error = _inode_rows(found.inodes)
    docker_error = found.docker_error
    if isinstance(usage_or_error, DiskUsage):
        docker = docker_usage_rows(usage_or_error)
    else:
        docker = []
        docker_error = docker_error or f"{usage_or_error.code}: {usage_or_error.detail}"
    return DiskReport(
        docker_root=found.docker_root,
        filesystems=[
            build_filesystem(row, inode_rows.get(row.mount_point), holds) for row, holds in groups
        ],
        docker=docker,
        unresolved_paths=unresolved,
        inodes_error=inodes_error,
        docker_error=docker_error,
    )


async def run(session: HostSession, params: Params) -> DiskReport:
    return await read_disk(session, params)


RUNBOOK = Runbook(
    name="disk",
    summary=__doc__ or "",
    params=Params,
    result=DiskReport,
    risk=Risk.READ_ONLY,
    run=run,
)
