"""Copy a database's orphaned data volume back into the volume it uses now.

The fix for ``volume.orphaned_data`` (seed 000: the compose project was renamed,
compose started the database on a new, empty volume, and the data stayed in the
old one). Destructive: the database container is stopped and the content of its
current volume is replaced. The orphan is only ever read, never changed or removed.

Apply, in order:

1. check, in a helper container with both volumes read-only and no network, that
   the orphan holds a Postgres cluster of the same major version as the current
   volume (``PG_VERSION``); otherwise stop there, nothing changed, and say what the
   compose file could say instead (an explicit volume ``name:``);
2. stop the database container (Postgres shuts down cleanly, up to 60 s);
3. archive the current volume to the backup directory (``volume.backup``'s helper):
   the outcome names the archive, its size and its sha256, so the audit row does;
4. replace the current volume's content with a copy of the orphan's (a helper from
   the database's own image: stackbot does not pull images);
5. start the container and watch it stay up (healthy where it has a health check);
6. verify as its superuser: the server answers and the app's database has tables;
   the outcome counts the rows of each (up to 50 tables).

When 4, 5 or 6 fails, the archive of step 3 is put back and the container started
again (a rollback outcome says how that went).

The plan shows both volumes (size, ``CreatedAt``), when the cluster in use was
initialised, which volume wins and the archive's name. Nothing to do (empty plan)
when the diagnosis no longer finds this pair as ``volume.orphaned_data``: after a
restore the cluster in use was initialised before the orphan was last used.
Refused when the orphan is mounted by any container (running or not), when the
database keeps its data on no named volume, or when a volume is missing. Never
edits a compose file.

Also here (not an action of its own): the findings that must stop ``db.migrate``
and ``db.create`` on a database while they stand (``volume.orphaned_data``,
``db.reinitialized``): a schema built over lost data buries the evidence.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.inventory.discovery import DiscoveredStack
from bot.model.docker_objects import ContainerDetails, Mount, Volume
from bot.model.errors import DatabaseMissing, DockerObjectNotFound, HostError
from bot.model.findings import Finding
from bot.model.units import human_size
from bot.redaction.redact import redact_text
from runbooks._backup import (
    DEFAULT_DIRECTORY,
    HELPER_LABEL,
    BackupSpec,
    run_backup,
    run_helper,
    validate_directory,
    validate_volume_name,
)
from runbooks._evidence import (
    evidence_facts,
    stack_of,
    superuser,
    superuser_of,
)
from runbooks._settle import SETTLE_SECONDS, settle
from runbooks._stacks import (
    first_running,
    host_stacks,
    service_containers,
)
from runbooks.diagnose.checks_volumes import check_orphaned_data
from runbooks.diagnose.dbconfig import locate_database

NAME = "volume.restore"
STOP_TIMEOUT = 60  # seconds Postgres may take to shut down cleanly
COPY_TIMEOUT = 3600.0
CONNECT_WAIT = 60.0  # seconds the started server may take to accept connections
MAX_TABLES = 50
PGDATA_DEFAULT = "/var/lib/postgresql/data"
FROM, TO, ARCHIVES = "/from", "/to", "/backup"
BLOCKING = ("volume.orphaned_data", "db.reinitialized")
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_MAJOR = re.compile(r"^\d+")
_TABLES = (
    "select table_schema, table_name from information_schema.tables "
    "where table_schema not in ('pg_catalog', 'information_schema') "
    "and table_type = 'BASE TABLE' order by 1, 2 limit %s"
)


class Params(HostParams):
    container: str = Field(description="the database container (name or id)")
    volume: str = Field(description="the orphaned volume whose data comes back")
    backup_directory: str = Field(
        DEFAULT_DIRECTORY, description="where the current volume's archive goes first"
    )
    settle: float = Field(
        SETTLE_SECONDS,
        ge=0,
        le=600,
        description="seconds the database must stay up after the copy before it is verified",
    )

    @field_validator("volume")
    @classmethod
    def _volume(cls, value: str) -> str:
        return validate_volume_name(value)

    @field_validator("backup_directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return validate_directory(value)


# --- locating what the restore is about -------------------------------------------------


def _named(m: Mount) -> bool:
    return m.type == "volume" and bool(m.name) and not _ANONYMOUS.match(m.name or "")


def data_dir(c: ContainerDetails) -> str:
    return posixpath.normpath(c.config.env_map().get("PGDATA") or PGDATA_DEFAULT)


def data_mount(c: ContainerDetails) -> Mount | None:
    """The mount holding ``c``'s PGDATA (the deepest that covers it)."""
    path = data_dir(c)
    covering = [
        m
        for m in c.mounts
        if path == posixpath.normpath(m.destination)
        or path.startswith(posixpath.normpath(m.destination).rstrip("/") + "/")
    ]
    return max(covering, key=lambda m: len(m.destination), default=None)


def app_database(stack: DiscoveredStack | None, db: ContainerDetails) -> str:
    """The app's database name: declared, else from the app's environment (as the
    diagnosis finds it), else the database container's ``POSTGRES_DB``/``POSTGRES_USER``."""
    env = db.config.env_map()
    fallback = env.get("POSTGRES_DB") or env.get("POSTGRES_USER") or "postgres"
    if stack is None:
        return fallback
    if stack.database.name:
        return stack.database.name
    apps = service_containers(stack, stack.roles.app)
    app = first_running(apps) or (apps[0] if apps else None)
    if app is None:
        return fallback
    target = locate_database(app.config.env_map(), env, url_key=stack.database.from_env)
    return (target.dbname if target is not None else None) or fallback


def _volume_state(v: Volume) -> str:
    size = v.usage.size if v.usage is not None and v.usage.size >= 0 else None
    created = v.created_at.isoformat() if v.created_at else "unknown"
    return (
        f"{v.name}: {human_size(size) if size is not None else 'unknown size'}, CreatedAt {created}"
    )


@dataclass(frozen=True)
class _Located:
    db: ContainerDetails = field(repr=False)
    current: Volume
    orphan: Volume
    data_dir: str
    database: str
    spec: BackupSpec  # the current volume's archive
    finding: Finding | None
    born: datetime | None
    secrets: tuple[str, ...] = field(repr=False, default=())


def _compose_advice(db: ContainerDetails, orphan: str) -> str:
    service = db.compose_service or "the database service"
    return (
        f"to run on {orphan} as it is instead, give the compose file's data volume that "
        f"name (volumes: <key>: name: {orphan}, external: true) for {service}, with the "
        "image its data was written by, then recreate the service; stackbot never edits "
        "compose files"
    )


async def _locate(view: ReadOnlyHost, params: Params) -> _Located | str:
    try:
        db = await view.docker.inspect_container(params.container)
    except DockerObjectNotFound:
        return f"container {params.container} does not exist (any more)"
    mount = data_mount(db)
    if mount is None or not _named(mount) or not mount.name:
        where = f"{mount.type} {mount.name or mount.source}" if mount else "the container layer"
        return (
            f"{db.name} keeps {data_dir(db)} on {where}, not a named volume: there is "
            "nothing stackbot can copy into (give it a named volume first)"
        )
    if mount.name == params.volume:
        return f"{params.volume} is the volume {db.name} uses now: nothing to restore from"
    volumes = {v.name: v for v in (await view.docker.disk_usage()).volumes}
    orphan, current = volumes.get(params.volume), volumes.get(mount.name)
    if orphan is None:
        return f"volume {params.volume} does not exist on {view.host.name}"
    if current is None:
        return f"volume {mount.name} of {db.name} is not listed by the engine: plan again"
    summaries = await view.docker.containers(all=True)
    users = sorted(
        {
            c.names[0].lstrip("/") if c.names else c.id[:12]
            for c in summaries
            if any(m.type == "volume" and m.name == params.volume for m in c.mounts)
        }
    )
    if users:
        return (
            f"{params.volume} is mounted by {', '.join(users)}: its data is in use, not "
            f"orphaned, and a copy of a volume in use is not consistent; "
            + _compose_advice(db, params.volume)
        )
    containers, stacks = await host_stacks(view)
    facts = await evidence_facts(view, containers, stacks, db)
    finding = next(
        (
            f
            for f in check_orphaned_data(facts)
            if f.evidence.get("db_container") == db.name
            and f.evidence.get("orphaned_volume") == params.volume
        ),
        None,
    )
    born = facts.databases[0].cluster_initialized_at if facts.databases else None
    spec = BackupSpec(
        volume=current.name,
        directory=params.backup_directory,
        image=db.image_id,
        image_name=db.config.image or db.image_id[:19],
        masked=tuple(sorted(db.config.volumes)),
        mounted_by=(db.name,),
    )
    secrets = tuple(v for v in db.config.env_map().values() if v and not v.isdigit())
    return _Located(
        db=db,
        current=current,
        orphan=orphan,
        data_dir=data_dir(db),
        database=app_database(stack_of(stacks, db), db),
        spec=spec,
        finding=finding,
        born=born,
        secrets=secrets,
    )


# --- the helper containers ----------------------------------------------------------------


def helper(
    located: _Located, cmd: list[str], *, to_writable: bool, archives: bool = False
) -> dict[str, Any]:
    """A helper from the database's own image: the orphan at /from (read-only), the
    current volume at /to, with ``archives`` the backup directory at /backup
    (read-only); no network."""
    spec = located.spec
    binds = [
        f"{located.orphan.name}:{FROM}:ro",
        f"{located.current.name}:{TO}" + ("" if to_writable else ":ro"),
    ]
    if archives:
        binds.append(f"{spec.directory}:{ARCHIVES}:ro")
    host_config: dict[str, Any] = {"Binds": binds, "NetworkMode": "none"}
    masked = [p for p in spec.masked if p not in (FROM, TO, ARCHIVES)]
    if masked:
        host_config["Tmpfs"] = {path: "" for path in masked}
    return {
        "Image": spec.image,
        "Entrypoint": [],
        "Cmd": cmd,
        "User": "0:0",
        "Labels": {HELPER_LABEL: NAME, "org.stackbot.volume": located.current.name},
        "NetworkDisabled": True,
        "HostConfig": host_config,
    }


VERSION_CMD = ["cat", f"{FROM}/PG_VERSION", f"{TO}/PG_VERSION"]
COPY_CMD = ["sh", "-c", f"find {TO} -mindepth 1 -delete && cp -a {FROM}/. {TO}/"]


def unpack_cmd(archive: str) -> list[str]:
    name = posixpath.basename(archive)
    return ["sh", "-c", f'find {TO} -mindepth 1 -delete && tar -xzpf "$1" -C {TO}', "sh",
            f"{ARCHIVES}/{name}"]  # fmt: skip


def _call(body: dict[str, Any]) -> str:
    return (
        f"POST /containers/create {body['Cmd']} binds {body['HostConfig']['Binds']}; "
        "start; wait; DELETE ?force=1"
    )


def _steps(located: _Located, settle_seconds: float) -> tuple[Step, ...]:
    db, current, orphan = located.db.name, located.current.name, located.orphan.name
    return (
        Step(
            description=f"check that {orphan} and {current} hold Postgres clusters of the "
            "same major version (PG_VERSION, both read-only); stop here when not",
            call=_call(helper(located, VERSION_CMD, to_writable=False)),
        ),
        Step(
            description=f"stop {db} (Postgres shuts down cleanly, up to {STOP_TIMEOUT} s)",
            call=f"POST /containers/{db}/stop?t={STOP_TIMEOUT}",
        ),
        located.spec.step(),
        Step(
            description=f"replace the content of {current} with a copy of {orphan} "
            f"(helper from {located.spec.image_name}, {orphan} read-only)",
            call=_call(helper(located, COPY_CMD, to_writable=True)),
        ),
        Step(
            description=f"start {db} and watch it stay up for {settle_seconds:g} s",
            call=f"POST /containers/{db}/start",
        ),
        Step(
            description=f"verify as {superuser_of(located.db)[0]}: the server answers, database "
            f"{located.database} has tables; count the rows of each (up to {MAX_TABLES})",
            call=f"{_TABLES % MAX_TABLES}; select count(*) from <each table>",  # noqa: S608 (shown, not run)
        ),
    )


# --- plan ---------------------------------------------------------------------------------


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    base = Plan(
        action=NAME,
        target={"container": params.container, "volume": params.volume},
        destructive=True,
    )
    located = await _locate(view, params)
    if isinstance(located, str):
        return base.model_copy(update={"refusal": located})
    current, orphan = located.current, located.orphan
    before: dict[str, Any] = {
        "database_container": located.db.name,
        "current_volume": current.name,
        "orphaned_volume": orphan.name,
        "cluster_initialized": located.born.isoformat() if located.born else "unknown",
    }
    sizes = f"{_volume_state(current)}; {_volume_state(orphan)}"
    if located.finding is None:
        why = (
            f"the cluster on {current.name} was initialised {located.born.isoformat()}, "
            f"before {orphan.name} was last used: it holds that data or newer"
            if located.born is not None
            and orphan.created_at is not None
            and located.born < orphan.created_at
            else f"{orphan.name} is not larger than {current.name} (or is not related to it)"
        )
        note = f"volume.orphaned_data does not stand for this pair: {why} ({sizes})"
        return base.model_copy(update={"before": before, "after": before, "notes": (note,)})
    notes = [
        f"volumes: {sizes}",
        f"{orphan.name} wins: its content replaces that of {current.name}, which is archived "
        f"first to {located.spec.archive_path(None)} (sha256 in the outcome); {orphan.name} "
        "is only read and stays as it is",
        f"{located.db.name} is down from the stop until it is back up (its app sees no "
        "database meanwhile)",
        f"why: {located.finding.evidence.get('match')}"
        + (
            f"; {located.finding.evidence['order']}"
            if located.finding.evidence.get("order")
            else ""
        ),
    ]
    if located.born is None:
        notes.append(
            f"when the cluster on {current.name} was initialised could not be read: the "
            "choice rests on sizes alone; read them above before confirming"
        )
    after = {**before, "current_volume_content": f"a copy of {orphan.name}"}
    return base.model_copy(
        update={
            "before": before,
            "after": after,
            "steps": _steps(located, params.settle),
            "notes": tuple(notes),
        }
    )


# --- apply --------------------------------------------------------------------------------


def _fail(step: Step, detail: str, secrets: Sequence[str] = ()) -> StepOutcome:
    return StepOutcome(
        step=step.description, ok=False, detail=redact_text(detail, known_secrets=secrets)
    )


def _versions(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    view = ReadOnlyHost(session)
    located = await _locate(view, params)
    first = plan.steps[0]
    if isinstance(located, str):
        return [_fail(first, f"{located}; nothing changed")]
    steps = _steps(located, params.settle)
    if [s.call for s in steps] != [s.call for s in plan.steps] or located.finding is None:
        return [_fail(first, "the host changed since the plan (plan again); nothing changed")]
    check, stop, archive, copy, start, verify = steps
    docker = session.docker
    outcomes: list[StepOutcome] = []

    # 1. same major version, read-only
    ran = await run_helper(
        session, helper(located, VERSION_CMD, to_writable=False), always_logs=True
    )
    if isinstance(ran, str):
        return [_fail(check, f"{ran}; nothing changed")]
    status, output = ran
    versions = _versions(output)
    if status != 0 or len(versions) != 2 or not all(_MAJOR.match(v) for v in versions):
        return [
            _fail(
                check,
                f"no PG_VERSION in both volumes (cat exited {status}: "
                f"{' | '.join(versions) or 'no output'}): {located.orphan.name} may not hold a "
                "Postgres cluster; nothing changed",
            )
        ]
    old, new = versions
    if old != new:  # PG_VERSION holds the major version only ("15", "9.6")
        return [
            _fail(
                check,
                f"{located.orphan.name} holds a Postgres {old} cluster and {located.db.name} "
                f"runs Postgres {new}: a copy would not start (upgrade with pg_upgrade or a "
                f"dump instead); nothing changed; "
                + _compose_advice(located.db, located.orphan.name),
            )
        ]
    outcomes.append(
        StepOutcome(step=check.description, ok=True, detail=f"both Postgres {new} clusters")
    )

    # 2. stop
    try:
        await docker.stop_container(located.db.id, timeout=STOP_TIMEOUT)
    except HostError as exc:
        outcomes.append(_fail(stop, f"{exc.detail}; nothing else was done"))
        return outcomes
    outcomes.append(StepOutcome(step=stop.description, ok=True))

    # 3. archive the current volume (consistent: its server is stopped)
    archived = await run_backup(session, located.spec, archive.description)
    outcomes.append(archived)
    if not archived.ok:
        outcomes.append(await _start_again(session, located, "the archive failed"))
        return outcomes
    path = _archive_path(archived.detail)

    # 4. copy, 5. start and settle, 6. verify
    failed: StepOutcome | None = None
    ran = await run_helper(
        session, helper(located, COPY_CMD, to_writable=True), timeout=COPY_TIMEOUT
    )
    if isinstance(ran, str) or ran[0] != 0:
        why = ran if isinstance(ran, str) else f"copy exited {ran[0]}: {_tail(ran[1])}"
        failed = _fail(copy, why, located.secrets)
    else:
        outcomes.append(StepOutcome(step=copy.description, ok=True, detail="copied"))
        failed = await _start(session, located, start, params.settle, outcomes)
        if failed is None:
            counted = await _verify(session, located, verify)
            if counted.ok:
                outcomes.append(counted)
                return outcomes
            failed = counted
    outcomes.append(failed)
    outcomes.append(await _roll_back(session, located, path))
    return outcomes


def _tail(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()][-5:]
    return " | ".join(lines) or "no output"


def _archive_path(detail: str) -> str | None:
    match = re.search(r"archive (/\S+\.tar\.gz),", detail)
    return match[1] if match else None


async def _start(
    session: HostSession,
    located: _Located,
    start: Step,
    seconds: float,
    outcomes: list[StepOutcome],
) -> StepOutcome | None:
    """Start the database and watch it; the failed outcome, or None when it stayed up."""
    try:
        await session.docker.start_container(located.db.id)
    except HostError as exc:
        return _fail(start, exc.detail, located.secrets)
    watched = await settle(session.docker, [located.db.id], seconds=seconds)
    if not watched.ok:
        logs = redact_text(watched.logs, known_secrets=located.secrets)
        detail = f"it did not stay up: {watched.detail}"
        if logs:
            detail += " — last lines: " + " ⏎ ".join(logs.splitlines()[-5:])
        return _fail(start, detail, located.secrets)
    outcomes.append(StepOutcome(step=start.description, ok=True, detail=watched.detail))
    return None


async def _verify(session: HostSession, located: _Located, verify: Step) -> StepOutcome:
    """Connect (the server may need a moment), list the app's tables, count their rows."""
    ends = time.monotonic() + CONNECT_WAIT
    last = ""
    while True:
        try:
            db = await session.docker.inspect_container(located.db.id)  # its address now
            async with superuser(session.database, db, located.database) as pg:
                tables = await pg.fetch(_TABLES, [MAX_TABLES])
                counts = []
                for schema, table in tables:
                    ((rows,),) = await pg.fetch(
                        f"select count(*) from {_quoted(schema)}.{_quoted(table)}"  # noqa: S608 (quoted identifiers)
                    )
                    counts.append(f"{schema}.{table} {rows}")
        except DatabaseMissing:
            return _fail(
                verify,
                f"the server answers but database {located.database} does not exist in the "
                "copied data",
            )
        except HostError as exc:
            last = exc.detail
            if time.monotonic() < ends:
                await asyncio.sleep(2)
                continue
            return _fail(verify, f"the server did not answer: {last}", located.secrets)
        break
    if not counts:
        return _fail(verify, f"database {located.database} answers but has no tables")
    return StepOutcome(
        step=verify.description,
        ok=True,
        detail=f"database {located.database} answers: {len(counts)} tables; rows: "
        + ", ".join(counts),
    )


def _quoted(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


async def _start_again(session: HostSession, located: _Located, why: str) -> StepOutcome:
    step = f"start {located.db.name} again ({why}; its volume was not changed)"
    try:
        await session.docker.start_container(located.db.id)
    except HostError as exc:
        return _fail(Step(description=step, call=""), f"{exc.detail}: start it by hand")
    return StepOutcome(step=step, ok=True)


async def _roll_back(session: HostSession, located: _Located, archive: str | None) -> StepOutcome:
    """Put the archive back into the current volume and start the database."""
    step = Step(
        description=f"roll back: put the archive back into {located.current.name} and start "
        f"{located.db.name}",
        call="",
    )
    if archive is None:
        return _fail(step, "the archive's name is unknown: restore it by hand")
    docker = session.docker
    try:
        await docker.stop_container(located.db.id, timeout=STOP_TIMEOUT)
    except HostError as exc:
        return _fail(step, f"could not stop {located.db.name}: {exc.detail}; archive {archive}")
    ran = await run_helper(
        session,
        helper(located, unpack_cmd(archive), to_writable=True, archives=True),
        timeout=COPY_TIMEOUT,
    )
    if isinstance(ran, str) or ran[0] != 0:
        why = ran if isinstance(ran, str) else f"tar exited {ran[0]}: {_tail(ran[1])}"
        return _fail(
            step,
            f"{why}; {located.db.name} is stopped and {located.current.name} may be half "
            f"copied: put {archive} back by hand",
        )
    try:
        await docker.start_container(located.db.id)
    except HostError as exc:
        return _fail(step, f"archive put back, but {located.db.name} did not start: {exc.detail}")
    return StepOutcome(
        step=step.description,
        ok=True,
        detail=f"{located.current.name} holds what it held before (from {archive}); "
        f"{located.db.name} started",
    )


# --- post-check ---------------------------------------------------------------------------


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return [
        f
        for f in findings
        if f.code == "volume.orphaned_data"
        and f.evidence.get("orphaned_volume") == params.volume
        and params.container in (f.evidence.get("db_container"), f.subject.container)
    ]


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.DESTRUCTIVE,
    verifies=("volume.orphaned_data",),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
