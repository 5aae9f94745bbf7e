"""Archiving a Docker volume with a short-lived helper container: shared by
``volume.backup``, ``db.migrate``'s snapshot, ``volume.restore`` and ``volume.unarchive``
(not a runbook: ``_`` module). See runbooks/fix_volume_backup.py for what the archive is
and holds. Each archive taken is also a ``Snapshot`` on its step's outcome (volume,
directory, file name, sha256, size), which ``volume.unarchive`` puts back.
"""

from __future__ import annotations

import json
import posixpath
import re
import secrets
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.framework.action import ReadOnlyHost, Snapshot, Step, StepOutcome
from bot.framework.session import HostSession
from bot.model.docker_objects import ContainerSummary, DiskUsage
from bot.model.errors import DockerObjectNotFound, HostError
from bot.redaction.redact import redact_text

DEFAULT_DIRECTORY = "/var/backups/stackbot"
WAIT_TIMEOUT = 1800.0  # seconds the tar may run
LOG_TAIL = 20
HELPER_PREFIX = "stackbot-backup-"
HELPER_LABEL = "org.stackbot.helper"
HELPER_ROLE = "volume.backup"  # the label's value: what made the helper
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
TIMESTAMP_PLACEHOLDER = "<UTC time>"  # in the plan: the real name is fixed when apply starts
DATA_MOUNT = "/data"
BACKUP_MOUNT = "/backup"
# GNU tar: 1 means "some files changed while being read"; the archive is complete.
TAR_CHANGED = 1

_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")  # Docker's own rule for names
_PATH_PART = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*$")
_IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$")
_ARCHIVE_NAME = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\.tar\.gz$")
_FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


def validate_volume_name(name: str) -> str:
    """A Docker volume name (``[A-Za-z0-9][A-Za-z0-9_.-]+``, at most 255 characters)."""
    if len(name) > 255 or not _VOLUME_NAME.match(name):
        raise ValueError(f"not a Docker volume name: {name!r}")
    return name


def validate_directory(path: str) -> str:
    """An absolute, normalised directory: no ``.``/``..`` parts, no ``:`` or ``,`` (which
    Docker's bind syntax would split on), nothing under /proc, /sys or /dev."""
    parts = path.split("/")[1:]
    if (
        not path.startswith("/")
        or len(path) > 1024
        or not parts
        or any(not _PATH_PART.match(part) for part in parts)
    ):
        raise ValueError(
            f"not an absolute directory made of [A-Za-z0-9_.@+-] parts "
            f"(no '.', '..', '//' or trailing '/'): {path!r}"
        )
    if any(path == root or path.startswith(root + "/") for root in _FORBIDDEN_ROOTS):
        raise ValueError(f"{path} is a kernel filesystem, not a place for backups")
    return path


def validate_archive_name(name: str) -> str:
    """An archive's file name in the backup directory: one path part (no ``/``, never
    ``.`` or ``..``, not starting with ``.``) ending in ``.tar.gz``."""
    if len(name) > 255 or not _ARCHIVE_NAME.fullmatch(name):
        raise ValueError(
            f"not an archive's file name (one name of [A-Za-z0-9_.@+-] ending in .tar.gz, "
            f"no directory): {name!r}"
        )
    return name


def validate_image(ref: str) -> str:
    if len(ref) > 255 or not _IMAGE_REF.match(ref):
        raise ValueError(f"not an image reference: {ref!r}")
    return ref


class BackupSpec(BaseModel):
    """Everything the helper container needs: decided by the plan, used by apply."""

    model_config = ConfigDict(frozen=True)

    volume: str
    directory: str
    image: str  # image id (sha256:…), so a moved tag cannot change what runs
    image_name: str  # how people know it (a tag, or the id)
    masked: tuple[str, ...] = ()  # the image's VOLUME paths: tmpfs, so no anonymous volume
    mounted_by: tuple[str, ...] = ()
    running_users: tuple[str, ...] = ()

    def archive(self, when: datetime | None) -> str:
        stamp = when.strftime(TIMESTAMP_FORMAT) if when else TIMESTAMP_PLACEHOLDER
        return f"{self.volume}-{stamp}.tar.gz"

    def archive_path(self, when: datetime | None) -> str:
        return posixpath.join(self.directory, self.archive(when))

    def step(self) -> Step:
        body = helper_body(self, self.archive(None))
        return Step(
            description=f"archive volume {self.volume} to {self.archive_path(None)} "
            f"(helper container from {self.image_name}, volume read-only)",
            call=f"POST /containers/create?name={HELPER_PREFIX}<random> {json.dumps(body)}; "
            "POST /containers/{id}/start; POST /containers/{id}/wait; "
            "DELETE /containers/{id}?force=1; stat -c %s <archive>; sha256sum -- <archive>",
        )


def helper_body(spec: BackupSpec, archive: str) -> dict[str, Any]:
    """The ``POST /containers/create`` body of the helper that writes ``archive``."""
    host_config: dict[str, Any] = {
        "Binds": [f"{spec.volume}:{DATA_MOUNT}:ro", f"{spec.directory}:{BACKUP_MOUNT}"],
        "NetworkMode": "none",
    }
    masked = [p for p in spec.masked if p not in (DATA_MOUNT, BACKUP_MOUNT)]
    if masked:
        host_config["Tmpfs"] = {path: "" for path in masked}
    return {
        "Image": spec.image,
        "Entrypoint": [],  # the image's entrypoint might not pass our command through
        "Cmd": ["tar", "-czf", f"{BACKUP_MOUNT}/{archive}", "-C", DATA_MOUNT, "."],
        "User": "0:0",  # database files are readable by their owner only
        "Labels": {HELPER_LABEL: HELPER_ROLE, "org.stackbot.volume": spec.volume},
        "NetworkDisabled": True,
        "HostConfig": host_config,
    }


def _mounts(container: ContainerSummary, volume: str) -> bool:
    return any(m.type == "volume" and m.name == volume for m in container.mounts)


def _find_image(usage: DiskUsage, ref: str) -> tuple[str, str] | None:
    """(id, display name) of the local image ``ref`` names (tag, id or id prefix)."""
    tagged = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
    for image in usage.images:
        if ref in image.repo_tags or tagged in image.repo_tags:
            return image.id, ref
    bare = ref.removeprefix("sha256:")
    if len(bare) >= 12 and re.fullmatch(r"[0-9a-f]+", bare):
        for image in usage.images:
            if image.id.removeprefix("sha256:").startswith(bare):
                tags = [t for t in image.repo_tags if t != "<none>:<none>"]
                return image.id, tags[0] if tags else image.id[:19]
    return None


async def prepare(
    view: ReadOnlyHost, volume: str, directory: str, image: str | None = None
) -> BackupSpec | str:
    """What a backup of ``volume`` would run, or why it cannot (a refusal)."""
    volumes = {v.name for v in await view.docker.volumes()}
    if volume not in volumes:
        return f"volume {volume} does not exist on {view.host.name}"
    summaries = await view.docker.containers(all=True)
    users = sorted(
        (c for c in summaries if _mounts(c, volume)), key=lambda c: (c.state != "running", c.name)
    )
    mounted_by = tuple(c.name for c in users)
    running = tuple(c.name for c in users if c.state == "running")
    masked: tuple[str, ...] = ()
    if image is not None:
        found = _find_image(await view.docker.disk_usage(), image)
        if found is None:
            return (
                f"image {image} is not on {view.host.name} (stackbot does not pull images): "
                "name one the host has, with tar"
            )
        image_id, image_name = found
        for summary in summaries:  # a container of that image tells its VOLUME paths
            if summary.image in (image, image_name, image_id):
                with suppress(DockerObjectNotFound):
                    details = await view.docker.inspect_container(summary.id)
                    masked = tuple(sorted(details.config.volumes))
                break
    else:
        if not users:
            return (
                f"no container mounts volume {volume}, so no image on the host is known to "
                "have tar: pass the param image (an image the host has, e.g. busybox)"
            )
        try:
            details = await view.docker.inspect_container(users[0].id)
        except DockerObjectNotFound:
            return f"{users[0].name}, which mounts {volume}, is gone: plan again"
        image_id = details.image_id
        image_name = details.config.image or image_id[:19]
        masked = tuple(sorted(details.config.volumes))
    return BackupSpec(
        volume=volume,
        directory=directory,
        image=image_id,
        image_name=image_name,
        masked=masked,
        mounted_by=mounted_by,
        running_users=running,
    )


def notes(spec: BackupSpec) -> tuple[str, ...]:
    found = [
        "each apply writes a new archive named by the UTC time it starts: applying twice "
        "makes two archives (a backup has no 'already done' state)",
    ]
    if spec.running_users:
        found.append(
            f"{', '.join(spec.running_users)} is running with {spec.volume} mounted: the "
            "archive is a copy of files being written, not a consistent snapshot (for a "
            "database stop it first, or declare the stack's backup_command)"
        )
    return tuple(found)


async def run_backup(session: HostSession, spec: BackupSpec, description: str) -> StepOutcome:
    """Run the helper; the outcome names the archive, its size and sha256 (or says what
    failed)."""
    started = datetime.now(UTC)
    path = spec.archive_path(started)
    ran = await run_helper(session, helper_body(spec, spec.archive(started)))
    if isinstance(ran, str):
        return StepOutcome(step=description, ok=False, detail=ran)
    status, output = ran
    tail = " | ".join(line for line in redact_text(output).splitlines() if line.strip())
    if status not in (0, TAR_CHANGED):
        return StepOutcome(
            step=description, ok=False, detail=f"tar exited {status}: {tail or 'no output'}"
        )
    size = await archive_size(session, path)
    digest = await archive_sha256(session, path)
    changed = " (tar: some files changed while being read)" if status == TAR_CHANGED else ""
    snapshot = None
    if re.fullmatch(r"[0-9a-f]{64}", digest):  # only an archive that can be checked
        snapshot = Snapshot(
            volume=spec.volume,
            directory=spec.directory,
            archive=spec.archive(started),
            sha256=digest,
            size=int(size.split()[0]) if size.split()[0].isdigit() else None,
        )
    return StepOutcome(
        step=description,
        ok=True,
        detail=f"archive {path}, {size}, sha256 {digest}{changed}; to restore it: "
        f"{restore_hint(spec, path)}",
        snapshot=snapshot,
    )


async def run_helper(
    session: HostSession,
    body: dict[str, Any],
    *,
    timeout: float = WAIT_TIMEOUT,
    always_logs: bool = False,
) -> tuple[int, str] | str:
    """Create, start and wait for a helper container, then remove it: its exit status
    and (when it failed, or ``always_logs``) its last log lines; or what went wrong."""
    docker = session.docker
    try:
        helper = await docker.create_container(body, name=f"{HELPER_PREFIX}{secrets.token_hex(4)}")
    except HostError as exc:
        return f"helper not created: {exc.detail}"
    try:
        await docker.start_container(helper)
        status = await docker.wait_container(helper, timeout=timeout)
        output = await docker.logs(helper, tail=LOG_TAIL) if status != 0 or always_logs else ""
    except HostError as exc:
        return f"helper failed: {exc.detail}"
    finally:
        with suppress(HostError):
            await docker.remove_container(helper, force=True)
    return status, output


def restore_hint(spec: BackupSpec, path: str) -> str:
    """How a person puts the archive back (the volume's users stopped first)."""
    users = ", ".join(spec.mounted_by)
    stop = f"stop {users}, then " if users else ""
    return (
        f"{stop}docker run --rm -v {spec.volume}:{DATA_MOUNT} -v {spec.directory}:{BACKUP_MOUNT} "
        f"--entrypoint sh {spec.image_name} -c 'find {DATA_MOUNT} -mindepth 1 -delete && "
        f"tar -xzpf {BACKUP_MOUNT}/{posixpath.basename(path)} -C {DATA_MOUNT}'"
        + (f", and start {users} again" if users else "")
    )


async def archive_sha256(session: HostSession, path: str) -> str:
    """The archive's sha256 as ``sha256sum`` on the host computes it, or why not."""
    try:
        result = await session.run(["sha256sum", "--", path], check=False, timeout=WAIT_TIMEOUT)
    except HostError as exc:
        return f"unknown ({exc.detail})"
    digest = result.stdout.split()[0] if result.ok and result.stdout.split() else ""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        return f"unknown (sha256sum exited {result.exit_status})"
    return digest


async def archive_size(session: HostSession, path: str) -> str:
    try:
        result = await session.run(["stat", "-c", "%s", path], check=False)
    except HostError as exc:
        return f"size unknown ({exc.detail})"
    text = result.stdout.strip()
    if not result.ok or not text.isdigit():
        return f"size unknown (stat exited {result.exit_status})"
    return f"{int(text)} bytes"
