"""Create a stack's missing database, owned by the role the app logs in as.

The fix for ``db.missing`` (the database the app's URL names does not exist:
dropped, or a fresh data volume where ``POSTGRES_DB`` was never created). It
connects to the ``postgres`` maintenance database of the stack's running
database container as that container's superuser (``POSTGRES_USER`` /
``POSTGRES_PASSWORD`` of its own environment) and runs ``CREATE DATABASE``.
Not destructive: nothing that exists is touched. The new database is empty:
run the stack's migrations next (``db.migrate``).

Refused while ``volume.orphaned_data`` or ``db.reinitialized`` stands for that
database server: an empty database on a new volume would bury where the data
went (restore it first: ``volume.restore``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from pydantic import Field, field_validator

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import Database, HostSession
from bot.inventory.discovery import DiscoveredStack
from bot.model.docker_objects import ContainerDetails
from bot.model.errors import DatabaseMissing, HostError
from bot.model.findings import Finding
from bot.redaction.redact import redact_text
from runbooks._evidence import blocked_refusal, blocking_findings

# Shared with the diagnosis, so a fix finds the database exactly the way the diagnosis
# that proposed it did.
from runbooks._stacks import (
    answering,
    container_address,
    find_stack,
    first_running,
    host_stacks,
    newest,
    secret_values,
    service_containers,
)
from runbooks.diagnose.dbconfig import locate_database

NAME = "db.create"
MAX_IDENTIFIER_BYTES = 63  # Postgres NAMEDATALEN - 1
MAINTENANCE_DATABASES = ("postgres", "template1")
DEFAULT_SUPERUSER = "postgres"
DEFAULT_PORT = 5432


def validate_identifier(name: str, what: str = "name") -> str:
    """A Postgres identifier stackbot will quote: 1-63 bytes, no NUL or control characters."""
    if not name:
        raise ValueError(f"the {what} is empty")
    if "\0" in name:
        raise ValueError(f"the {what} contains a NUL character")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError(f"the {what} contains a control character")
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"the {what} is longer than {MAX_IDENTIFIER_BYTES} bytes "
            "(Postgres would silently truncate it)"
        )
    return name


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (embedded quotes doubled), validated."""
    validate_identifier(name)
    return '"' + name.replace('"', '""') + '"'


def create_sql(database: str, owner: str) -> str:
    return f"CREATE DATABASE {quote_identifier(database)} OWNER {quote_identifier(owner)}"


class Params(HostParams):
    stack: str = Field(description="stack (or compose project) whose database server to use")
    database: str = Field(description="database to create")
    owner: str = Field(description="existing role to own it (the app's user)")

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        return validate_identifier(value, "database name")

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return validate_identifier(value, "owner")


# --- finding a stack and its database server (db.migrate uses these too) ------------


@dataclass(frozen=True)
class DatabaseServer:
    """Where a stack's Postgres answers, and its superuser (password kept out of repr)."""

    container: ContainerDetails = field(repr=False)
    address: str
    port: int
    user: str
    password: str = field(repr=False)
    secrets: frozenset[str] = field(repr=False, default=frozenset())

    def redact(self, text: str) -> str:
        return redact_text(text, known_secrets=[*self.secrets, self.password])


def database_server(
    stack: DiscoveredStack, containers: list[ContainerDetails]
) -> DatabaseServer | str:
    """The running container the app's database settings reach, found as the diagnosis
    finds it (``locate_database``: a URL, libpq ``PG*``, split ``*DB_HOST``/``*DB_PORT``
    with any prefix, gaps from the database service's ``POSTGRES_*``), else the stack's
    running database service; or why there is none."""
    apps = service_containers(stack, stack.roles.app)
    app = first_running(apps) or (apps[0] if apps else None)
    dbs = service_containers(stack, stack.roles.database)
    newest_db = newest(dbs)
    located = locate_database(
        app.config.env_map() if app else {},
        newest_db.config.env_map() if newest_db else {},
        db_names={n for n in (stack.roles.database, *(c.name for c in dbs)) if n},
        url_key=stack.database.from_env,
    )
    host, port = (located.host, located.port) if located else (None, DEFAULT_PORT)
    # the name as the app resolves it: on the app's own networks (another stack's "db"
    # on another network is not its database)
    where = set(app.networks) if app else None
    target = (answering(containers, host, on=where) if host else None) or first_running(dbs)
    if target is None:
        if dbs:
            return (
                f"the database container {dbs[0].name} of {stack.name} is "
                f"{dbs[0].state.status}: start {dbs[0].name} first (container.restart)"
            )
        why = stack.roles.reasons.get("database", "")
        return f"no database container found for stack {stack.name} ({why})"
    address = container_address(target)
    if not address:
        return f"{target.name} has no IP address on any network: stackbot cannot reach it"
    env = target.config.env_map()
    return DatabaseServer(
        container=target,
        address=address,
        port=port,
        user=env.get("POSTGRES_USER") or DEFAULT_SUPERUSER,
        password=env.get("POSTGRES_PASSWORD", ""),
        secrets=frozenset(secret_values(containers)),
    )


Connect = Callable[..., AbstractAsyncContextManager[Database]]


@asynccontextmanager
async def superuser_connection(connect: Connect, server: DatabaseServer) -> AsyncIterator[Database]:
    """Connected as the superuser to the first maintenance database that exists
    (``postgres``, else ``template1``); ``connect`` is ``view.database`` or
    ``session.database``."""
    async with AsyncExitStack() as stack:
        for dbname in MAINTENANCE_DATABASES:
            try:
                pg = await stack.enter_async_context(
                    connect(
                        address=server.address,
                        port=server.port,
                        user=server.user,
                        password=server.password,
                        dbname=dbname,
                    )
                )
            except DatabaseMissing:
                if dbname == MAINTENANCE_DATABASES[-1]:
                    raise
            else:
                break
        yield pg


# --- the action ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Located:
    stack: DiscoveredStack
    server: DatabaseServer


async def _locate(view: ReadOnlyHost, params: Params) -> _Located | str:
    containers, stacks = await host_stacks(view)
    stack = find_stack(stacks, params.stack)
    if stack is None or not stack.found:
        return f"stack {params.stack} does not run on {view.host.name}"
    server = database_server(stack, containers)
    if isinstance(server, str):
        return server
    findings = await blocking_findings(view, containers, stacks, server.container)
    blocked = blocked_refusal(NAME, view.host.env, findings)
    if blocked:
        return blocked
    return _Located(stack, server)


_EXISTS = "select pg_get_userbyid(datdba) from pg_database where datname = %s"
_ROLE = "select 1 from pg_roles where rolname = %s"
_MAY_CREATE = "select rolsuper or rolcreatedb from pg_roles where rolname = current_user"


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    base = Plan(
        action=NAME,
        target={"stack": params.stack, "database": params.database, "owner": params.owner},
        destructive=False,
    )
    located = await _locate(view, params)
    if isinstance(located, str):
        return base.model_copy(update={"refusal": located})
    server = located.server
    where = f"{server.container.name} ({server.address}:{server.port})"
    try:
        async with superuser_connection(view.database, server) as pg:
            existing = await pg.fetch(_EXISTS, [params.database])
            owner_exists = bool(await pg.fetch(_ROLE, [params.owner]))
            may_create = await pg.fetch(_MAY_CREATE)
    except HostError as exc:
        return base.model_copy(
            update={
                "before": {"server": server.container.name},
                "refusal": f"cannot read {where} as its superuser {server.user}: "
                f"{server.redact(exc.detail)}",
            }
        )
    before = {
        "server": server.container.name,
        "database": "present" if existing else "absent",
        "owner": "present" if owner_exists else "absent",
    }
    notes: list[str] = []
    wanted = located.stack.database.name
    if wanted and wanted != params.database:
        notes.append(f"the stack's configured database is {wanted}, not {params.database}")
    if existing:
        current_owner = existing[0][0]
        if current_owner != params.owner:
            notes.append(f"{params.database} exists, owned by {current_owner}, not {params.owner}")
        return base.model_copy(update={"before": before, "after": before, "notes": tuple(notes)})
    if not owner_exists:
        return base.model_copy(
            update={
                "before": before,
                "refusal": f"role {params.owner} does not exist on {where}: create it first "
                "(stackbot creates no roles and sets no passwords)",
            }
        )
    if not (may_create and may_create[0][0]):
        return base.model_copy(
            update={
                "before": before,
                "refusal": f"{server.user} may not create databases on {where} "
                "(neither superuser nor CREATEDB)",
            }
        )
    step = Step(
        description=f"create database {params.database} owned by {params.owner} on {where}, "
        f"connected to its maintenance database as {server.user}",
        call=create_sql(params.database, params.owner),
    )
    notes.append(
        f"the new database is empty: run the migrations next (db.migrate stack={params.stack})"
    )
    return base.model_copy(
        update={
            "before": before,
            "after": {**before, "database": "present"},
            "steps": (step,),
            "notes": tuple(notes),
        }
    )


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    (step,) = plan.steps
    view = ReadOnlyHost(session)
    located = await _locate(view, params)
    if isinstance(located, str):
        return [StepOutcome(step=step.description, ok=False, detail=located)]
    server = located.server
    try:
        async with superuser_connection(session.database, server) as pg:
            await pg.execute(create_sql(params.database, params.owner))
    except HostError as exc:
        return [StepOutcome(step=step.description, ok=False, detail=server.redact(exc.detail))]
    return [
        StepOutcome(
            step=step.description,
            ok=True,
            detail=f"database {params.database} created, owned by {params.owner}",
        )
    ]


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return [
        f
        for f in findings
        if f.code == "db.missing"
        and params.stack in (f.evidence.get("stack"), f.subject.project)
        and f.evidence.get("database") == params.database
    ]


ACTION = Action(
    name=NAME,
    summary=__doc__ or "",
    params=Params,
    risk=Risk.CHANGE,
    verifies=("db.missing",),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
