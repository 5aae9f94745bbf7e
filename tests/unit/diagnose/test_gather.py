"""Gathering a host's facts: one list, one inspect per container, and a deadline that holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import yaml

from bot.framework.compose_cli import PLUGIN_DIRS
from bot.framework.session import CommandResult, Database, ExecResult
from bot.model.docker_objects import (
    COMPOSE_CONFIG_FILES,
    COMPOSE_ENV_FILE,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    ContainerSummary,
    DiskUsage,
    EngineInfo,
)
from bot.model.errors import CommandTimeout, DatabaseUnreachable
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import NOW, PLANTED_SECRET, container, lab_stack
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed

DF = (
    "Filesystem 1-blocks Used Available Capacity Mounted on\n"
    "/dev/vda 1000000 500000 500000 50% /\n"
    "/dev/vda 1000000 500000 500000 50% /\n"
)
DFI = (
    "Filesystem Inodes IUsed IFree IUse% Mounted on\n"
    "/dev/vda 1000 10 990 1% /\n"
    "/dev/vda 1000 10 990 1% /\n"
)


class SlowLogsDocker(FakeDocker):
    """Answers everything at once, except the proxy's logs, which never come."""

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        await asyncio.sleep(3600)
        return ""


class Session(FakeHostSession):
    def database(
        self, *, address: str, port: int, user: str, password: str, dbname: str
    ) -> AbstractAsyncContextManager[Database]:
        @asynccontextmanager
        async def refused() -> AsyncIterator[Database]:
            raise DatabaseUnreachable("web1", f"postgres at {address}:{port}: connection refused")
            yield  # pragma: no cover

        return refused()


Compose = Callable[[tuple[str, ...]], CommandResult | BaseException]


def compose_v2(services: str = "backend\ndb\nnginx\n") -> Compose:
    """A host with ``docker compose`` whose ``config --services`` prints ``services``."""

    def answer(argv: tuple[str, ...]) -> CommandResult:
        if argv == ("docker", "compose", "version", "--short"):
            return completed(argv, "2.24.5\n")
        return completed(argv, services)

    return answer


def session(
    docker_type: type[FakeDocker] = FakeDocker,
    compose: Compose | None = None,
    containers: list[ContainerDetails] | None = None,
) -> tuple[Session, FakeDocker]:
    containers = containers if containers is not None else lab_stack()
    docker = docker_type(
        log=CallLog(),
        info_data=EngineInfo.model_validate({"DockerRootDir": "/var/lib/docker"}),
        disk_usage_data=DiskUsage.model_validate({"Volumes": []}),
        container_list=[
            ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
            for c in containers
        ],
        details={c.id: c for c in containers},
        exec_handler=lambda ref, argv: ExecResult(
            container=ref, argv=argv, exit_code=0, output="172.18.0.3  db\n"
        ),
    )

    answer_compose = compose or compose_v2()

    def df(argv: tuple[str, ...]) -> CommandResult | BaseException:
        # compose (the plugin's program too), and compose_cli's search for that program
        if (
            "compose" in argv
            or any(a == "docker-compose" or a.endswith("/docker-compose") for a in argv)
            or argv[5:] == PLUGIN_DIRS
        ):
            return answer_compose(argv)
        return completed(argv, DFI if "-i" in argv else DF)

    files = {"/proc/uptime": b"400000.0 1.0\n", "/srv/shop/.env": b"DATABASE_URL=x\n"}
    return Session(handler=df, docker=docker, files=files), docker


async def test_one_list_and_one_inspect_per_container() -> None:
    fake, docker = session()
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert docker.log.count("containers") == 1
    assert docker.log.count("inspect_container") == len(facts.containers) == 3
    assert docker.log.count("disk_usage") == 1
    assert docker.log.count("info") == 1  # the disk read takes the root dir from it
    assert facts.unfinished == ()
    assert [d.status for d in facts.databases] == ["unreachable"]
    assert facts.filesystems and facts.uptime_seconds == 400000.0


async def test_a_step_past_the_deadline_is_named_and_the_rest_is_kept() -> None:
    fake, _ = session(SlowLogsDocker)
    started = asyncio.get_running_loop().time()
    facts = await gather_facts(fake, deadline=0.5, now=NOW)
    assert asyncio.get_running_loop().time() - started < 5
    assert facts.unfinished == ("logs of shop-nginx-1",)
    assert facts.databases and facts.filesystems  # the other steps finished
    diagnosis = judge(facts)
    (incomplete,) = [f for f in diagnosis.findings if f.code == "diagnose.incomplete"]
    assert incomplete.evidence["unfinished"] == ["logs of shop-nginx-1"]
    assert diagnosis.unfinished == ["logs of shop-nginx-1"]


CONFIG_V2 = (
    "env", "DOCKER_HOST=unix:///var/run/docker.sock", "COMPOSE_PROFILES=*",
    "docker", "compose", "-p", "shop", "--project-directory", "/srv/shop",
    "-f", "/srv/shop/docker-compose.yml", "config", "--services",
)  # fmt: skip


async def test_the_services_each_project_defines_now_one_command_per_project() -> None:
    fake, _ = session(compose=compose_v2("backend\nnginx\n"))
    facts = await gather_facts(fake, deadline=10, now=NOW)
    compose = [argv for argv in fake.commands if "compose" in argv and "--dry-run" not in argv]
    assert compose == [("docker", "compose", "version", "--short"), CONFIG_V2]  # argv, not text
    (dry,) = [argv for argv in fake.commands if "--dry-run" in argv]  # staleness: compose's own
    assert dry == (
        *CONFIG_V2[:-2], "up", "-d", "--dry-run", "--no-build", "--pull", "never", "--no-start",
    )  # fmt: skip
    assert fake.timeouts[fake.commands.index(CONFIG_V2)] is None  # the session's own limit
    (shop,) = facts.compose_services
    assert (shop.project, shop.services, shop.error) == ("shop", ("backend", "nginx"), None)
    diagnosis = judge(facts)
    (orphan,) = [f for f in diagnosis.findings if f.code == "compose.orphan_container"]
    assert orphan.subject.container == "shop-db-1"
    assert orphan.evidence["services_defined"] == ["backend", "nginx"]
    assert diagnosis.notes == []


def failing(stderr: str, status: int = 1) -> Compose:
    def answer(argv: tuple[str, ...]) -> CommandResult:
        if argv == ("docker", "compose", "version", "--short"):
            return completed(argv, "2.24.5\n")
        return completed(argv, "", stderr, status)

    return answer


async def test_config_that_fails_is_a_note_never_a_finding() -> None:
    leak = f"invalid interpolation format for services.backend.environment: SECRET={PLANTED_SECRET}"
    cases: dict[str, Compose] = {
        "no such file or directory": failing(
            "open /srv/shop/docker-compose.yml: no such file or directory"
        ),
        "mapping values are not allowed": failing("yaml: line 3: mapping values are not allowed"),
        "exited with status 1": failing(f"first line\n{leak}\n"),
        "did not print a list of service names": compose_v2(""),
        "did not finish within 30 s": lambda argv: (
            completed(argv, "2.24.5")
            if argv[-2:] == ("version", "--short")
            else CommandTimeout("web1", "docker compose config", 30, "", "")
        ),
        "neither `docker compose` (v2) nor `docker-compose` (v1)": lambda argv: (
            completed(argv, "", "docker: 'compose' is not a docker command.", 1)
            if argv[:2] == ("docker", "compose")
            else completed(argv, "", "env: 'docker-compose': No such file or directory", 127)
        ),
    }
    for why, compose in cases.items():
        fake, _ = session(compose=compose)
        facts = await gather_facts(fake, deadline=10, now=NOW)
        (shop,) = facts.compose_services
        assert shop.services is None and shop.error is not None and why in shop.error, shop
        assert PLANTED_SECRET not in shop.error
        diagnosis = judge(facts)
        assert [f for f in diagnosis.findings if f.code == "compose.orphan_container"] == []
        (note,) = diagnosis.notes
        assert "compose project shop" in note and why in note
        assert PLANTED_SECRET not in note


async def test_compose_v1_argv() -> None:
    def v1(argv: tuple[str, ...]) -> CommandResult:
        if argv[:2] == ("docker", "compose"):
            return completed(argv, "", "docker: 'compose' is not a docker command.", 1)
        if argv == ("docker-compose", "version", "--short"):
            return completed(argv, "1.29.2\n")
        return completed(argv, "backend\ndb\nnginx\n")

    fake, _ = session(compose=v1)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    compose = [argv for argv in fake.commands if "compose" in argv or "docker-compose" in argv]
    assert len(compose) == 4  # plugin asked first, then v1's version (once per connection)
    # v1 has no dry run: staleness from its config hashes
    assert [a for a in compose if a[-2:] == ("config", "--hash=*")] != []
    (config,) = [argv for argv in fake.commands if argv[-2:] == ("config", "--services")]
    assert config[3:8] == ("docker-compose", "-p", "shop", "--project-directory", "/srv/shop")
    assert facts.compose_services[0].services == ("backend", "db", "nginx")


async def test_interpolated_with_the_recorded_env_files_else_without() -> None:
    """`ports: - ${BACKEND_PORT}:8000` needs the project's env file to be read; a
    variable only the deploy shell had falls back to --no-interpolate (names only)."""
    labels = {COMPOSE_ENV_FILE: "/srv/shop/.env.production"}
    seen: list[tuple[str, ...]] = []

    def v2(argv: tuple[str, ...]) -> CommandResult:
        seen.append(argv)
        if argv[-2:] == ("version", "--short"):
            return completed(argv, "2.40.3\n")
        if argv[-1] == "--services":
            return completed(argv, "", "invalid interpolation format for ports", 15)
        return completed(argv, "backend\ndb\nnginx\n")

    stack = [
        c.model_copy(
            update={"config": c.config.model_copy(update={"labels": {**c.labels, **labels}})}
        )
        for c in lab_stack()
    ]
    fake, _ = session(compose=v2, containers=stack)
    fake._files["/srv/shop/.env.production"] = b"BACKEND_PORT=8001\n"
    facts = await gather_facts(fake, deadline=10, now=NOW)
    first, second = [a for a in seen if "config" in a]
    assert (
        "--env-file" in first
        and first[first.index("--env-file") + 1] == "/srv/shop/.env.production"
    )
    assert second[-1] == "--no-interpolate"
    assert facts.compose_services[0].services == ("backend", "db", "nginx")


async def test_no_compose_command_without_a_working_dir_or_files() -> None:
    unlabelled = {COMPOSE_WORKING_DIR: "", COMPOSE_CONFIG_FILES: ""}
    odd = container("odd-web-1", project="odd", service="web", labels=unlabelled)
    fake, _ = session(compose=compose_v2(), containers=[odd])
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert [argv for argv in fake.commands if "compose" in argv] == []
    (odd_services,) = facts.compose_services
    assert odd_services.services is None
    assert odd_services.error == "its containers name no compose working dir or compose file"
    assert [f for f in judge(facts).findings if f.code == "compose.orphan_container"] == []


async def test_a_compose_file_edited_and_never_applied_is_config_stale() -> None:
    """compose's own dry run says it would recreate the nginx container: the files give
    another container than the running one. Nothing when it would recreate nothing."""

    def v2(dry_run: str) -> Compose:
        def answer(argv: tuple[str, ...]) -> CommandResult:
            if argv[-2:] == ("version", "--short"):
                return completed(argv, "2.40.3\n")
            if "--dry-run" in argv:
                return completed(argv, "", dry_run)
            return completed(argv, "backend\ndb\nnginx\n")

        return answer

    recreate = (
        " DRY-RUN MODE -  Container shop-db-1  Running\n"
        " DRY-RUN MODE -  Container shop-nginx-1  Recreate\n"
        " DRY-RUN MODE -  Container shop-nginx-1  Recreated\n"
    )
    fake, _ = session(compose=v2(recreate))
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert facts.compose_services[0].stale == ("shop-nginx-1",)
    (stale,) = [f for f in judge(facts).findings if f.code == "compose.config_stale"]
    assert stale.subject.container == "shop-nginx-1" and stale.fixes == ()
    assert "dry run" in str(stale.evidence["seen_by"])

    fake, _ = session(compose=v2(" DRY-RUN MODE -  Container shop-nginx-1  Running\n"))
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert [f for f in judge(facts).findings if f.code == "compose.config_stale"] == []


async def test_compose_v5s_dry_run_is_never_run() -> None:
    """compose v5's `up -d --dry-run` was reported recreating for real (compose#14029): a
    diagnosis on a v5 host runs no dry run, and judges no staleness it cannot see."""

    def v5(argv: tuple[str, ...]) -> CommandResult:
        if argv[-2:] == ("version", "--short"):
            return completed(argv, "5.0.1\n")
        assert "--dry-run" not in argv, argv
        return completed(argv, "backend\ndb\nnginx\n")

    fake, _ = session(compose=v5)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    assert not [argv for argv in fake.commands if "--dry-run" in argv]
    assert facts.compose_services[0].services is not None  # the services are still read
    assert facts.compose_services[0].stale == ()
    assert [f for f in judge(facts).findings if f.code == "compose.config_stale"] == []


async def test_a_services_own_env_file_edited_after_up_is_env_drift() -> None:
    """nginx loads `env_file: nginx.env` (not the project's .env): a key changed there
    since its container was created is env.drift naming that file, with its recreate."""
    compose_file = yaml.safe_dump(
        {"services": {"nginx": {"image": "nginx", "env_file": ["nginx.env"]}}}
    ).encode()
    fake, _ = session(compose=compose_v2("backend\ndb\nnginx\n"))
    fake._files["/srv/shop/docker-compose.yml"] = compose_file
    fake._files["/srv/shop/nginx.env"] = b"NGINX_WORKERS=4\n"
    facts = await gather_facts(fake, deadline=10, now=NOW)
    (read,) = facts.compose_services
    assert read.service_env_files == {"nginx": ("/srv/shop/nginx.env",)}
    drift = [f for f in judge(facts).findings if f.code == "env.drift"]
    nginx = [f for f in drift if f.subject.container == "shop-nginx-1"]
    assert nginx and nginx[0].evidence["env_files"] == ["/srv/shop/nginx.env", "/srv/shop/.env"]
    assert nginx[0].evidence["keys_added"] == ["NGINX_WORKERS"]
    assert nginx[0].fixes and nginx[0].fixes[0].action == "container.recreate"
