"""Where the app's database is, however its environment says so; and the gather step that
connects there (a fake session records where it dialled)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.framework.session import CommandResult, Database, ExecResult
from bot.model.docker_objects import ContainerDetails, ContainerSummary, DiskUsage, EngineInfo
from bot.model.errors import DatabaseMissing
from runbooks.diagnose.dbconfig import (
    DbTarget,
    database_candidates,
    locate_database,
    no_target_reason,
)
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import NOW, OLD, PLANTED_SECRET, ago, container
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed

PW = "pw-planted-4e1d"
DB_ENV = {"POSTGRES_DB": "shopdb", "POSTGRES_USER": "owner", "POSTGRES_PASSWORD": PW}
DB_NAMES = {"db", "shop-db-1", "172.18.0.3"}
DF = "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/vda 1000 500 500 50% /\n"
DFI = "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/vda 1000 10 990 1% /\n"


def where(target: DbTarget | None) -> tuple[Any, ...]:
    assert target is not None
    secret = target.password.get_secret_value() if target.password else None
    return (target.host, target.port, target.dbname, target.user, secret)


# --- one way of saying it ---------------------------------------------------------


def test_database_url() -> None:
    target = locate_database({"DATABASE_URL": f"postgresql://shop:{PW}@db:5433/shop"})
    assert where(target) == ("db", 5433, "shop", "shop", PW)
    assert target is not None
    assert (target.source, target.keys, target.db_keys) == ("DATABASE_URL", ("DATABASE_URL",), ())


def test_declared_key_is_read() -> None:
    env = {"APP_DB": f"postgres://shop:{PW}@pg/shop"}
    target = locate_database(env, url_key="APP_DB")
    assert where(target) == ("pg", 5432, "shop", "shop", PW)
    assert target is not None and target.source == "APP_DB"


def test_libpq_variables() -> None:
    env = {
        "PGHOST": "db",
        "PGPORT": "5433",
        "PGDATABASE": "shop",
        "PGUSER": "shop",
        "PGPASSWORD": PW,
    }
    target = locate_database(env)
    assert where(target) == ("db", 5433, "shop", "shop", PW)
    assert target is not None
    assert target.source == "PG*"
    assert target.keys == ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")


@pytest.mark.parametrize(
    ("env", "source"),
    [
        (
            {"DB_HOST": "db", "DB_PORT": "5433", "DB_NAME": "shop", "DB_USER": "shop",
             "DB_PASSWORD": PW},
            "DB_* (prefix DB_)",
        ),
        (
            {"POSTGRES_HOST": "db", "POSTGRES_PORT": "5433", "POSTGRES_DB": "shop",
             "POSTGRES_USER": "shop", "POSTGRES_PASSWORD": PW},
            "DB_* (prefix POSTGRES_)",
        ),
        (
            {"MYAPP_DB_HOST": "db", "MYAPP_DB_PORT": "5433", "MYAPP_DB_NAME": "shop",
             "MYAPP_DB_USERNAME": "shop", "MYAPP_DB_PASS": PW},
            "DB_* (prefix MYAPP_DB_)",
        ),
        (
            {"DATABASE_HOST": "db", "DATABASE_PORT": "5433", "DATABASE_NAME": "shop",
             "DATABASE_USER": "shop", "DATABASE_PASSWORD": PW},
            "DB_* (prefix DATABASE_)",
        ),
        (  # Laravel's names
            {"DB_CONNECTION": "pgsql", "DB_HOST": "db", "DB_PORT": "5433",
             "DB_DATABASE": "shop", "DB_USERNAME": "shop", "DB_PASSWORD": PW},
            "DB_* (prefix DB_)",
        ),
        (
            {"shop_db_host": "db:5433", "shop_db_name": "shop", "shop_db_user": "shop",
             "shop_db_pwd": PW},
            "DB_* (prefix SHOP_DB_)",
        ),
    ],
)  # fmt: skip
def test_split_variables_with_any_prefix(env: dict[str, str], source: str) -> None:
    target = locate_database(env)
    assert where(target) == ("db", 5433, "shop", "shop", PW)
    assert target is not None and target.source == source
    assert set(target.keys) <= set(env) and "DB_CONNECTION" not in target.keys
    assert target.db_keys == ()


# --- gaps, filled as libpq and the postgres image would ---------------------------


def test_only_a_host_takes_the_rest_from_the_database_service() -> None:
    target = locate_database({"SHOP_DB_HOST": "db"}, DB_ENV)
    assert where(target) == ("db", 5432, "shopdb", "owner", PW)
    assert target is not None
    assert target.keys == ("SHOP_DB_HOST",)
    assert target.db_keys == ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")


def test_the_database_service_defaults_its_database_to_its_user() -> None:
    target = locate_database({"PGHOST": "db"}, {"POSTGRES_USER": "owner", "POSTGRES_PASSWORD": PW})
    assert where(target) == ("db", 5432, "owner", "owner", PW)


def test_nothing_known_but_a_host_is_postgres_as_the_image_makes_it() -> None:
    assert where(locate_database({"DB_HOST": "db"})) == ("db", 5432, "postgres", "postgres", None)


def test_url_without_password_takes_pgpassword() -> None:
    env = {"DATABASE_URL": "postgresql://shop@db/shop", "PGPASSWORD": PW}
    target = locate_database(env, DB_ENV)
    assert where(target) == ("db", 5432, "shop", "shop", PW)
    assert target is not None
    assert target.keys == ("DATABASE_URL", "PGPASSWORD") and target.db_keys == ()


def test_url_without_database_means_the_users_as_in_libpq() -> None:
    target = locate_database({"DATABASE_URL": f"postgresql://shop:{PW}@db"}, DB_ENV)
    assert where(target) == ("db", 5432, "shop", "shop", PW)


def test_split_host_and_port_with_the_image_variables_beside_them() -> None:
    """The common shared .env: the app reads DB_HOST/DB_PORT and the POSTGRES_* the
    database service is initialised with (the POSTGRES_ group has no host: it loses)."""
    env = {"DB_HOST": "db", "DB_PORT": "5432", **DB_ENV}
    target = locate_database(env, DB_ENV, db_names=DB_NAMES)
    assert where(target) == ("db", 5432, "shopdb", "owner", PW)
    assert target is not None and target.source == "DB_* (prefix DB_)"
    assert [c.source for c in database_candidates(env, DB_ENV, db_names=DB_NAMES)] == [
        "DB_* (prefix DB_)",
        "DB_* (prefix POSTGRES_)",
    ]


def test_split_pieces_missing_are_read_from_pg_variables() -> None:
    env = {"SHOP_DB_HOST": "db", "SHOP_DB_NAME": "shop", "PGUSER": "shop", "PGPASSWORD": PW}
    target = locate_database(env, DB_ENV)
    assert where(target) == ("db", 5432, "shop", "shop", PW)
    assert target is not None
    assert target.keys == ("SHOP_DB_HOST", "SHOP_DB_NAME", "PGUSER", "PGPASSWORD")


def test_a_name_without_a_host_dials_the_database_service() -> None:
    target = locate_database({"PGDATABASE": "shop", "PGUSER": "shop"}, DB_ENV)
    assert where(target) == (None, 5432, "shop", "shop", PW)


def test_libpq_host_list_and_socket_dir() -> None:
    assert where(locate_database({"PGHOST": "db:5433,replica"}))[:2] == ("db", 5433)
    assert where(locate_database({"PGHOST": "/run/postgresql", "PGDATABASE": "x"}))[0] == (
        "/run/postgresql"
    )


def test_bad_ports_are_the_default() -> None:
    assert where(locate_database({"DB_HOST": "db", "DB_PORT": "${PORT}"}))[1] == 5432
    assert where(locate_database({"PGHOST": "db", "PGPORT": "99999"}))[1] == 5432


# --- what is not a Postgres database ----------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DATABASE_URL": "mysql://shop:pw@db/shop"},
        {"DATABASE_URL": "sqlite:////data/app.db"},
        {"REDIS_URL": "redis://cache:6379/0", "CACHE_HOST": "cache"},
        {"MYSQL_DB_HOST": "db", "MYSQL_DB_NAME": "shop"},
        {"MONGO_DB_HOST": "mongo"},
        {"DB_CONNECTION": "mysql", "DB_HOST": "db", "DB_DATABASE": "shop"},
        {"DB_HOST": "db", "DB_PORT": "3306"},
        {"DB_USER": "shop", "DB_PASSWORD": PW},  # no host, no database name
        {"PGUSER": "shop", "PGPASSWORD": PW},
        {"PGHOST": "${DB_HOST}", "DB_HOST": "not a host!"},  # neither parses
        {"HOSTNAME": "a1b2c3d4e5f6", "POSTGRES_PASSWORD_FILE": "/run/secrets/pw"},
    ],
)
def test_no_postgres_target(env: dict[str, str]) -> None:
    assert locate_database(env, DB_ENV, db_names=DB_NAMES) is None
    assert PW not in no_target_reason(env)


def test_an_unparseable_url_is_named_without_its_password() -> None:
    env = {"DATABASE_URL": f"postgresql://shop:{PW}@db:notaport/shop"}
    assert locate_database(env) is None
    reason = no_target_reason(env)
    assert reason.startswith("DATABASE_URL: ") and PW not in reason
    assert "DATABASE_URL" in no_target_reason({})
    assert no_target_reason({}, url_key="APP_DB").startswith("the app's environment has no APP_DB")


def test_a_mysql_url_leaves_room_for_pg_variables() -> None:
    env = {"DATABASE_URL": "mysql://x@legacy/x", "PGHOST": "db", "PGDATABASE": "shop"}
    target = locate_database(env, DB_ENV)
    assert target is not None and target.source == "PG*"


def test_the_engine_named_beside_split_variables_may_be_postgres() -> None:
    env = {"DB_ENGINE": "django.db.backends.postgresql", "DB_HOST": "db", "DB_NAME": "shop"}
    assert where(locate_database(env))[:3] == ("db", 5432, "shop")


# --- several candidates -----------------------------------------------------------


def test_the_one_at_the_stacks_database_service_wins() -> None:
    env = {
        "DATABASE_URL": f"postgresql://an:{PW}@analytics.example.com/warehouse",
        "PGHOST": "db",
        "PGDATABASE": "shop",
        "PGUSER": "shop",
    }
    target = locate_database(env, DB_ENV, db_names=DB_NAMES)
    assert target is not None and target.source == "PG*" and target.host == "db"
    # without knowing the database service's names, DATABASE_URL comes first
    assert where(locate_database(env))[0] == "analytics.example.com"


def test_by_address_too() -> None:
    env = {"DB_HOST": "10.0.0.9", "SHOP_DB_HOST": "172.18.0.3", "SHOP_DB_NAME": "shop"}
    target = locate_database(env, DB_ENV, db_names=DB_NAMES)
    assert target is not None and target.source == "DB_* (prefix SHOP_DB_)"


def test_database_url_before_pg_before_split_when_all_point_at_the_database() -> None:
    env = {
        "SHOP_DB_HOST": "db",
        "PGHOST": "db",
        "PGDATABASE": "pg",
        "DATABASE_URL": f"postgresql://shop:{PW}@db/url",
        "ANALYTICS_DATABASE_URL": "postgres://an@db/analytics",
    }
    found = database_candidates(env, DB_ENV, db_names=DB_NAMES)
    assert [c.source for c in found] == [
        "DATABASE_URL",
        "ANALYTICS_DATABASE_URL",
        "PG*",
        "DB_* (prefix SHOP_DB_)",
    ]


def test_the_declared_key_beats_database_url() -> None:
    env = {"DATABASE_URL": "postgresql://a@db/a", "APP_DB": "postgresql://b@db/b"}
    target = locate_database(env, db_names=DB_NAMES, url_key="APP_DB")
    assert target is not None and target.dbname == "b"


def test_the_password_never_shows() -> None:
    env = {"DB_HOST": "db", "DB_PASSWORD": PW, "DATABASE_URL": f"postgres://u:{PW}@db/x"}
    for target in database_candidates(env, DB_ENV):
        assert PW not in repr(target) and PW not in str(target)
        assert PW not in target.model_dump_json()


# --- gathering: where it dialled ----------------------------------------------------


@dataclass
class Dialled:
    """Records every connection; answers ``missing`` with 3D000, else ``tables`` tables."""

    missing: bool = False
    tables: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)


class Session(FakeHostSession):
    def __init__(self, dialled: Dialled, **kw: Any) -> None:
        super().__init__(**kw)
        self.dialled = dialled

    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        self.dialled.calls.append(
            {"address": address, "port": port, "user": user, "password": password, "db": dbname}
        )
        dialled = self.dialled

        class Answer:
            async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                if "count(*)" in sql:
                    return [(dialled.tables,)]
                return [(int(OLD.timestamp()) << 32,)]  # pg_control_system(): initdb time

            async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
                return None

        @asynccontextmanager
        async def connect() -> AsyncIterator[Database]:
            if dialled.missing:
                raise DatabaseMissing("web1", f'database "{dbname}" does not exist')
            yield Answer()

        return connect()


def stack(app_env: Mapping[str, str], *, app_state: str = "running") -> list[ContainerDetails]:
    net = "shop_default"
    return [
        container(
            "shop-app-1",
            project="shop",
            service="app",
            state=app_state,
            env={**app_env, "SECRET_KEY": PLANTED_SECRET},
            networks={net: ["app"]},
            cmd=["sleep", "infinity"],
        ),
        container(
            "shop-db-1",
            project="shop",
            service="db",
            image="postgres:16",
            env=DB_ENV,
            networks={net: ["db"]},
            ips={net: "172.18.0.3"},
            volumes=["shop_pgdata"],
        ),
    ]


def session(
    containers: list[ContainerDetails], dialled: Dialled, logs: Mapping[str, str] | None = None
) -> tuple[Session, FakeDocker]:
    docker = FakeDocker(
        log=CallLog(),
        info_data=EngineInfo.model_validate({"DockerRootDir": "/var/lib/docker"}),
        disk_usage_data=DiskUsage.model_validate({"Volumes": []}),
        container_list=[
            ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
            for c in containers
        ],
        details={c.id: c for c in containers},
        log_text={c.id: (logs or {})[c.name] for c in containers if c.name in (logs or {})},
        exec_handler=lambda ref, argv: ExecResult(
            container=ref, argv=argv, exit_code=0, output="172.18.0.3  db\n"
        ),
    )

    def commands(argv: tuple[str, ...]) -> CommandResult:
        if argv == ("docker", "compose", "version", "--short"):
            return completed(argv, "2.24.5\n")
        if "config" in argv:
            return completed(argv, "app\ndb\n")
        return completed(argv, DFI if "-i" in argv else DF)

    files = {"/proc/uptime": b"400000.0 1.0\n", "/srv/shop/.env": b"", "/srv/blog/.env": b""}
    return Session(dialled, handler=commands, docker=docker, files=files), docker


SHOP_DB = {"SHOP_DB_HOST": "db", "SHOP_DB_NAME": "shop", "SHOP_DB_USER": "shop",
           "SHOP_DB_PASSWORD": PW}  # fmt: skip
PG = {"PGHOST": "db", "PGDATABASE": "shop", "PGUSER": "shop", "PGPASSWORD": PW}


@pytest.mark.parametrize(("env", "source"), [(SHOP_DB, "DB_* (prefix SHOP_DB_)"), (PG, "PG*")])
async def test_split_and_pg_apps_get_db_empty(env: dict[str, str], source: str) -> None:
    dialled = Dialled(tables=0)
    fake, _ = session(stack(env), dialled)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert dialled.calls == [
        {"address": "172.18.0.3", "port": 5432, "user": "shop", "password": PW, "db": "shop"}
    ]
    (db,) = facts.databases
    assert (db.status, db.tables, db.source, db.host, db.dbname) == ("ok", 0, source, "db", "shop")
    (empty,) = [f for f in judge(facts).findings if f.code == "db.empty"]
    assert empty.evidence["config_source"] == source
    assert empty.evidence["config_keys"] == list(env)
    assert PW not in empty.model_dump_json()


async def test_split_app_gets_db_missing_with_the_keys_named() -> None:
    dialled = Dialled(missing=True)
    fake, _ = session(stack({"SHOP_DB_HOST": "db"}), dialled)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert [(c["user"], c["db"], c["password"]) for c in dialled.calls] == [("owner", "shopdb", PW)]
    (missing,) = [f for f in judge(facts).findings if f.code == "db.missing"]
    assert missing.evidence["config_source"] == "DB_* (prefix SHOP_DB_)"
    assert missing.evidence["config_keys"] == ["SHOP_DB_HOST"]
    assert missing.evidence["config_keys_from_db"] == [
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
    ]
    assert missing.fixes[0].params["database"] == "shopdb"
    assert PW not in missing.model_dump_json()


async def test_an_app_that_says_nothing_understood_is_not_dialled() -> None:
    dialled = Dialled()
    containers = stack({"DB_HOST": "db", "DB_PORT": "3306"})
    fake, _ = session(containers, dialled)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert dialled.calls == []
    (db,) = facts.databases
    assert db.status == "no_url" and db.error and "DATABASE_URL" in db.error


# --- gathering: the last log lines of down and restarting containers ----------------


async def test_one_logs_call_per_down_or_restarting_container() -> None:
    containers = [
        *stack(PG, app_state="exited"),
        container(
            "shop-worker-1",
            project="shop",
            service="worker",
            state="restarting",
            restart_count=7,
            networks=["shop_default"],
        ),
        container(
            "shop-job-1",  # a finished one-shot job: not down, not read
            project="shop",
            service="job",
            state="exited",
            exit_code=0,
            restart_policy="no",
        ),
        container(
            "shop-new-1", project="shop", service="new", state="created"
        ),  # never started: no logs
        container(
            "shop-web-1",  # running, restarted long ago: not a loop
            project="shop",
            service="web",
            restart_count=9,
            started=ago(hours=5),
        ),
    ]
    logs = {
        "shop-app-1": "".join(f"line {i}\n" for i in range(30))
        + f"FATAL: password {PW} for {PLANTED_SECRET}\n",
        "shop-worker-1": "worker crashed\n",
    }
    fake, docker = session(containers, Dialled(tables=3), logs)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert docker.log.count("logs") == 2
    assert sorted(facts.container_logs) == ["shop-app-1", "shop-worker-1"]
    assert PLANTED_SECRET not in facts.container_logs["shop-app-1"]
    findings = judge(facts).findings
    (down,) = [f for f in findings if f.code == "container.down"]
    lines = down.evidence["last_log_lines"]
    assert isinstance(lines, list) and len(lines) == 20
    assert lines[-1].startswith("FATAL: password ") and lines[0] == "line 11"
    (looping,) = [f for f in findings if f.code == "container.restarting"]
    assert looping.evidence["last_log_lines"] == ["worker crashed"]
    for finding in findings:
        assert PW not in finding.model_dump_json() and PLANTED_SECRET not in (
            finding.model_dump_json()
        )


async def test_db_is_the_one_on_the_apps_network_not_another_projects() -> None:
    """Two projects on one engine, each with a service ``db``: the app's ``db`` is the
    one on its own network."""
    other = container(
        "blog-db-1",
        project="blog",
        service="db",
        image="postgres:16",
        env=DB_ENV,
        networks={"blog_default": ["db"]},
        ips={"blog_default": "172.19.0.2"},
    )
    dialled = Dialled(tables=0)
    fake, _ = session([other, *stack(PG)], dialled)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert [c["address"] for c in dialled.calls] == ["172.18.0.3"]
    assert {d.stack: d.address for d in facts.databases}["shop"] == "172.18.0.3"
