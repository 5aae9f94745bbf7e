"""Run a stack's migration command in its app container, after a backup.

The fix for ``db.empty`` (migrations never ran) and ``db.migrations_pending``.
The command comes only from the inventory
(``environments.<env>.stacks.<stack>.migrate_command``); stackbot never guesses
one. Before migrating it backs up: with the stack's ``backup_command`` (run in
the database container) when one is declared, else by archiving the
database's named data volume (``volume.backup``: the outcome names the archive,
its size and sha256, and how to put it back). Destructive: migrations change the
schema and may rewrite data.

Where it runs: ``docker exec`` in the running app container; when the app is
down (seed 003: it cannot start without its tables), in a one-off container of
the app service, then the app is started and watched until it stays up::

    env DOCKER_HOST=… COMPOSE -p PROJECT --project-directory DIR -f FILE…
        [--env-file FILE…] run --rm --no-deps -T -- SERVICE MIGRATE_COMMAND…

(the project, files and env files from the app container's compose labels, as
``container.recreate`` reads them; stdin closed).

Refused while ``volume.orphaned_data`` or ``db.reinitialized`` stands for the
stack's database: a schema built on a new, empty volume buries the evidence of
where the data went (restore it first: ``volume.restore``). Refused too while a lock
holds the app's tables (``db.lock_blocking``: a session has waited 10 s or more on a
lock, or one sits idle in a transaction holding table locks for over a minute, read as
the database's superuser): the migration's ``ALTER TABLE`` would queue behind it and
every query of the app behind the migration.

Idempotent only with a ``migration_check_command``: the plan runs it and is
empty when it exits 0. Without one stackbot cannot tell whether anything is
pending and plans the run every time (migration tools skip what is applied).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import Field, field_validator

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import ExecResult, HostSession, quote_argv
from bot.inventory.config.models import NAME_PATTERN
from bot.inventory.discovery import DiscoveredStack
from bot.model.docker_objects import (
    COMPOSE_CONFIG_FILES,
    COMPOSE_ENV_FILE,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    Mount,
)
from bot.model.errors import HostError
from bot.model.findings import Finding
from bot.redaction.redact import redact_text
from runbooks._backup import (
    DEFAULT_DIRECTORY,
    BackupSpec,
    prepare,
    run_backup,
    validate_directory,
)
from runbooks._backup import notes as backup_notes
from runbooks._compose import absolute_paths, compose_prefix
from runbooks._evidence import blocked_refusal, blocking_findings, superuser
from runbooks._settle import SETTLE_SECONDS, settle
from runbooks._stacks import (
    creation,
    find_stack,
    first_running,
    host_stacks,
    newest,
    secret_values,
    service_containers,
)
from runbooks.diagnose.db_facts import lock_obstacles, read_activity
from runbooks.diagnose.dbconfig import locate_database

NAME = "db.migrate"
OUTPUT_LINES = 15
OUTPUT_CHARS = 2000
PGDATA_DEFAULT = "/var/lib/postgresql/data"
_ANONYMOUS_LENGTH = 64
MIGRATE_TIMEOUT = 1800.0  # a migration (or the dump before it) may run quietly for long


class Params(HostParams):
    stack: str = Field(pattern=NAME_PATTERN, max_length=64, description="declared stack")
    backup_directory: str = Field(
        DEFAULT_DIRECTORY,
        description="where the data volume's archive goes when the stack has no backup_command",
    )
    settle: float = Field(
        SETTLE_SECONDS,
        ge=0,
        le=600,
        description="seconds a stopped app, started after the migration, must stay up",
    )

    @field_validator("backup_directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return validate_directory(value)


def config_key(env: str, stack: str, key: str) -> str:
    """The inventory key a person sets, e.g. ``environments.prod.stacks.shop.migrate_command``."""
    return f"environments.{env}.stacks.{stack}.{key}"


def output_tail(text: str, secrets: Sequence[str]) -> str:
    """The last lines of a command's output, redacted, on one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()][-OUTPUT_LINES:]
    return redact_text(" | ".join(lines), known_secrets=secrets)[-OUTPUT_CHARS:]


def _named(mount: Mount) -> bool:
    name = mount.name or ""
    anonymous = len(name) == _ANONYMOUS_LENGTH and all(c in "0123456789abcdef" for c in name)
    return mount.type == "volume" and bool(name) and not anonymous


def data_volume(db: ContainerDetails) -> str | None:
    """The named volume holding the database's data directory (PGDATA), if any."""
    pgdata = db.config.env_map().get("PGDATA") or PGDATA_DEFAULT
    named = [m for m in db.mounts if _named(m)]
    holding = [
        m for m in named if pgdata == m.destination or pgdata.startswith(m.destination + "/")
    ]
    chosen = holding or named
    return chosen[0].name if chosen else None


Run = Callable[[HostSession], Awaitable[StepOutcome]]


@dataclass(frozen=True)
class _Located:
    stack: DiscoveredStack
    app: ContainerDetails = field(repr=False)
    db: ContainerDetails | None = field(repr=False)
    volume: str | None  # the data volume to archive first (when no backup_command)
    secrets: tuple[str, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    backup: BackupSpec | None = None  # set by _with_backup
    run_argv: tuple[str, ...] = ()  # the app is down: `compose run` (set by _with_run)

    @property
    def backup_label(self) -> str:
        if self.stack.backup_command and self.db is not None:
            return f"backup_command in {self.db.name}"
        return f"volume {self.volume}" if self.volume else "none"


async def _locate(view: ReadOnlyHost, params: Params) -> _Located | str:
    env = view.host.env
    declared = view.host.stacks.get(params.stack)
    if declared is None or not declared.migrate_command:
        return (
            f"stackbot runs only a migration command the inventory declares: set "
            f"{config_key(env, params.stack, 'migrate_command')} (an argv list, e.g. "
            "[python3, manage.py, migrate])"
        )
    containers, stacks = await host_stacks(view)
    stack = find_stack(stacks, params.stack)
    if stack is None or not stack.found:
        return f"stack {params.stack} does not run on {view.host.name}"
    apps = service_containers(stack, stack.roles.app)
    if not apps:
        why = stack.roles.reasons.get("app", "")
        return (
            f"no app service found in {stack.name} ({why}): set "
            f"{config_key(env, params.stack, 'services.app')}"
        )
    app = first_running(apps) or max(apps, key=creation)
    dbs = service_containers(stack, stack.roles.database)
    db = first_running(dbs) or newest(dbs)
    if db is not None:
        blocked = blocked_refusal(NAME, env, await blocking_findings(view, containers, stacks, db))
        if blocked:
            return blocked
    secrets = tuple(sorted(secret_values(containers)))
    if db is not None and db.state.running:
        locked = lock_refusal(db, await _lock_obstacles(view, stack, app, db, secrets))
        if locked:
            return locked
    if stack.backup_command:
        if db is None:
            return (
                f"{stack.name} declares a backup_command but has no database container to run it in"
            )
        if not db.state.running:
            return (
                f"the backup_command runs in {db.name}, which is {db.state.status}: "
                f"start {db.name} first (container.restart)"
            )
        return _Located(stack, app, db, None, secrets)
    volume = data_volume(db) if db is not None else None
    if volume is None:
        where = f"{db.name} keeps" if db else "the database keeps"
        note = (
            f"no backup first: {where} its data on no named volume and "
            f"{config_key(env, params.stack, 'backup_command')} is not set"
        )
        return _Located(stack, app, db, None, secrets, notes=(note,))
    return _Located(stack, app, db, volume, secrets)


async def _lock_obstacles(
    view: ReadOnlyHost,
    stack: DiscoveredStack,
    app: ContainerDetails,
    db: ContainerDetails,
    secrets: Sequence[str],
) -> list[str]:
    """What a schema change in the app's database would queue behind now (read as the
    database's superuser: every session is visible); [] when it cannot be read (the
    migration then fails on its own if the server does not answer)."""
    target = locate_database(
        app.config.env_map(),
        db.config.env_map(),
        db_names={n for n in (stack.roles.database, db.name, db.compose_service) if n},
        url_key=stack.database.from_env,
    )
    dbname = stack.database.name or (target.dbname if target else None)
    try:
        async with superuser(view.database, db) as pg:
            activity = await read_activity(pg, secrets)
    except HostError:
        return []
    return lock_obstacles(activity, dbname)


def lock_refusal(db: ContainerDetails, obstacles: Sequence[str]) -> str | None:
    """Why the migration must not start while a lock holds the app's tables (None: it may)."""
    if not obstacles:
        return None
    return (
        f"{NAME} would queue behind a lock in {db.name}, and every query of the app on those "
        "tables would then wait behind the migration: " + "; ".join(obstacles) + ". End that "
        "transaction first (db.lock_blocking in the diagnosis names the session), then migrate"
    )


async def _with_backup(view: ReadOnlyHost, located: _Located, params: Params) -> _Located | str:
    """The volume backup decided (image, paths), or why it cannot be made."""
    if located.volume is None or located.stack.backup_command:
        return located
    spec = await prepare(view, located.volume, params.backup_directory)
    if isinstance(spec, str):
        return f"cannot back up {located.volume} before migrating: {spec}"
    # a running database is stopped for the archive (_snapshot_operations): no note that
    # its copy would be of files being written
    db = located.db.name if located.db is not None else None
    others = tuple(u for u in spec.running_users if u != db)
    notes = (*located.notes, *backup_notes(spec.model_copy(update={"running_users": others}))[1:])
    return replace(located, backup=spec, notes=notes)


def compose_run_argv(
    compose: Sequence[str],
    *,
    socket: str,
    project: str,
    working_dir: str,
    config_files: Sequence[str],
    env_files: Sequence[str],
    service: str,
    command: Sequence[str],
) -> list[str]:
    """``compose … run --rm --no-deps -T -- SERVICE COMMAND…`` (see the module docstring)."""
    prefix = compose_prefix(
        compose,
        socket=socket,
        project=project,
        working_dir=working_dir,
        config_files=config_files,
        env_files=env_files,
    )
    return [*prefix, "run", "--rm", "--no-deps", "-T", "--", service, *command]


async def _with_run(view: ReadOnlyHost, located: _Located) -> _Located | str:
    """For a stopped app: the ``compose run`` argv, or why it cannot be built."""
    app, stack = located.app, located.stack
    if app.state.running:
        return located
    service, project = app.compose_service, app.compose_project
    if not service or not project:
        return (
            f"{app.name} is {app.state.status} and carries no compose labels: stackbot cannot "
            f"run the migration in a one-off container of it; start {app.name} first "
            "(container.restart)"
        )
    working_dir = app.labels.get(COMPOSE_WORKING_DIR) or stack.working_dir
    if not working_dir:
        return f"{app.name} has no compose working-dir label: cannot tell where to run compose"
    files = absolute_paths(app.labels.get(COMPOSE_CONFIG_FILES, ""), working_dir)
    files = files or stack.config_files
    if not files:
        return f"{app.name} names no compose file (label {COMPOSE_CONFIG_FILES})"
    wanted = [*absolute_paths(app.labels.get(COMPOSE_ENV_FILE, ""), working_dir)]
    if stack.env_file_source in ("label", "declared"):
        wanted += stack.env_files
    env_files: list[str] = []
    for path in dict.fromkeys(wanted):
        try:
            await view.read_file(path, max_bytes=1)
        except (HostError, OSError):
            return f"the env file {path} of {project} cannot be read: compose would fail"
        env_files.append(path)
    compose = await view.compose()
    if compose is None:
        return (
            f"{app.name} is {app.state.status} and the host has neither `docker compose` nor "
            f"`docker-compose` to run the migration in a one-off container: start {app.name} "
            "first (container.restart)"
        )
    argv = compose_run_argv(
        compose.argv,
        socket=view.host.docker_socket,
        project=project,
        working_dir=working_dir,
        config_files=files,
        env_files=env_files,
        service=service,
        command=stack.migrate_command,
    )
    return replace(located, run_argv=tuple(argv))


DB_STOP_TIMEOUT = 30
DB_READY_WAIT = 60.0


def _snapshot_operations(located: _Located, spec: BackupSpec) -> list[tuple[Step, Run]]:
    """Archive the data volume; a running database is stopped for it (a copy of files a
    live server writes is no snapshot) and started again whatever happened, then waited
    for until it accepts connections, before anything migrates."""
    volume_step = spec.step()
    db = located.db
    if db is None or db.name not in spec.running_users:

        async def archive_only(session: HostSession) -> StepOutcome:
            return await run_backup(session, spec, volume_step.description)

        return [(volume_step, archive_only)]
    name = db.name
    stop = Step(
        description=f"stop {name} so the archive is a consistent copy (the database is down "
        "until the step after next)",
        call=f"POST /containers/{name}/stop?t={DB_STOP_TIMEOUT}",
    )
    start = Step(
        description=f"start {name} and wait until it accepts connections "
        f"(pg_isready, up to {DB_READY_WAIT:g} s)",
        call=f"POST /containers/{name}/start; exec pg_isready in {name} every 1 s",
    )

    async def stop_db(session: HostSession) -> StepOutcome:
        try:
            await session.docker.stop_container(name, timeout=DB_STOP_TIMEOUT)
        except HostError as exc:
            return StepOutcome(step=stop.description, ok=False, detail=exc.detail)
        return StepOutcome(step=stop.description, ok=True)

    async def archive(session: HostSession) -> StepOutcome:
        done = await run_backup(session, spec, volume_step.description)
        if done.ok:
            return done
        started = await _start_db(session, name, start.description)  # never left down
        again = "started again" if started.ok else f"NOT started again: {started.detail}"
        return done.model_copy(update={"detail": f"{done.detail}; {name} was {again}"})

    async def start_db(session: HostSession) -> StepOutcome:
        return await _start_db(session, name, start.description)

    return [(stop, stop_db), (volume_step, archive), (start, start_db)]


async def _start_db(session: HostSession, name: str, description: str) -> StepOutcome:
    """Start the database container and wait until ``pg_isready`` says it answers (where
    the image has no pg_isready: until it has stayed up a few seconds)."""
    try:
        await session.docker.start_container(name)
    except HostError as exc:
        return StepOutcome(step=description, ok=False, detail=exc.detail)
    started = time.monotonic()
    while time.monotonic() - started < DB_READY_WAIT:
        try:
            ready = await session.docker.exec_run(name, ["pg_isready", "-q"], timeout=10)
        except HostError as exc:
            return StepOutcome(step=description, ok=False, detail=exc.detail)
        if ready.exit_code == 0:
            waited = time.monotonic() - started
            return StepOutcome(step=description, ok=True, detail=f"ready after {waited:.1f} s")
        if ready.exit_code in (126, 127):  # no pg_isready in this image
            watched = await settle(session.docker, [name], seconds=5)
            return StepOutcome(step=description, ok=watched.ok, detail=watched.detail)
        await asyncio.sleep(1)
    return StepOutcome(
        step=description, ok=False, detail=f"{name} did not accept connections within "
        f"{DB_READY_WAIT:g} s: nothing was migrated",
    )  # fmt: skip


def _operations(
    located: _Located, settle_seconds: float = SETTLE_SECONDS
) -> list[tuple[Step, Run]]:
    """The steps, in order, each with what apply runs for it."""
    ops: list[tuple[Step, Run]] = []
    stack, secrets = located.stack, located.secrets
    if stack.backup_command and located.db is not None:
        db = located.db.name
        ops.append(
            _exec_operation(
                db, stack.backup_command,
                f"back up the database with {stack.name}'s backup_command in {db}",
                secrets, "backup",
            )
        )  # fmt: skip
    elif located.backup is not None:
        ops += _snapshot_operations(located, located.backup)
    app = located.app.name
    if not located.run_argv:
        ops.append(
            _exec_operation(
                app, stack.migrate_command, f"run {stack.name}'s migrate_command in {app}",
                secrets, "migrated",
            )
        )  # fmt: skip
        return ops
    service = located.app.compose_service
    ops.append(
        _compose_run_operation(
            located,
            f"run {stack.name}'s migrate_command in a "
            f"one-off container of service {service} ({app} is {located.app.state.status})",
        )
    )
    ops.append(_start_operation(located, settle_seconds))
    return ops


def _compose_run_operation(located: _Located, description: str) -> tuple[Step, Run]:
    argv, secrets = located.run_argv, located.secrets
    step = Step(description=description, call=redact_text(quote_argv(argv), known_secrets=secrets))

    async def run(session: HostSession) -> StepOutcome:
        try:
            result = await session.run(list(argv), timeout=MIGRATE_TIMEOUT, check=False)
        except HostError as exc:
            detail = redact_text(exc.detail, known_secrets=secrets)
            return StepOutcome(step=description, ok=False, detail=detail)
        tail = output_tail(result.stdout + "\n" + result.stderr, secrets) or "no output"
        if not result.ok:
            return StepOutcome(
                step=description, ok=False, detail=f"exited {result.exit_status}: {tail}"
            )
        return StepOutcome(step=description, ok=True, detail=f"migrated: {tail}")

    return step, run


def _start_operation(located: _Located, seconds: float) -> tuple[Step, Run]:
    app = located.app
    description = f"start {app.name} and watch it stay up for {seconds:g} s"
    step = Step(description=description, call=f"POST /containers/{app.name}/start")

    async def run(session: HostSession) -> StepOutcome:
        try:
            await session.docker.start_container(app.id)
        except HostError as exc:
            return StepOutcome(step=description, ok=False, detail=exc.detail)
        watched = await settle(session.docker, [app.id], seconds=seconds)
        if watched.ok:
            return StepOutcome(step=description, ok=True, detail=f"{app.name} {watched.detail}")
        logs = redact_text(watched.logs, known_secrets=located.secrets)
        detail = f"{app.name} did not stay up: {watched.detail}"
        if logs:
            detail += " — last lines: " + " ⏎ ".join(logs.splitlines()[-5:])
        return StepOutcome(step=description, ok=False, detail=detail)

    return step, run


def _exec_operation(
    container: str, argv: Sequence[str], description: str, secrets: Sequence[str], done: str
) -> tuple[Step, Run]:
    """A ``docker exec`` step (its call shown redacted) and what apply runs for it."""
    step = Step(
        description=description,
        call=redact_text(f"docker exec {container} {quote_argv(argv)}", known_secrets=secrets),
    )

    async def run(session: HostSession) -> StepOutcome:
        return await _exec_step(session, container, argv, description, secrets, done)

    return step, run


async def _exec_step(
    session: HostSession,
    container: str,
    argv: Sequence[str],
    description: str,
    secrets: Sequence[str],
    done: str,
) -> StepOutcome:
    try:
        result = await session.docker.exec_run(container, argv, timeout=MIGRATE_TIMEOUT)
    except HostError as exc:
        return StepOutcome(
            step=description, ok=False, detail=redact_text(exc.detail, known_secrets=secrets)
        )
    tail = output_tail(result.output, secrets) or "no output"
    if result.exit_code != 0:
        return StepOutcome(step=description, ok=False, detail=f"exited {result.exit_code}: {tail}")
    return StepOutcome(step=description, ok=True, detail=f"{done}: {tail}")


async def _check(view: ReadOnlyHost, container: str, argv: Sequence[str]) -> ExecResult:
    """Run the inventory's migration check command in the app container, as the diagnosis
    does. ``ReadOnlyHost`` offers no exec (a command may change anything); a check
    command is declared read-only by the inventory, so it is reached through the session
    until ``ReadOnlyDocker`` has a method for it."""
    return await view._session.docker.exec_run(container, argv)


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    base = Plan(action=NAME, target={"stack": params.stack}, destructive=True)
    located = await _locate(view, params)
    if isinstance(located, str):
        return base.model_copy(update={"refusal": located})
    stack, app = located.stack, located.app
    before: dict[str, object] = {"app_container": app.name, "backup": located.backup_label}
    notes = list(located.notes)
    if not app.state.running:
        before["app_state"] = app.state.status
        before["migration_check"] = "app not running"
        notes.append(
            f"{app.name} is {app.state.status}: the migration runs in a one-off container of "
            "its service, then it is started (no migration check can run in a stopped "
            "container, so the run is planned; migration tools skip what is applied)"
        )
    elif stack.migration_check_command:
        try:
            check = await _check(view, app.name, stack.migration_check_command)
        except HostError as exc:
            before["migration_check"] = "could not run"
            notes.append(
                "the migration check could not run "
                f"({redact_text(exc.detail, known_secrets=located.secrets)}): planning the run"
            )
        else:
            before["migration_check"] = f"exit {check.exit_code}"
            if check.exit_code == 0:
                return base.model_copy(update={"before": before, "after": before})
            tail = output_tail(check.output, located.secrets)
            notes.append(f"migration check exited {check.exit_code}: {tail or 'no output'}")
    else:
        before["migration_check"] = "not configured"
        notes.append(
            "no migration_check_command: stackbot cannot tell whether migrations are pending, "
            "so it plans the run every time (set "
            f"{config_key(view.host.env, params.stack, 'migration_check_command')} to make "
            "this action idempotent)"
        )
    backed = await _with_backup(view, located, params)
    if not isinstance(backed, str):
        backed = await _with_run(view, backed)
    if isinstance(backed, str):
        return base.model_copy(update={"before": before, "refusal": backed})
    notes = [*backed.notes[len(located.notes) :], *notes]
    steps = tuple(step for step, _ in _operations(backed, params.settle))
    after = {**before, "migration_check": "exit 0"} if stack.migration_check_command else before
    if not app.state.running:
        after = {**after, "app_state": "running"}
    return base.model_copy(
        update={"before": before, "after": after, "steps": steps, "notes": tuple(notes)}
    )


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    view = ReadOnlyHost(session)
    located = await _locate(view, params)
    if not isinstance(located, str):
        located = await _with_backup(view, located, params)
    if not isinstance(located, str):
        located = await _with_run(view, located)
    if isinstance(located, str):
        return [StepOutcome(step=plan.steps[0].description, ok=False, detail=located)]
    ops = _operations(located, params.settle)
    if [step.call for step, _ in ops] != [step.call for step in plan.steps]:
        return [
            StepOutcome(
                step=plan.steps[0].description,
                ok=False,
                detail="the host changed while applying (the steps differ): nothing was run",
            )
        ]
    outcomes: list[StepOutcome] = []
    for _, run in ops:
        outcome = await run(session)
        outcomes.append(outcome)
        if not outcome.ok:  # no migration without the backup that was promised
            break
    return outcomes


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return [
        f
        for f in findings
        if f.code in ("db.empty", "db.migrations_pending")
        and params.stack in (f.evidence.get("stack"), f.subject.project)
    ]


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.DESTRUCTIVE,
    verifies=("db.empty", "db.migrations_pending"),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
