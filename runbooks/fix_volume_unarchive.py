"""Put a volume back to what an archive stackbot took of it holds ("restore this snapshot").

The undo of the snapshots fixes take before they touch data: ``db.migrate``'s archive of
the database's volume, ``volume.restore``'s archive of the volume it overwrites,
``volume.backup``'s archives. A fix's result names each snapshot with the exact
``stackbot fix volume.unarchive …`` command; in Slack its result thread has a "Restore
this snapshot" button (approval as the environment's policy says for a destructive
fix). Destructive: the volume's content is replaced.

The plan (read-only) checks that the archive is a regular file in the backup directory
(named by its file name, never a path), that its sha256 is the one the snapshot recorded
(refused when not: altered, or another file), that the volume exists, and which
containers mount it: each must belong to this environment; the running ones are stopped
for the restore and started again. Apply, in order:

1. stop the running containers that mount the volume (a server shuts down cleanly);
2. archive the volume's current content to the backup directory (``volume.backup``'s
   helper; the outcome names it with its sha256): nothing is made worse, and that
   archive is a snapshot of its own (restoring it undoes this);
3. in a helper container from the image of a container that mounts the volume (or
   ``image``; stackbot never pulls), no network, the archive read-only: check the
   archive's sha256 again (nothing changes when it differs), empty the volume, unpack;
4. compare, in a helper with both read-only, the volume with the archive unpacked a
   second time into the helper's own filesystem: every path with its type, mode and
   owner, each file's sha256, each symlink's target (for the time of the check Docker's
   root needs free space as large as the archive's content);
5. when 3 or 4 failed after the volume was emptied, put the archive of step 2 back;
6. start the containers of step 1 again, whatever happened, and watch them stay up for
   ``settle`` seconds; one that has ``pg_isready`` (a Postgres server) must answer.

"Applied" means the comparison of step 4 saw the volume equal to the archive and the
containers came back. Not idempotent by nature (a server writes to its volume as soon
as it starts, so stackbot cannot tell "already restored"): every apply restores again,
after a new archive of what the volume holds then.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from bot.framework.action import (
    Action,
    HostParams,
    Plan,
    ReadOnlyHost,
    Snapshot,
    Step,
    StepOutcome,
)
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.model.docker_objects import ContainerSummary
from bot.model.errors import HostError
from bot.model.findings import Finding
from bot.redaction.redact import redact_text
from runbooks._backup import (
    DEFAULT_DIRECTORY,
    HELPER_LABEL,
    BackupSpec,
    prepare,
    run_backup,
    run_helper,
    validate_archive_name,
    validate_directory,
    validate_image,
    validate_volume_name,
)
from runbooks._settle import SETTLE_SECONDS, settle

NAME = "volume.unarchive"
STOP_TIMEOUT = 60  # seconds a server may take to shut down cleanly
UNPACK_TIMEOUT = 3600.0
READY_WAIT = 60.0  # seconds a started Postgres server may take to answer
DATA, ARCHIVES, SCRATCH = "/data", "/backup", "/tmp/stackbot-archive"
SHA_MISMATCH = 4  # the unpack helper's exit status when it changed nothing
DIFFERS = 3  # the compare helper's exit status when the volume is not the archive

# $1: the archive, $2: its expected sha256. Nothing is touched before the check passes.
UNPACK = (
    'set -e; [ "$(sha256sum < "$1" | cut -c1-64)" = "$2" ] || '
    f'{{ echo "the archive\'s sha256 is not $2: nothing changed"; exit {SHA_MISMATCH}; }}; '
    f'find {DATA} -mindepth 1 -delete; tar -xzpf "$1" -C {DATA}'
)
# Lists a tree: d/l/f/o lines (type and path; a symlink's target; a file's sha256) and
# m lines (mode, owner), sorted; the same for the volume and the archive unpacked again.
COMPARE = (
    'set -e; m() { cd "$1"; { '
    "find . -mindepth 1 -type d | sed 's/^/d /'; "
    "find . -mindepth 1 -type l -exec sh -c "
    '\'for p; do printf "l %s -> %s\\n" "$p" "$(readlink "$p")"; done\' sh {} +; '
    "find . -mindepth 1 -type f -exec sha256sum {} + | sed 's/^/f /'; "
    "find . -mindepth 1 ! -type d ! -type l ! -type f | sed 's/^/o /'; "
    "find . -mindepth 1 ! -type l -exec stat -c 'm %a %u:%g %n' {} +; "
    "} | LC_ALL=C sort; }; "
    f'mkdir -p {SCRATCH}; tar -xzpf "$1" -C {SCRATCH}; '
    f"m {DATA} > /tmp/volume.list; m {SCRATCH} > /tmp/archive.list; "
    "a=$(sha256sum < /tmp/volume.list | cut -c1-64); "
    "b=$(sha256sum < /tmp/archive.list | cut -c1-64); "
    "files=$(grep -c '^f ' /tmp/volume.list || true); "
    "entries=$(grep -c '^[dlfo] ' /tmp/volume.list || true); "
    'if [ "$a" = "$b" ]; then echo "same entries=$entries files=$files manifest=$a"; exit 0; fi; '
    'echo "differ entries=$entries"; '
    "LC_ALL=C sort /tmp/volume.list /tmp/archive.list | uniq -u | head -n 5; "
    f"exit {DIFFERS}"
)
_SAME = re.compile(r"same entries=(?P<entries>\d+) files=(?P<files>\d+) manifest=(?P<digest>\w+)")


class Params(HostParams):
    volume: str = Field(description="the volume to put back as the archive holds it")
    archive: str = Field(
        description="the archive's file name in backup_directory (as the snapshot names it)"
    )
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="the archive's sha256 when it was taken (refused when it differs now)",
    )
    backup_directory: str = Field(
        DEFAULT_DIRECTORY,
        description="the directory holding the archive, where the volume's current content "
        "is archived first",
    )
    image: str | None = Field(
        None,
        description="image with tar and sha256sum for the helper containers (only needed when "
        "no container mounts the volume); must already be on the host",
    )
    settle: float = Field(
        SETTLE_SECONDS,
        ge=0,
        le=600,
        description="seconds the containers stopped for the restore must stay up afterwards",
    )

    @field_validator("volume")
    @classmethod
    def _volume(cls, value: str) -> str:
        return validate_volume_name(value)

    @field_validator("archive")
    @classmethod
    def _archive(cls, value: str) -> str:
        return validate_archive_name(value)

    @field_validator("backup_directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return validate_directory(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return None if value is None else validate_image(value)


# --- locating what the restore is about --------------------------------------------------


@dataclass(frozen=True)
class _Located:
    spec: BackupSpec  # the volume's current content: archived first; its image runs the helpers
    path: str  # the archive to put back
    size: int
    running: tuple[ContainerSummary, ...]  # stopped for the restore, started again


def _mounts(c: ContainerSummary, volume: str) -> bool:
    return any(m.type == "volume" and m.name == volume for m in c.mounts)


def _not_ours(view: ReadOnlyHost, users: list[ContainerSummary], volume: str) -> str | None:
    """Why a container that mounts ``volume`` is not this environment's to stop."""
    host = view.host
    for c in users:
        owner = host.owner_of(c.compose_project)
        if owner == host.env:
            continue
        whose = f"environment {owner}" if owner else "no environment (nothing declares it)"
        return (
            f"{c.name}, which mounts {volume}, belongs to {whose}, not {host.env}: "
            f"{NAME} would stop it; nothing was run"
        )
    return None


async def _locate(view: ReadOnlyHost, params: Params, *, digest: bool = True) -> _Located | str:
    """What the restore touches, or why it must not run. ``digest``: read the archive's
    sha256 (apply skips it: the executor's re-plan read it a moment ago, and the helper
    checks it again before it empties anything)."""
    path = posixpath.join(params.backup_directory, params.archive)
    users = [c for c in await view.docker.containers(all=True) if _mounts(c, params.volume)]
    foreign = _not_ours(view, users, params.volume)
    if foreign:
        return foreign
    spec = await prepare(view, params.volume, params.backup_directory, params.image)
    if isinstance(spec, str):
        return spec
    try:
        found = await view.file_type(path)
        regular = found is not None and found[0].startswith("regular")
        sha = await view.sha256(path) if regular and digest else params.sha256
    except HostError as exc:
        return f"the archive {path} cannot be read on {view.host.name}: {exc.detail}"
    if found is None:
        return f"no archive {params.archive} in {params.backup_directory} on {view.host.name}"
    kind, size = found
    if not kind.startswith("regular"):
        return f"{path} is a {kind}, not a regular file: refusing to read it as an archive"
    if sha is None:
        return f"the archive {path} cannot be read on {view.host.name} (sha256sum failed)"
    if sha != params.sha256:
        return (
            f"the archive {path} has sha256 {sha}, not {params.sha256} as when it was "
            "taken: it was altered or replaced; nothing was run"
        )
    running = tuple(
        sorted((c for c in users if c.state in ("running", "restarting")), key=lambda c: c.name)
    )
    return _Located(spec=spec, path=path, size=size, running=running)


# --- the helper containers ----------------------------------------------------------------


def helper(spec: BackupSpec, archive: str, cmd: str, *args: str, writable: bool) -> dict[str, Any]:
    """A helper from ``spec``'s image: the volume at /data (read-only unless ``writable``),
    the backup directory read-only at /backup, no network; runs ``sh -c cmd`` with the
    archive as $1."""
    host_config: dict[str, Any] = {
        "Binds": [
            f"{spec.volume}:{DATA}" + ("" if writable else ":ro"),
            f"{spec.directory}:{ARCHIVES}:ro",
        ],
        "NetworkMode": "none",
    }
    masked = [p for p in spec.masked if p not in (DATA, ARCHIVES)]
    if masked:
        host_config["Tmpfs"] = {p: "" for p in masked}
    return {
        "Image": spec.image,
        "Entrypoint": [],
        "Cmd": ["sh", "-c", cmd, "sh", f"{ARCHIVES}/{posixpath.basename(archive)}", *args],
        "User": "0:0",  # the volume's files keep their owners; only root can write them all
        "Labels": {HELPER_LABEL: NAME, "org.stackbot.volume": spec.volume},
        "NetworkDisabled": True,
        "HostConfig": host_config,
    }


def _call(body: dict[str, Any]) -> str:
    binds = body["HostConfig"]["Binds"]
    return (
        f"POST /containers/create image {body['Image'][:19]} binds {binds} "
        f"cmd sh -c <script> {' '.join(body['Cmd'][3:])}; start; wait; DELETE ?force=1"
    )


def _names(containers: tuple[ContainerSummary, ...]) -> str:
    return ", ".join(c.name for c in containers)


def _steps(located: _Located, params: Params) -> tuple[Step, ...]:
    spec, volume, archive = located.spec, params.volume, params.archive
    steps: list[Step] = []
    if located.running:
        steps.append(
            Step(
                description=f"stop {_names(located.running)} (mounting {volume}; up to "
                f"{STOP_TIMEOUT} s to shut down cleanly)",
                call="; ".join(
                    f"POST /containers/{c.name}/stop?t={STOP_TIMEOUT}" for c in located.running
                ),
            )
        )
    steps.append(spec.step())
    steps.append(
        Step(
            description=f"check the archive's sha256 again, then empty {volume} and unpack "
            f"{archive} into it (helper from {spec.image_name}, archive read-only)",
            call=_call(helper(spec, archive, UNPACK, params.sha256, writable=True)),
        )
    )
    steps.append(
        Step(
            description=f"compare {volume} with {archive}: every path, type, mode and owner, "
            "each file's sha256, each symlink's target (the archive unpacked again in the "
            "helper; both read-only); when the unpack or this check fails, the archive of "
            f"what {volume} held is put back",
            call=_call(helper(spec, archive, COMPARE, writable=False)),
        )
    )
    if located.running:
        steps.append(
            Step(
                description=f"start {_names(located.running)} again (whatever happened) and "
                f"watch {'it' if len(located.running) == 1 else 'them'} stay up for "
                f"{params.settle:g} s; a Postgres server must answer (pg_isready, up to "
                f"{READY_WAIT:g} s)",
                call="; ".join(f"POST /containers/{c.name}/start" for c in located.running)
                + "; exec pg_isready -q in each (where it exists)",
            )
        )
    return tuple(steps)


# --- plan ---------------------------------------------------------------------------------


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    path = posixpath.join(params.backup_directory, params.archive)
    base = Plan(action=NAME, target={"volume": params.volume, "archive": path}, destructive=True)
    located = await _locate(view, params)
    if isinstance(located, str):
        return base.model_copy(update={"refusal": located})
    spec = located.spec
    before: dict[str, Any] = {
        "volume": params.volume,
        "archive": path,
        "archive_sha256": params.sha256,
        "archive_size": located.size,
        "mounted_by": list(spec.mounted_by),
        "running": [c.name for c in located.running],
        "image": spec.image_name,
    }
    previous = spec.archive_path(None)
    after = {**before, "volume_content": f"as in {params.archive}", "previous_content": previous}
    notes = [
        f"what {params.volume} holds now is archived first to {previous} (sha256 in the "
        "outcome): restoring that archive undoes this restore",
        "the archive's sha256 is the snapshot's; the helper checks it again before it "
        "empties anything",
    ]
    if located.running:
        notes.append(
            f"{_names(located.running)} is down from the stop until it is started again "
            "(its clients see no server meanwhile)"
        )
    stopped = [n for n in spec.mounted_by if n not in {c.name for c in located.running}]
    if stopped:
        notes.append(f"{', '.join(stopped)} also mounts {params.volume}; it is not running "
                     "and is left as it is")  # fmt: skip
    if not params.archive.startswith(f"{params.volume}-"):
        notes.append(
            f"the archive's name does not start with {params.volume}-: it was taken of another "
            "volume; make sure it is the content you want in this one"
        )
    notes.append(
        "the comparison unpacks the archive a second time inside the helper: Docker's root "
        "needs free space as large as the archive's content for the time of the check"
    )
    notes.append(
        "each apply restores again (a running server writes to its volume at once, so "
        "there is no 'already restored' state): the plan never becomes empty"
    )
    return base.model_copy(
        update={
            "before": before,
            "after": after,
            "steps": _steps(located, params),
            "notes": tuple(notes),
        }
    )


# --- apply --------------------------------------------------------------------------------


def _fail(step: Step, detail: str) -> StepOutcome:
    return StepOutcome(step=step.description, ok=False, detail=redact_text(detail))


def _tail(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()][-6:]
    return redact_text(" | ".join(lines)) or "no output"


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    view = ReadOnlyHost(session)
    located = await _locate(view, params, digest=False)
    first = plan.steps[0]
    if isinstance(located, str):
        return [_fail(first, f"{located}; nothing changed")]
    steps = _steps(located, params)
    if [s.call for s in steps] != [s.call for s in plan.steps]:
        return [_fail(first, "the host changed since the plan (plan again); nothing changed")]
    stop_step = steps[0] if located.running else None
    start_step = steps[-1] if located.running else None
    archive_step, unpack_step, compare_step = steps[1:4] if located.running else steps[:3]
    outcomes: list[StepOutcome] = []

    stopped: list[ContainerSummary] = []
    if stop_step is not None:
        for c in located.running:
            try:
                await session.docker.stop_container(c.id, timeout=STOP_TIMEOUT)
            except HostError as exc:
                outcomes.append(_fail(stop_step, f"{c.name}: {exc.detail}; nothing else was done"))
                break
            stopped.append(c)
        else:
            outcomes.append(StepOutcome(step=stop_step.description, ok=True))
    if not outcomes or outcomes[-1].ok:
        await _restore(session, located, params, archive_step, unpack_step, compare_step,
                       outcomes)  # fmt: skip
    if start_step is not None and stopped:
        outcomes.append(await _start_again(session, stopped, start_step, params.settle))
    return outcomes


async def _restore(
    session: HostSession,
    located: _Located,
    params: Params,
    archive_step: Step,
    unpack_step: Step,
    compare_step: Step,
    outcomes: list[StepOutcome],
) -> None:
    """Archive what the volume holds, unpack the archive, compare; roll back on failure."""
    spec = located.spec
    # the archive of now must not take the name of the one being put back (same second)
    now = datetime.now(UTC)
    if spec.archive(now) == params.archive:
        await asyncio.sleep(1.05 - now.microsecond / 1e6)
    archived = await run_backup(session, spec, archive_step.description)
    if archived.ok and archived.snapshot is None:
        archived = archived.model_copy(
            update={"ok": False, "detail": f"{archived.detail}; its sha256 could not be read, "
                    "so it could not be put back safely: nothing was restored"}
        )  # fmt: skip
    outcomes.append(archived)
    if not archived.ok or archived.snapshot is None:
        return
    unpack = helper(spec, params.archive, UNPACK, params.sha256, writable=True)
    ran = await run_helper(session, unpack, timeout=UNPACK_TIMEOUT)
    if isinstance(ran, str) or ran[0] != 0:
        if not isinstance(ran, str) and ran[0] == SHA_MISMATCH:
            outcomes.append(_fail(unpack_step, f"{_tail(ran[1])} in {located.path}"))
            return
        why = ran if isinstance(ran, str) else f"exited {ran[0]}: {_tail(ran[1])}"
        outcomes.append(_fail(unpack_step, why))
        outcomes.append(await _roll_back(session, spec, archived.snapshot))
        return
    outcomes.append(StepOutcome(step=unpack_step.description, ok=True, detail="unpacked"))
    compared = await _compare(session, spec, params, compare_step)
    outcomes.append(compared)
    if not compared.ok:
        outcomes.append(await _roll_back(session, spec, archived.snapshot))


async def _compare(
    session: HostSession, spec: BackupSpec, params: Params, step: Step
) -> StepOutcome:
    body = helper(spec, params.archive, COMPARE, writable=False)
    ran = await run_helper(session, body, timeout=UNPACK_TIMEOUT, always_logs=True)
    if isinstance(ran, str):
        return _fail(step, ran)
    status, output = ran
    same = _SAME.search(output)
    if status != 0 or same is None:
        return _fail(
            step, f"{spec.volume} does not hold what {params.archive} holds (exited {status}): "
            f"{_tail(output)}",
        )  # fmt: skip
    return StepOutcome(
        step=step.description,
        ok=True,
        detail=f"{spec.volume} holds exactly what {params.archive} holds: {same['entries']} "
        f"entries, {same['files']} files, manifest sha256 {same['digest']}",
    )


async def _roll_back(session: HostSession, spec: BackupSpec, previous: Snapshot) -> StepOutcome:
    """Put the archive taken of the volume's content before the restore back."""
    description = f"roll back: put {previous.archive} (what {spec.volume} held) back"
    body = helper(spec, previous.archive, UNPACK, previous.sha256, writable=True)
    ran = await run_helper(session, body, timeout=UNPACK_TIMEOUT)
    if isinstance(ran, str) or ran[0] != 0:
        why = ran if isinstance(ran, str) else f"exited {ran[0]}: {_tail(ran[1])}"
        return StepOutcome(
            step=description,
            ok=False,
            detail=redact_text(f"{why}; {spec.volume} may be half unpacked: put "
                               f"{previous.path} back by hand"),
        )  # fmt: skip
    return StepOutcome(step=description, ok=True, detail=f"{spec.volume} holds what it held before")


async def _start_again(
    session: HostSession, stopped: list[ContainerSummary], step: Step, seconds: float
) -> StepOutcome:
    """Start what was stopped (each, even after a failure), watch it, wait for Postgres."""
    docker = session.docker
    problems: list[str] = []
    started: list[ContainerSummary] = []
    for c in stopped:
        try:
            await docker.start_container(c.id)
        except HostError as exc:
            problems.append(f"{c.name} did not start: {exc.detail}")
            continue
        started.append(c)
    said: list[str] = []
    if started:
        watched = await settle(docker, [c.id for c in started], seconds=seconds)
        if not watched.ok:
            logs = redact_text(watched.logs)
            last = (" — last lines: " + " ⏎ ".join(logs.splitlines()[-5:])) if logs else ""
            problems.append(f"it did not stay up: {watched.detail}{last}")
        else:
            said.append(f"{_names(tuple(started))} {watched.detail}")
            for c in started:
                ready = await _ready(session, c)
                if ready is None:
                    continue
                (said if ready.startswith("answers") else problems).append(f"{c.name} {ready}")
    if problems:
        return _fail(step, "; ".join(problems))
    return StepOutcome(step=step.description, ok=True, detail="; ".join(said))


async def _ready(session: HostSession, c: ContainerSummary) -> str | None:
    """Whether a Postgres server in ``c`` answers (None: ``c`` has no pg_isready)."""
    began = time.monotonic()
    while True:
        try:
            ready = await session.docker.exec_run(c.id, ["pg_isready", "-q"], timeout=10)
        except HostError as exc:
            return f"could not be asked whether it answers: {exc.detail}"
        if ready.exit_code in (126, 127):
            return None
        waited = time.monotonic() - began
        if ready.exit_code == 0:
            return f"answers (pg_isready after {waited:.1f} s)"
        if waited >= READY_WAIT:
            return f"does not answer after {READY_WAIT:g} s (pg_isready exited {ready.exit_code})"
        await asyncio.sleep(1)


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
