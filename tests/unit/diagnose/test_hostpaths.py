"""Gathering the facts of the new incident checks: one stat, meminfo, ss, env files."""

from __future__ import annotations

from datetime import timedelta

from bot.framework.compose_cli import PLUGIN_DIRS
from bot.framework.session import CommandResult, ExecResult
from bot.model.docker_objects import ContainerSummary, DiskUsage, EngineInfo
from runbooks.diagnose.gather import foreign_ports, gather_facts
from runbooks.diagnose.hostpaths import parse_stat_output, paths_to_stat
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import NOW, bind_mount, container
from tests.unit.diagnose.test_gather import DF, DFI
from tests.unit.diagnose.test_gather import Session as GatherSession
from tests.unit.diagnose.test_gather import session as gather_session
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed

JSON_LOG = {"LogConfig": {"Type": "json-file", "Config": {}}}


def test_stat_output_is_parsed_per_kind() -> None:
    text = (
        "d\t1\t1760097600.5\t/srv/web/nginx.conf\n"
        "d\t-\t1760097600\t/root/secret\n"
        "f\t123456\t1760097600\t/var/lib/docker/containers/a/a-json.log\n"
        "m\t\t\t/srv/gone\n"
        "u\t\t\t/var/lib/docker/containers/b/b-json.log\n"
        "garbage\n"
    )
    rows = {p.path: p for p in parse_stat_output(text)}
    assert rows["/srv/web/nginx.conf"].empty is True
    assert rows["/srv/web/nginx.conf"].modified is not None
    assert rows["/root/secret"].empty is None
    assert rows["/var/lib/docker/containers/a/a-json.log"].size == 123456
    assert rows["/srv/gone"].kind == "missing"
    assert rows["/var/lib/docker/containers/b/b-json.log"].kind == "unknown"
    assert len(rows) == 5


def test_only_bind_sources_and_unrotated_logs_are_asked_about() -> None:
    c = container(
        "web-nginx-1", project="web", service="nginx",
        mounts=[bind_mount("/srv/web/nginx.conf", "/etc/nginx/nginx.conf"),
                bind_mount("/var/run/docker.sock", "/var/run/docker.sock"),
                bind_mount("/proc", "/host/proc")],
        host_config=JSON_LOG,
    )  # fmt: skip
    rotated = container("web-db-1", project="web", service="db",
                        host_config={"LogConfig": {"Type": "json-file",
                                                   "Config": {"max-size": "10m"}}})  # fmt: skip
    assert paths_to_stat([c, rotated]) == ["/srv/web/nginx.conf", c.log_path]


def test_ports_of_containers_not_judged_keep_only_their_project() -> None:
    mine = container("shop-app-1", project="shop", port_bindings={"80/tcp": "8080"})
    theirs = container("prod-app-1", project="prod", port_bindings={"80/tcp": "8080"})
    (held,) = foreign_ports([mine, theirs], [mine])
    assert (held.project, held.host_port, held.proto, held.running) == ("prod", "8080", "tcp", True)


async def test_one_stat_one_meminfo_and_ss_only_for_a_port_error() -> None:
    blocked = container(
        "web-app-1", project="web", service="app", state="created",
        error="Bind for 0.0.0.0:8080 failed: port is already allocated",
        mounts=[bind_mount("/srv/web/conf", "/etc/app/app.conf")], host_config=JSON_LOG,
        created=NOW - timedelta(minutes=5), working_dir="",
    )  # fmt: skip
    docker = FakeDocker(
        log=CallLog(),
        info_data=EngineInfo.model_validate({"DockerRootDir": "/var/lib/docker"}),
        disk_usage_data=DiskUsage.model_validate(
            {"Volumes": [], "Images": [{"Id": "sha256:new", "RepoTags": ["web/app:1"]}]}
        ),
        container_list=[ContainerSummary.model_validate({"Id": blocked.id, "Names": ["/x"]})],
        details={blocked.id: blocked},
        exec_handler=lambda ref, argv: ExecResult(container=ref, argv=argv, exit_code=1, output=""),
    )
    modified = (NOW - timedelta(minutes=5)).timestamp() + 0.05

    def answer(argv: tuple[str, ...]) -> CommandResult:
        if argv[:2] == ("sh", "-c") and argv[5:] == PLUGIN_DIRS:
            return completed(argv, "")  # compose_cli's search for the plugin: none
        if argv[:2] == ("sh", "-c"):
            assert argv[3] == "sh" and argv[4:] == ("/srv/web/conf", blocked.log_path)
            return completed(argv, f"d\t1\t{modified}\t/srv/web/conf\nu\t\t\t{blocked.log_path}\n")
        if argv[0] == "df":
            return completed(argv, DFI if "-i" in argv else DF)
        if argv[0] == "ss":
            return completed(argv, "tcp LISTEN 0 4096 0.0.0.0:8080 0.0.0.0:*\n")
        return completed(argv, "", "not here", 1)

    files = {
        "/proc/meminfo": b"MemTotal: 1000 kB\nMemAvailable: 20 kB\n",
        "/proc/uptime": b"400000.0 1.0\n",
        "/srv/web/.env": b"A=1\n",
    }
    fake = FakeHostSession(handler=answer, docker=docker, files=files)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    stats = [a for a in fake.commands if a[:2] == ("sh", "-c") and a[5:] != PLUGIN_DIRS]
    assert len(stats) == 1
    assert facts.paths["/srv/web/conf"].empty is True
    assert facts.paths[blocked.log_path].kind == "unknown"
    assert facts.memory is not None and facts.memory.available_percent == 2.0
    assert facts.listening == (":8080/tcp",)
    assert facts.image_tags == {"web/app:1": "sha256:new"}
    assert docker.log.count("inspect_container") == 1


async def test_a_missing_env_file_is_named_when_compose_config_fails() -> None:
    compose_file = (
        "services:\n"
        "  backend:\n    image: x\n    env_file: [.env, .env.prod]\n"
        "  db:\n    image: postgres\n    env_file:\n      - path: ./optional.env\n"
        "        required: false\n"
    )
    stat_asked: list[tuple[str, ...]] = []

    def answer(argv: tuple[str, ...]) -> CommandResult:
        if argv == ("docker", "compose", "version", "--short"):
            return completed(argv, "2.24.5\n")
        if "compose" in argv:
            return completed(argv, "", "env file /srv/shop/.env.prod not found", 1)
        if argv[:2] == ("sh", "-c"):
            stat_asked.append(argv[4:])
            return completed(argv, "".join(f"m\t\t\t{p}\n" for p in argv[4:] if "prod" in p))
        if argv[0] == "df":
            return completed(argv, DFI if "-i" in argv else DF)
        return completed(argv, "", "", 1)

    _, docker = gather_session()  # the lab stack's containers, as Docker reports them
    files = {
        "/proc/uptime": b"400000.0 1.0\n",
        "/srv/shop/.env": b"DATABASE_URL=x\n",
        "/srv/shop/docker-compose.yml": compose_file.encode(),
    }
    fake = GatherSession(handler=answer, docker=docker, files=files)
    facts = await gather_facts(fake, deadline=10, now=NOW)
    (shop,) = facts.compose_services
    assert shop.missing_env_files == {"backend": ("/srv/shop/.env.prod",)}
    assert ("/srv/shop/.env", "/srv/shop/.env.prod") in stat_asked  # not the optional one
    (finding,) = [f for f in judge(facts).findings if f.code == "env.file_missing"]
    assert finding.subject.service == "backend"
