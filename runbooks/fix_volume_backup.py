"""Archive a Docker volume to a directory on its host (a .tar.gz, volume mounted read-only).

A short-lived helper container, created through the Engine API, mounts the
volume read-only at /data and the directory at /backup, runs
``tar -czf /backup/<volume>-<UTC time>.tar.gz -C /data .`` and is removed. Its
image is that of a container that mounts the volume (so it is on the host and
has ``tar``); for a volume no container mounts, pass ``image``. Not
destructive: the volume is only read. The outcome names the archive, its size
and its sha256 (``sha256sum`` on the host), so the audit row holds them, and
says how to put it back.

Not idempotent by nature: every apply writes a new archive, named by the UTC
time it started, so applying twice gives two archives. The plan is the same
each time and never becomes empty; the "second plan is empty" rule of the
other actions does not fit a backup.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.model.findings import Finding
from runbooks._backup import (
    DEFAULT_DIRECTORY,
    notes,
    prepare,
    run_backup,
    validate_directory,
    validate_image,
    validate_volume_name,
)

NAME = "volume.backup"


class Params(HostParams):
    volume: str = Field(description="the volume to archive")
    directory: str = Field(
        DEFAULT_DIRECTORY, description="directory on the host for the archive (created if absent)"
    )
    image: str | None = Field(
        None,
        description="image with tar for the helper container (only needed when no "
        "container mounts the volume); must already be on the host",
    )

    @field_validator("volume")
    @classmethod
    def _volume(cls, value: str) -> str:
        return validate_volume_name(value)

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return validate_directory(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return None if value is None else validate_image(value)


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    base = Plan(
        action=NAME,
        target={"volume": params.volume, "directory": params.directory},
        destructive=False,
    )
    spec = await prepare(view, params.volume, params.directory, params.image)
    if isinstance(spec, str):
        return base.model_copy(update={"refusal": spec})
    before = {"volume": spec.volume, "mounted_by": list(spec.mounted_by), "image": spec.image_name}
    after = {**before, "archive": spec.archive_path(None)}
    return base.model_copy(
        update={"before": before, "after": after, "steps": (spec.step(),), "notes": notes(spec)}
    )


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    (step,) = plan.steps
    spec = await prepare(ReadOnlyHost(session), params.volume, params.directory, params.image)
    if isinstance(spec, str):
        return [StepOutcome(step=step.description, ok=False, detail=spec)]
    return [await run_backup(session, spec, step.description)]


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return []


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.CHANGE,
    verifies=(),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
