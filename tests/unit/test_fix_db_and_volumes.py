"""The data fixes against fakes: db.create, db.migrate, volume.backup, docker.prune.

The lab tests (tests/integration/test_fix_data.py) run them on real engines; these
pin the rules: identifiers quoted and validated, refusals that say what to do,
the helper container's exact body, a prune plan that never removes volumes, and
no password in any plan or outcome.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bot.framework.action import ReadOnlyHost
from bot.framework.session import CommandResult, Database, ExecResult
from bot.inventory.config.models import StackConfig
from bot.model.docker_objects import ContainerDetails, ContainerSummary, DiskUsage, ImageUsage
from runbooks import fix_db_create, fix_db_migrate, fix_docker_prune, fix_volume_backup
from runbooks._backup import BackupSpec, helper_body
from runbooks.fix_db_create import create_sql, quote_identifier, validate_identifier
from tests.unit.diagnose.factories import PLANTED_SECRET, container, lab_stack, volume
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed, fake_host

MIGRATE = ("python3", "/app/manage.py", "migrate")
CHECK = ("python3", "/app/manage.py", "check_migrations")
PG_ISREADY = ("pg_isready", "-q")
BACKUP = ("sh", "-c", "pg_dump -Fc shop > /backups/shop.dump && echo /backups/shop.dump")


# --- fakes with the writes (tests/unit/fakes.py has only the reads) ---------------------


@dataclass
class WritingDocker(FakeDocker):
    wait_status: int = 0
    freed: dict[str, int] = field(default_factory=dict)
    created: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    execs: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    async def exec_run(self, ref: str, argv: Sequence[str], *, timeout: float = 60) -> ExecResult:
        self.execs.append((ref, tuple(argv)))
        return await super().exec_run(ref, argv)

    async def connect_network(
        self, network: str, container: str, *, aliases: Sequence[str] = ()
    ) -> None:
        raise AssertionError("not a data fix")

    async def restart_container(self, ref: str, *, timeout: int = 10) -> None:
        raise AssertionError("not a data fix")

    async def stop_container(self, ref: str, *, timeout: int = 10) -> None:
        """Only db.migrate stops something: the database, for a consistent archive."""
        await self.log.around("stop_container")
        self.stopped.append(ref)

    async def rename_container(self, ref: str, name: str) -> None:
        raise AssertionError("not a data fix")

    async def start_container(self, ref: str) -> None:
        await self.log.around("start_container")
        self.started.append(ref)
        found = self.details.get(ref)
        if found is not None:  # it runs now: settle() sees it up
            state = found.state.model_copy(update={"status": "running", "running": True})
            running = found.model_copy(update={"state": state})
            for key, value in list(self.details.items()):
                if value.id == found.id:
                    self.details[key] = running

    async def remove_container(self, ref: str, *, force: bool = False) -> None:
        self.removed.append(ref)

    async def create_container(self, body: dict[str, Any], *, name: str) -> str:
        self.created.append((name, body))
        return "helper-id"

    async def wait_container(self, ref: str, *, timeout: float) -> int:
        return self.wait_status

    async def prune(self) -> dict[str, int]:
        await self.log.around("prune")
        return self.freed


@dataclass
class FakeDatabase:
    """Answers the SELECTs of db.create by a fragment of their text; records the rest."""

    answers: dict[str, list[tuple[Any, ...]]]
    executed: list[str] = field(default_factory=list)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        for fragment, rows in self.answers.items():
            if fragment in sql:
                return rows
        raise AssertionError(f"unexpected SQL: {sql}")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.executed.append(sql)


class Session(FakeHostSession):
    """A fake session with a database; remembers how it was asked to connect."""

    def __init__(self, *, db: FakeDatabase | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db or FakeDatabase({})
        self.connects: list[dict[str, Any]] = []

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        self.connects.append(
            {"address": address, "port": port, "user": user, "password": password, "db": dbname}
        )

        @asynccontextmanager
        async def connected() -> AsyncIterator[Database]:
            yield self.db

        return connected()


def summaries(containers: Sequence[ContainerDetails]) -> list[ContainerSummary]:
    return [
        ContainerSummary.model_validate(
            {
                "Id": c.id,
                "Names": [f"/{c.name}"],
                "Image": c.config.image,
                "State": c.state.status,
                "Labels": c.labels,
                "Mounts": [m.model_dump(by_alias=True) for m in c.mounts],
            }
        )
        for c in containers
    ]


DIGEST = "5e" * 32


def stat_handler(size: str = "4096", commands: Mapping[str, CommandResult] | None = None) -> Any:
    """Answers stat and sha256sum of an archive, and ``commands`` by the argv's text."""

    def handler(argv: tuple[str, ...]) -> CommandResult:
        if argv[:2] == ("sha256sum", "--"):
            return completed(argv, f"{DIGEST}  {argv[2]}\n")
        for fragment, result in (commands or {}).items():
            if fragment in " ".join(argv):
                return result.model_copy(update={"argv": argv})
        assert argv[:3] == ("stat", "-c", "%s"), argv
        return completed(argv, f"{size}\n")

    return handler


def make_session(
    containers: Sequence[ContainerDetails],
    *,
    stacks: Mapping[str, StackConfig] | None = None,
    execs: Mapping[tuple[str, ...], tuple[int, str]] | None = None,
    db: FakeDatabase | None = None,
    usage: DiskUsage | None = None,
    volumes: Sequence[str] = (),
    wait_status: int = 0,
    freed: dict[str, int] | None = None,
    stat: str = "4096",
    commands: Mapping[str, CommandResult] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> tuple[Session, WritingDocker]:
    answers = {PG_ISREADY: (0, ""), **dict(execs or {})}

    def exec_handler(ref: str, argv: tuple[str, ...]) -> ExecResult:
        code, output = answers[argv]
        return ExecResult(container=ref, argv=argv, exit_code=code, output=output)

    docker = WritingDocker(
        log=CallLog(),
        container_list=summaries(containers),
        details={**{c.id: c for c in containers}, **{c.name: c for c in containers}},
        volume_list=[volume(name) for name in volumes],
        disk_usage_data=usage or DiskUsage.model_validate({}),
        exec_handler=exec_handler,
        wait_status=wait_status,
        freed=freed or {},
    )
    host = fake_host().model_copy(update={"stacks": dict(stacks or {})})
    session = Session(
        docker=docker,
        db=db or FakeDatabase({"pg_control_system": [], "pg_stat_activity": []}),
        host=host,
        handler=stat_handler(stat, commands),
        files=dict(files or {}),
    )
    return session, docker


def leaks(*models: BaseModel | Sequence[BaseModel]) -> bool:
    text = json.dumps(
        [
            [m.model_dump(mode="json") for m in item]
            if isinstance(item, Sequence)
            else item.model_dump(mode="json")
            for item in models
        ]
    )
    return PLANTED_SECRET in text


# --- identifiers ---------------------------------------------------------------------


def test_identifiers_are_double_quoted_with_embedded_quotes_doubled() -> None:
    assert quote_identifier("shop") == '"shop"'
    assert quote_identifier('we"ird') == '"we""ird"'
    assert quote_identifier('x"; DROP DATABASE prod; --') == '"x""; DROP DATABASE prod; --"'
    assert create_sql("shop", "Shop Owner") == 'CREATE DATABASE "shop" OWNER "Shop Owner"'


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("sh\0op", "NUL"),
        ("shop\n", "control character"),
        ("a" * 64, "longer than 63 bytes"),
        ("é" * 32, "longer than 63 bytes"),  # 64 bytes in UTF-8
    ],
)
def test_identifiers_refuse_nul_control_characters_and_more_than_63_bytes(
    name: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        validate_identifier(name)
    with pytest.raises(ValueError, match=why):
        quote_identifier(name)
    with pytest.raises(ValidationError, match=why):
        fix_db_create.Params(host="web1", stack="shop", database=name, owner="shop")
    with pytest.raises(ValidationError, match=why):
        fix_db_create.Params(host="web1", stack="shop", database="shop", owner=name)


def test_a_63_byte_identifier_is_fine() -> None:
    assert quote_identifier("a" * 63) == '"' + "a" * 63 + '"'


# --- db.create -----------------------------------------------------------------------


def create_db(*, exists: bool = False, owner: bool = True, may: bool = True) -> FakeDatabase:
    return FakeDatabase(
        {
            "from pg_database": [("shop",)] if exists else [],
            "rolname = %s": [(1,)] if owner else [],
            "current_user": [(may,)],
            "pg_control_system": [],
        }
    )


CREATE = fix_db_create.Params(host="web1", stack="shop", database="shop", owner="shop")


async def test_db_create_connects_as_the_db_containers_superuser_and_plans_quoted_sql() -> None:
    stack = lab_stack()
    fake, _ = make_session(stack, db=create_db())
    plan = await fix_db_create.plan(ReadOnlyHost(fake), CREATE)
    assert plan.refusal is None
    assert [s.call for s in plan.steps] == ['CREATE DATABASE "shop" OWNER "shop"']
    assert plan.before == {"server": "shop-db-1", "database": "absent", "owner": "present"}
    db = next(c for c in stack if c.name == "shop-db-1")
    # first the cluster's age (does volume.orphaned_data stand?), then the plan's reads
    first, connect = fake.connects
    assert first == connect
    assert connect["address"] == next(iter(db.networks.values())).ip_address
    assert (connect["user"], connect["password"], connect["db"]) == (
        "shop",
        PLANTED_SECRET,
        "postgres",
    )
    assert not leaks(plan)

    outcomes = await fix_db_create.apply(fake, CREATE, plan)
    assert [o.ok for o in outcomes] == [True]
    assert fake.db.executed == ['CREATE DATABASE "shop" OWNER "shop"']
    assert not leaks(*outcomes)


async def test_db_create_plan_is_empty_when_the_database_exists() -> None:
    fake, _ = make_session(lab_stack(), db=create_db(exists=True))
    plan = await fix_db_create.plan(ReadOnlyHost(fake), CREATE)
    assert plan.empty and plan.refusal is None
    assert plan.before["database"] == "present"


@pytest.mark.parametrize(
    ("db", "says"),
    [
        (create_db(owner=False), "role shop does not exist"),
        (create_db(may=False), "may not create databases"),
    ],
)
async def test_db_create_refuses_without_the_owner_role_or_the_right(
    db: FakeDatabase, says: str
) -> None:
    fake, _ = make_session(lab_stack(), db=db)
    plan = await fix_db_create.plan(ReadOnlyHost(fake), CREATE)
    assert plan.refusal is not None and says in plan.refusal and plan.empty


async def test_db_create_refuses_when_the_database_container_is_stopped() -> None:
    stack = [
        c
        if c.name != "shop-db-1"
        else container(
            "shop-db-1",
            project="shop",
            service="db",
            image="lab/postgres:16",
            state="exited",
            env={"POSTGRES_PASSWORD": PLANTED_SECRET},
            networks=["shop_default"],
            volumes=["shop_pgdata"],
        )
        for c in lab_stack()
    ]
    fake, _ = make_session(stack, db=create_db())
    plan = await fix_db_create.plan(ReadOnlyHost(fake), CREATE)
    assert plan.refusal == (
        "the database container shop-db-1 of shop is exited: start shop-db-1 first "
        "(container.restart)"
    )
    assert fake.connects == []


# --- db.migrate ----------------------------------------------------------------------


def migrate_params(stack: str = "shop") -> fix_db_migrate.Params:
    return fix_db_migrate.Params(host="web1", stack=stack)


@pytest.mark.parametrize("stacks", [{}, {"shop": StackConfig()}])
async def test_db_migrate_without_a_declared_migrate_command_names_the_key_to_set(
    stacks: dict[str, StackConfig],
) -> None:
    fake, docker = make_session(lab_stack(), stacks=stacks)
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())
    assert plan.refusal is not None
    assert "set environments.prod.stacks.shop.migrate_command" in plan.refusal
    assert docker.execs == []


V2 = {"docker compose version --short": completed((), "2.40.3\n")}


def stopped_backend(stack: list[ContainerDetails]) -> list[ContainerDetails]:
    return [
        c
        if c.name != "shop-backend-1"
        else container(
            "shop-backend-1",
            project="shop",
            service="backend",
            state="exited",
            env={"DATABASE_URL": f"postgresql://shop:{PLANTED_SECRET}@db:5432/shop"},
            networks=["shop_default"],
            environment_file="/srv/shop/.env.prod",
        )
        for c in stack
    ]


async def test_db_migrate_with_the_app_down_runs_a_one_off_container_then_starts_the_app() -> None:
    cfg = StackConfig(migrate_command=MIGRATE, migration_check_command=CHECK)
    ran = completed((), "  Applying 0001_initial... OK\n")
    fake, docker = make_session(
        stopped_backend(lab_stack()),
        stacks={"shop": cfg},
        volumes=["shop_pgdata"],
        commands={**V2, " run --rm ": ran},
        files={"/srv/shop/.env.prod": b"X=1\n"},
    )
    params = migrate_params().model_copy(update={"settle": 0.0})
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), params)
    assert plan.refusal is None, plan.refusal
    # the running database is stopped for a consistent archive, then waited for
    assert [s.description.split()[0] for s in plan.steps] == [
        "stop", "archive", "start", "run", "start",
    ]  # fmt: skip
    assert plan.before["migration_check"] == "app not running"
    assert plan.steps[3].call == (
        "env DOCKER_HOST=unix:///var/run/docker.sock docker compose -p shop "
        "--project-directory /srv/shop -f /srv/shop/docker-compose.yml "
        "--env-file /srv/shop/.env.prod run --rm --no-deps -T -- backend "
        "python3 /app/manage.py migrate"
    )
    assert docker.execs == []  # the check cannot run in a stopped container

    outcomes = await fix_db_migrate.apply(fake, params, plan)
    assert [o.ok for o in outcomes] == [True] * 5, outcomes
    assert "Applying 0001_initial" in outcomes[3].detail
    assert docker.stopped == ["shop-db-1"]
    assert docker.started == ["helper-id", "shop-db-1", docker.details["shop-backend-1"].id]
    assert docker.execs == [("shop-db-1", PG_ISREADY)]
    assert docker.details["shop-backend-1"].state.running
    run = next(argv for argv in fake.commands if "run" in argv)
    assert run[run.index("--") + 1 :] == ("backend", *MIGRATE)


async def test_db_migrate_plan_is_empty_when_the_check_passes() -> None:
    cfg = StackConfig(migrate_command=MIGRATE, migration_check_command=CHECK)
    fake, docker = make_session(
        lab_stack(),
        stacks={"shop": cfg},
        execs={CHECK: (0, "All migrations applied.\n")},
        volumes=["shop_pgdata"],
    )
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())
    assert plan.empty and plan.refusal is None
    assert plan.before["migration_check"] == "exit 0"
    assert docker.execs == [("shop-backend-1", CHECK)]


async def test_db_migrate_backs_up_the_data_volume_first_then_migrates() -> None:
    cfg = StackConfig(migrate_command=MIGRATE, migration_check_command=CHECK)
    fake, docker = make_session(
        lab_stack(),
        stacks={"shop": cfg},
        execs={CHECK: (1, "Pending migrations: 0001_initial\n"), MIGRATE: (0, "OK\n")},
        volumes=["shop_pgdata"],
        stat="123456",
    )
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())
    assert plan.refusal is None
    assert [s.description.split()[0] for s in plan.steps] == ["stop", "archive", "start", "run"]
    assert plan.steps[0].call == "POST /containers/shop-db-1/stop?t=30"
    assert "shop_pgdata:/data:ro" in plan.steps[1].call
    assert plan.steps[3].call == "docker exec shop-backend-1 python3 /app/manage.py migrate"
    assert any("Pending migrations: 0001_initial" in note for note in plan.notes)
    assert not any("not a consistent snapshot" in note for note in plan.notes)

    outcomes = await fix_db_migrate.apply(fake, migrate_params(), plan)
    assert [o.ok for o in outcomes] == [True] * 4
    assert docker.stopped == ["shop-db-1"] and docker.started == ["helper-id", "shop-db-1"]
    assert "archive /var/backups/stackbot/shop_pgdata-" in outcomes[1].detail
    assert f".tar.gz, 123456 bytes, sha256 {DIGEST}; to restore it: stop shop-db-1" in (
        outcomes[1].detail
    )
    ((name, body),) = docker.created
    assert name.startswith("stackbot-backup-")
    assert body["HostConfig"]["Binds"][0] == "shop_pgdata:/data:ro"
    assert docker.removed == ["helper-id"]
    assert docker.execs[-1] == ("shop-backend-1", MIGRATE)


async def test_db_migrate_runs_the_declared_backup_command_in_the_database_container() -> None:
    cfg = StackConfig(migrate_command=MIGRATE, backup_command=BACKUP)
    fake, docker = make_session(
        lab_stack(),
        stacks={"shop": cfg},
        execs={BACKUP: (0, "dumping…\n/backups/shop.dump\n"), MIGRATE: (0, "OK\n")},
    )
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())
    assert [s.call.split()[2] for s in plan.steps] == ["shop-db-1", "shop-backend-1"]
    assert any("cannot tell whether migrations are pending" in note for note in plan.notes)
    assert any("stacks.shop.migration_check_command" in note for note in plan.notes)

    outcomes = await fix_db_migrate.apply(fake, migrate_params(), plan)
    assert outcomes[0].ok and outcomes[0].detail.endswith("/backups/shop.dump")
    assert docker.execs == [("shop-db-1", BACKUP), ("shop-backend-1", MIGRATE)]
    assert docker.created == []


async def test_db_migrate_failure_is_a_failed_step_with_the_redacted_output_tail() -> None:
    cfg = StackConfig(migrate_command=MIGRATE)
    output = "".join(f"line {i}\n" for i in range(40))
    output += f"could not connect to postgresql://shop:{PLANTED_SECRET}@db/shop\n"
    fake, _ = make_session(
        lab_stack(), stacks={"shop": cfg}, execs={MIGRATE: (2, output)}, volumes=["shop_pgdata"]
    )
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())
    outcomes = await fix_db_migrate.apply(fake, migrate_params(), plan)
    assert [o.ok for o in outcomes] == [True, True, True, False]  # stop, archive, start
    detail = outcomes[3].detail
    assert detail.startswith("exited 2: ") and "line 39" in detail and "line 10 " not in detail
    assert "***" in detail and not leaks(plan, outcomes)


async def test_db_migrate_does_not_migrate_when_the_backup_fails() -> None:
    """Nothing made worse: the database stopped for the archive runs again, and nothing
    migrates without the backup that was promised."""
    cfg = StackConfig(migrate_command=MIGRATE)
    fake, docker = make_session(
        lab_stack(), stacks={"shop": cfg}, volumes=["shop_pgdata"], wait_status=2
    )
    docker.log_text["helper-id"] = "tar: /backup/x: Cannot open: Permission denied\n"
    plan = await fix_db_migrate.plan(ReadOnlyHost(fake), migrate_params())
    outcomes = await fix_db_migrate.apply(fake, migrate_params(), plan)
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].detail == (
        "tar exited 2: tar: /backup/x: Cannot open: Permission denied; shop-db-1 was started again"
    )
    assert docker.stopped == ["shop-db-1"] and docker.started == ["helper-id", "shop-db-1"]
    assert docker.execs == [("shop-db-1", PG_ISREADY)] and docker.removed == ["helper-id"]


# --- volume.backup ---------------------------------------------------------------------


SPEC = BackupSpec(
    volume="shop_pgdata",
    directory="/var/backups/stackbot",
    image="sha256:" + "ab" * 32,
    image_name="lab/postgres:16",
    masked=("/var/lib/postgresql/data",),
)


def test_the_helper_mounts_the_volume_read_only_and_runs_tar_as_argv() -> None:
    archive = SPEC.archive(datetime(2025, 10, 10, 12, 0, 1, tzinfo=UTC))
    assert archive == "shop_pgdata-20251010T120001Z.tar.gz"
    body = helper_body(SPEC, archive)
    assert body["Image"] == SPEC.image and body["Entrypoint"] == []
    assert body["Cmd"] == ["tar", "-czf", f"/backup/{archive}", "-C", "/data", "."]
    assert body["HostConfig"]["Binds"] == [
        "shop_pgdata:/data:ro",
        "/var/backups/stackbot:/backup",
    ]
    assert body["HostConfig"]["NetworkMode"] == "none" and body["NetworkDisabled"] is True
    # the image's own VOLUME is covered by a tmpfs, so no anonymous volume is left behind
    assert body["HostConfig"]["Tmpfs"] == {"/var/lib/postgresql/data": ""}


@pytest.mark.parametrize(
    "directory",
    ["backups", "/a/../etc", "/a/./b", "/a//b", "/a/", "/", "/a:b", "/a,b", "/a b", "/proc/x"],
)
def test_backup_directories_are_validated(directory: str) -> None:
    with pytest.raises(ValidationError):
        fix_volume_backup.Params(host="web1", volume="v1", directory=directory)
    with pytest.raises(ValidationError):
        fix_db_migrate.Params(host="web1", stack="shop", backup_directory=directory)


@pytest.mark.parametrize("name", ["", "x", "-v", "a/b", "a:b", "a b", "v\0"])
def test_volume_names_are_validated(name: str) -> None:
    with pytest.raises(ValidationError):
        fix_volume_backup.Params(host="web1", volume=name)


async def test_backup_of_a_volume_no_container_mounts_asks_for_an_image() -> None:
    fake, _ = make_session([], volumes=["multivendor_postgres_data"])
    params = fix_volume_backup.Params(host="web1", volume="multivendor_postgres_data")
    plan = await fix_volume_backup.plan(ReadOnlyHost(fake), params)
    assert plan.refusal is not None and "pass the param image" in plan.refusal


async def test_backup_of_a_missing_volume_is_refused() -> None:
    fake, _ = make_session([], volumes=[])
    params = fix_volume_backup.Params(host="web1", volume="gone")
    plan = await fix_volume_backup.plan(ReadOnlyHost(fake), params)
    assert plan.refusal == "volume gone does not exist on web1"


async def test_backup_with_an_image_param_uses_that_local_image_only() -> None:
    busybox = ImageUsage.model_validate({"Id": "sha256:" + "cd" * 32, "RepoTags": ["busybox:1"]})
    usage = DiskUsage.model_validate({"Images": [busybox.model_dump(by_alias=True)]})
    fake, docker = make_session([], volumes=["old_data"], usage=usage)
    params = fix_volume_backup.Params(host="web1", volume="old_data", image="busybox:1")
    plan = await fix_volume_backup.plan(ReadOnlyHost(fake), params)
    assert plan.refusal is None and len(plan.steps) == 1
    assert any("two archives" in note for note in plan.notes)  # not idempotent, and says so
    outcomes = await fix_volume_backup.apply(fake, params, plan)
    assert outcomes[0].ok and f".tar.gz, 4096 bytes, sha256 {DIGEST};" in outcomes[0].detail
    ((_, body),) = docker.created
    assert body["Image"] == busybox.id and "Tmpfs" not in body["HostConfig"]

    missing = params.model_copy(update={"image": "alpine:3"})
    plan = await fix_volume_backup.plan(ReadOnlyHost(fake), missing)
    assert plan.refusal is not None and "does not pull" in plan.refusal


async def test_backup_plans_the_same_steps_twice_and_each_apply_writes_an_archive() -> None:
    fake, docker = make_session(lab_stack(), volumes=["shop_pgdata"])
    params = fix_volume_backup.Params(host="web1", volume="shop_pgdata")
    first = await fix_volume_backup.plan(ReadOnlyHost(fake), params)
    second = await fix_volume_backup.plan(ReadOnlyHost(fake), params)
    assert first.fingerprint == second.fingerprint and not first.empty
    assert first.before["mounted_by"] == ["shop-db-1"]
    assert any("not a consistent snapshot" in note for note in first.notes)
    for _ in range(2):
        await fix_volume_backup.apply(fake, params, first)
    assert len(docker.created) == 2 and docker.removed == ["helper-id", "helper-id"]


# --- docker.prune ----------------------------------------------------------------------


def prune_host() -> tuple[Session, WritingDocker]:
    containers = [
        container("web", image="app:1"),
        container("old-job", state="exited", image="sha256:" + "11" * 32),
        container("shop-backend-1", project="shop", service="backend", state="exited"),
        container("never-started", state="created"),
    ]
    stopped_image = containers[1].image_id
    usage = DiskUsage.model_validate(
        {
            "Images": [
                {"Id": "sha256:" + "aa" * 32, "RepoTags": ["app:1"], "Size": 900, "Containers": 1},
                {"Id": "sha256:" + "bb" * 32, "RepoTags": None, "Size": 100, "SharedSize": 40,
                 "Containers": 0},
                {"Id": "sha256:" + "cc" * 32, "RepoTags": ["<none>:<none>"], "Size": 70,
                 "Containers": 1},  # used by a running container: stays
                {"Id": stopped_image, "RepoTags": [], "Size": 30, "Containers": 1},
            ],
            "Containers": [{"Id": containers[1].id, "SizeRw": 5, "State": "exited"}],
            "BuildCache": [
                {"ID": "b1", "Size": 500, "InUse": False},
                {"ID": "b2", "Size": 800, "InUse": True},
            ],
            "Volumes": [
                {"Name": "shop_pgdata", "UsageData": {"Size": 10, "RefCount": 1}},
                {"Name": "orphaned_data", "UsageData": {"Size": 10, "RefCount": 0}},
            ],
        }
    )  # fmt: skip
    return make_session(
        containers, usage=usage, freed={"containers": 5, "images": 90, "build_cache": 500}
    )


async def test_prune_plan_names_what_goes_and_never_volumes() -> None:
    fake, _ = prune_host()
    params = fix_docker_prune.Params(host="web1")
    plan = await fix_docker_prune.plan(ReadOnlyHost(fake), params)
    assert plan.before == {
        "stopped_containers": ["never-started", "old-job", "shop-backend-1"],
        "dangling_images": 2,  # unused, and used only by a stopped container
        "dangling_image_bytes": 90,
        "build_cache_records": 1,
        "build_cache_bytes": 500,
    }
    assert [s.call for s in plan.steps] == [
        "POST /containers/prune",
        'POST /images/prune?filters={"dangling":["true"]}',
        "POST /build/prune",
    ]
    assert "never-started, old-job, shop-backend-1" in plan.steps[0].description
    for step in plan.steps:
        assert "volume" not in step.description.lower() and "volume" not in step.call.lower()
    assert (
        "volumes are never removed" in plan.notes[0]
        and "1 of them used by no container" in plan.notes[0]
    )
    assert any("shop-backend-1" in note and "compose" in note for note in plan.notes[1:])

    outcomes = await fix_docker_prune.apply(fake, params, plan)
    assert [o.detail for o in outcomes] == ["5 B freed", "90 B freed", "500 B freed"]


async def test_prune_plan_is_empty_when_nothing_can_go() -> None:
    usage = DiskUsage.model_validate(
        {
            "Images": [{"Id": "sha256:" + "aa" * 32, "RepoTags": ["app:1"], "Containers": 1}],
            "Volumes": [{"Name": "unused", "UsageData": {"Size": 10, "RefCount": 0}}],
        }
    )
    fake, docker = make_session([container("web", image="app:1")], usage=usage)
    plan = await fix_docker_prune.plan(ReadOnlyHost(fake), fix_docker_prune.Params(host="web1"))
    assert plan.empty and plan.refusal is None
    assert docker.log.count("prune") == 0


# --- the declarations ------------------------------------------------------------------


def test_the_actions_declare_their_risk_and_what_they_verify() -> None:
    declared = {
        a.name: (a.destructive, a.verifies)
        for a in (
            fix_db_create.ACTION,
            fix_db_migrate.ACTION,
            fix_volume_backup.ACTION,
            fix_docker_prune.ACTION,
        )
    }
    assert declared == {
        "db.create": (False, ("db.missing",)),
        "db.migrate": (True, ("db.empty", "db.migrations_pending")),
        "volume.backup": (False, ()),
        "docker.prune": (True, ()),
    }
