"""container.recreate: plans (compose argv v1/v2, idempotence, refusals) and the API path's
apply, against the fake host session."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from bot.framework.action import Plan, ReadOnlyHost
from bot.model.docker_objects import (
    COMPOSE_VOLUME,
    ContainerDetails,
    ContainerSummary,
    DiskUsage,
    Volume,
)
from bot.model.errors import DockerAPIError
from bot.model.findings import Finding, Severity, Subject
from runbooks import fix_container_recreate as recreate
from runbooks.fix_container_recreate import Params
from tests.unit.diagnose.factories import (
    PLANTED_SECRET,
    anonymous_mount,
    bind_mount,
    container,
    lab_env,
    lab_stack,
    object_id,
    volume,
)
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession, completed, fake_host

WD = "/srv/shop"
ENV_PATH = f"{WD}/.env"
V2_PLUGIN = "/usr/libexec/docker/cli-plugins/docker-compose"
PROD_ENV = "/srv/prod/.env.production"
ROTATED = "rotated-" + PLANTED_SECRET


@dataclass
class WritingDocker(FakeDocker):
    """FakeDocker plus the writes, recorded in ``calls``; ``fail`` names a write that raises
    (once: the undo may call it again)."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail: str | None = None

    def _write(self, *call: Any) -> None:
        self.calls.append(call)
        if call[0] == self.fail:
            self.fail = None
            raise DockerAPIError("web1", f"{call[0]} went wrong")

    async def stop_container(self, ref: str, *, timeout: int = 10) -> None:
        self._write("stop", ref, timeout)

    async def start_container(self, ref: str) -> None:
        self._write("start", ref)

    async def rename_container(self, ref: str, name: str) -> None:
        self._write("rename", ref, name)

    async def remove_container(self, ref: str, *, force: bool = False) -> None:
        self._write("remove", ref, force)

    async def create_container(self, body: dict[str, Any], *, name: str) -> str:
        self._write("create", name, body)
        return "f" * 64

    async def connect_network(
        self, network: str, container: str, *, aliases: Sequence[str] = ()
    ) -> None:
        self._write("connect", network, container, list(aliases))


def summary(c: ContainerDetails) -> ContainerSummary:
    return ContainerSummary.model_validate(
        {"Id": c.id, "Names": [f"/{c.name}"], "Labels": c.labels, "State": c.state.status}
    )


def host_programs(
    programs: Iterable[str],
    *,
    version_ok: bool = True,
    up_error: str | None = None,
    plugin_version: str = "2.29.7",
) -> Any:
    """A command handler: ``command -v`` finds ``programs``; compose runs (``up`` fails with
    ``up_error`` on stderr when given)."""
    have = set(programs)

    def handler(argv: tuple[str, ...]) -> Any:
        if argv[:3] == ("sh", "-c", 'command -v "$1"'):
            found = argv[4] in have
            return completed(argv, stdout=argv[4] + "\n" if found else "", status=0 if found else 1)
        if argv[:3] == ("docker", "compose", "version"):
            works = "docker" in have and V2_PLUGIN in have
            return completed(argv, stdout=f"{plugin_version}\n", status=0 if works else 1)
        if argv[:2] == ("docker-compose", "version"):
            works = "docker-compose" in have and version_ok
            return completed(argv, stdout="1.29.2\n", status=0 if works else 127)
        if "up" in argv and up_error is not None:
            return completed(argv, stderr=up_error, status=1)
        if "up" in argv:
            return completed(argv, stderr="Recreating shop-backend-1 ... done\n")
        raise AssertionError(f"unexpected command {argv}")

    return handler


def session(
    containers: Sequence[ContainerDetails],
    files: Mapping[str, Mapping[str, str] | str],
    *,
    programs: Iterable[str] = ("docker", "docker-compose"),
    volumes: Sequence[Volume] = (),
    images: Sequence[dict[str, Any]] = (),
    socket: str = "/var/run/docker.sock",
    fail: str | None = None,
    version_ok: bool = True,
    up_error: str | None = None,
) -> tuple[FakeHostSession, WritingDocker]:
    details: dict[str, ContainerDetails] = {}
    for c in containers:
        details[c.id] = details[c.name] = c
    docker = WritingDocker(
        log=CallLog(),
        container_list=[summary(c) for c in containers],
        details=details,
        disk_usage_data=DiskUsage.model_validate(
            {
                "Volumes": [v.model_dump(by_alias=True, mode="json") for v in volumes],
                "Images": list(images),
            }
        ),
        fail=fail,
    )
    raw = {
        path: (
            text.encode()
            if isinstance(text, str)
            else "".join(f"{k}={v}\n" for k, v in text.items()).encode()
        )
        for path, text in files.items()
    }
    host = fake_host().model_copy(update={"docker_socket": socket})
    fake = FakeHostSession(
        handler=host_programs(programs, version_ok=version_ok, up_error=up_error),
        docker=docker,
        files=raw,
        host=host,
    )
    return fake, docker


async def make_plan(fake: FakeHostSession, **params: str) -> Plan:
    return await recreate.plan(ReadOnlyHost(fake), Params(host="web1", **params))


def drifted() -> dict[str, str]:
    """The lab .env edited after up: SECRET_KEY rotated, a key added."""
    return {**lab_env(), "SECRET_KEY": ROTATED, "JWT_SECRET_KEY": "jwt-" + PLANTED_SECRET}


def v1_stack(**backend: Any) -> list[ContainerDetails]:
    """The lab stack as compose v1 labels it (config files relative to the working dir)."""
    stack = lab_stack()
    labels = {
        **stack[0].labels,
        "com.docker.compose.project.config_files": "docker-compose.yml,docker-compose.prod.yml",
        **backend.pop("labels", {}),
    }
    stack[0] = container(
        "shop-backend-1",
        project="shop",
        service="backend",
        env={**lab_env(), "PYTHONUNBUFFERED": "1"},
        networks={"shop_default": ["backend"]},
        labels=labels,
        **backend,
    )
    return stack


# --- the compose path ------------------------------------------------------------------


async def test_compose_v1_argv_is_scoped_to_project_and_service() -> None:
    fake, _ = session(v1_stack(), {ENV_PATH: drifted()}, socket="/run/lab/h1/docker.sock")
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.refusal is None
    (step,) = plan.steps
    assert shlex.split(step.call) == [
        "env",
        "DOCKER_HOST=unix:///run/lab/h1/docker.sock",
        "docker-compose",
        "-p",
        "shop",
        "--project-directory",
        WD,
        "-f",
        f"{WD}/docker-compose.yml",
        "-f",
        f"{WD}/docker-compose.prod.yml",
        "--env-file",  # exactly the env file the plan compared with, never compose's guess
        ENV_PATH,
        "up",
        "-d",
        "--no-deps",
        "--force-recreate",
        "--",  # a service name never reads as an option
        "backend",
    ]
    assert plan.target == {"project": "shop", "service": "backend"}
    assert plan.destructive
    assert plan.before["keys_changed"] == ["SECRET_KEY"]
    assert plan.before["keys_added"] == ["JWT_SECRET_KEY"]
    assert plan.before["id"] == object_id("shop-backend-1")[:12]
    assert plan.before["env_files"] == [ENV_PATH]
    assert plan.after["keys_changed"] == [] and plan.after["id"] == "new"


async def test_compose_v2_argv_with_env_file_from_the_project_label() -> None:
    staging_env = f"{WD}/.env.staging"
    stack = lab_stack()
    backend = container(
        "shop-backend-1",
        project="shop",
        service="backend",
        env={**lab_env(), "PYTHONUNBUFFERED": "1"},
        networks={"shop_default": ["backend"]},
        environment_file=".env.staging",
    )
    fake, _ = session(
        [backend, *stack[1:]],
        {staging_env: drifted()},
        programs=("docker", "docker-compose", V2_PLUGIN),
    )
    plan = await make_plan(fake, project="shop", service="backend")
    (step,) = plan.steps
    assert shlex.split(step.call) == [
        "env",
        "DOCKER_HOST=unix:///var/run/docker.sock",
        "docker",
        "compose",
        "-p",
        "shop",
        "--project-directory",
        WD,
        "-f",
        f"{WD}/docker-compose.yml",
        "--env-file",
        staging_env,
        "up",
        "-d",
        "--no-deps",
        "--force-recreate",
        "--",
        "backend",
    ]
    assert "(v2 plugin)" in step.description and staging_env in step.description
    assert "-y" not in shlex.split(step.call)  # never auto-answer a volume prompt
    dry = [a for a in fake.commands if "--dry-run" in a]
    assert len(dry) == 1 and dry[0][-2:] == ("--", "backend")  # compose's own dry run
    assert any("dry run" in note for note in plan.notes)
    assert plan.before["env_files"] == [staging_env]


async def test_the_services_own_env_file_is_compared_and_left_to_compose() -> None:
    """No project .env, only the service's `env_file: app.env` (edited after up): the plan
    compares with it and recreates; compose loads it itself, so no --env-file names it."""
    app_env = f"{WD}/app.env"
    compose_file = "services:\n  backend:\n    image: shop\n    env_file: [app.env]\n"
    stack = lab_stack()
    fake, _ = session(
        stack, {f"{WD}/docker-compose.yml": compose_file, app_env: {"SECRET_KEY": ROTATED}}
    )
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.refusal is None and not plan.empty, plan
    assert plan.before["keys_changed"] == ["SECRET_KEY"]
    assert plan.before["env_files"] == [app_env]
    (step,) = plan.steps
    assert app_env not in shlex.split(step.call) and app_env in step.description
    same: dict[str, Mapping[str, str] | str] = {
        f"{WD}/docker-compose.yml": compose_file,
        app_env: {"SECRET_KEY": lab_env()["SECRET_KEY"]},
    }
    fake, _ = session(stack, same)
    assert (await make_plan(fake, project="shop", service="backend")).empty


async def test_the_implied_env_file_is_passed_explicitly_and_v1_without_a_plugin() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()}, programs=("docker", "docker-compose"))
    plan = await make_plan(fake, project="shop", service="backend")
    argv = shlex.split(plan.steps[0].call)
    assert argv[argv.index("--env-file") + 1] == ENV_PATH
    assert argv[2:4] == ["docker-compose", "-p"]
    assert not [a for a in fake.commands if "--dry-run" in a]  # v1 has no dry run
    assert any("has no dry run" in note for note in plan.notes)


async def test_compose_v5_gets_no_dry_run() -> None:
    """compose v5's `up -d --dry-run` was reported recreating for real (compose#14029):
    planning never runs it; the plan says why it shows no dry run."""
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()}, programs=("docker", V2_PLUGIN))
    fake._handler = host_programs(("docker", V2_PLUGIN), plugin_version="5.0.1")
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.refusal is None and shlex.split(plan.steps[0].call)[2:4] == ["docker", "compose"]
    assert not [a for a in fake.commands if "--dry-run" in a]
    assert any("compose#14029" in note for note in plan.notes), plan.notes


async def test_no_compose_on_the_host_is_a_refusal() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()}, programs=("docker",))
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.refusal is not None and "docker-compose" in plan.refusal


async def test_plan_is_empty_when_the_env_file_matches_the_container() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: lab_env()})
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.empty and plan.refusal is None
    assert plan.before == plan.after
    assert plan.before["keys_changed"] == [] and plan.before["keys_added"] == []


async def test_database_compares_only_the_keys_it_has() -> None:
    """db takes POSTGRES_* by substitution: a key added to the file means nothing to it."""
    file = {**lab_env(), "JWT_SECRET_KEY": "x"}
    fake, _ = session(lab_stack(), {ENV_PATH: file})
    assert (await make_plan(fake, project="shop", service="db")).empty
    assert not (await make_plan(fake, project="shop", service="backend")).empty


async def test_secrets_never_appear_in_the_plan() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()})
    plan = await make_plan(fake, project="shop", service="backend")
    text = plan.model_dump_json()
    assert PLANTED_SECRET not in text and ROTATED not in text
    assert "SECRET_KEY" in text  # the key's name is shown


async def test_missing_project_service_and_container_are_refused() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()})
    no_project = await make_plan(fake, project="gone", service="backend")
    assert no_project.refusal is not None and "does not exist (any more)" in no_project.refusal
    no_service = await make_plan(fake, project="shop", service="worker")
    assert no_service.refusal is not None and "service worker" in no_service.refusal
    assert "does not exist (any more)" in no_service.refusal
    no_container = await make_plan(fake, container="ghost")
    assert no_container.refusal == "container ghost does not exist (any more)"


async def test_unreadable_env_file_is_a_refusal() -> None:
    fake, _ = session(lab_stack(), {})
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.refusal is not None and ENV_PATH in plan.refusal


async def test_container_param_on_a_compose_container_takes_the_compose_path() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()})
    plan = await make_plan(fake, container="shop-backend-1")
    assert plan.target == {"container": "shop-backend-1", "project": "shop", "service": "backend"}
    assert "--force-recreate" in plan.steps[0].call
    with_file = await make_plan(fake, container="shop-backend-1", env_file="/tmp/x.env")
    assert with_file.refusal is not None and "compose" in with_file.refusal


# --- anonymous volumes -------------------------------------------------------------------


def with_anonymous(size: int, **labels: str) -> tuple[list[ContainerDetails], Volume]:
    mount = anonymous_mount("/app/uploads", seed="backend")
    stack = v1_stack(mounts=[mount])
    return stack, volume(mount["Name"], size=size, labels=labels)


@pytest.mark.parametrize("size", [4096, -1])
async def test_anonymous_volume_with_data_or_unknown_size_is_refused(size: int) -> None:
    stack, vol = with_anonymous(size)
    fake, _ = session(stack, {ENV_PATH: drifted()}, volumes=[vol])
    plan = await make_plan(fake, project="shop", service="backend")
    assert plan.refusal is not None and plan.empty
    assert vol.name in plan.refusal and "/app/uploads" in plan.refusal
    assert "named volume" in plan.refusal
    assert ("4.0 KiB" in plan.refusal) == (size > 0)


async def test_empty_or_compose_labelled_anonymous_volumes_do_not_block() -> None:
    for stack, vol in (with_anonymous(0), with_anonymous(4096, **{COMPOSE_VOLUME: "data"})):
        fake, _ = session(stack, {ENV_PATH: drifted()}, volumes=[vol])
        plan = await make_plan(fake, project="shop", service="backend")
        assert plan.refusal is None and len(plan.steps) == 1


# --- compose apply -----------------------------------------------------------------------


NEW_ID = "e" * 64


def after_up(
    fake: FakeHostSession, docker: WritingDocker, *, state: str = "running", **extra: Any
) -> None:
    """When compose's (real, not dry-run) `up` runs, the service gets a new container."""
    inner = fake._handler

    def handler(argv: tuple[str, ...]) -> Any:
        answer = inner(argv)
        if "up" in argv and "--dry-run" not in argv and getattr(answer, "ok", False):
            old = docker.details["shop-backend-1"]
            new = container(
                "shop-backend-1", project="shop", service="backend", state=state,
                env=drifted(), **extra,
            ).model_copy(update={"id": NEW_ID})  # fmt: skip
            docker.details = {k: v for k, v in docker.details.items() if v.id != old.id}
            docker.details[NEW_ID] = docker.details["shop-backend-1"] = new
            assert isinstance(docker.container_list, list)
            docker.container_list = [
                *(x for x in docker.container_list if x.id != old.id),
                summary(new),
            ]
        return answer

    fake._handler = handler


async def test_compose_apply_runs_exactly_the_planned_argv() -> None:
    fake, docker = session(lab_stack(), {ENV_PATH: drifted()})
    plan = await make_plan(fake, project="shop", service="backend")
    after_up(fake, docker)
    fake.commands.clear()
    (outcome,) = await recreate.apply(
        fake, Params(host="web1", project="shop", service="backend", settle=0), plan
    )
    assert outcome.ok and "Recreating" in outcome.detail and "stayed up" in outcome.detail
    assert fake.commands == [("docker-compose", "version"), tuple(shlex.split(plan.steps[0].call))]
    # a stopped copy of the old one was kept aside (no compose labels), then dropped
    ((create, name, body), (remove, ref, _)) = docker.calls
    assert (create, name) == ("create", "shop-backend-1-stackbot-rollback")
    assert not any(k.startswith("com.docker.compose.") for k in body["Labels"])
    assert (remove, ref) == ("remove", "f" * 64)


async def test_a_new_container_that_falls_over_is_rolled_back_and_not_fixed() -> None:
    fake, docker = session(lab_stack(), {ENV_PATH: drifted()})
    plan = await make_plan(fake, project="shop", service="backend")
    after_up(fake, docker, state="exited", exit_code=3)
    docker.log_text[NEW_ID] = f"boom: SECRET_KEY={ROTATED} rejected\n"
    failed, rolled = await recreate.apply(
        fake, Params(host="web1", project="shop", service="backend", settle=5), plan
    )
    assert not failed.ok and "did not stay up" in failed.detail and "exit code 3" in failed.detail
    assert "boom" in failed.detail and ROTATED not in failed.detail  # its last words, redacted
    assert rolled.ok and "rolled back: shop-backend-1 (running)" in rolled.detail
    writes = [c[:2] for c in docker.calls]
    copy = "f" * 64
    assert writes[0] == ("create", "shop-backend-1-stackbot-rollback")
    assert ("remove", NEW_ID) in writes  # the new one out
    assert writes[-2:] == [("rename", copy), ("start", copy)] or ("start", copy) in writes
    assert ("rename", copy) in writes and docker.calls[writes.index(("rename", copy))][2] == (
        "shop-backend-1"
    )


async def test_compose_apply_stops_when_compose_does_not_run() -> None:
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()})
    plan = await make_plan(fake, project="shop", service="backend")
    # compose answered while planning, and is gone by the time of apply
    fake._handler = host_programs(("docker-compose",), version_ok=False)
    fake.commands.clear()
    (outcome,) = await recreate.apply(fake, Params(host="web1", container="x"), plan)
    assert not outcome.ok and "nothing changed" in outcome.detail
    assert fake.commands == [("docker-compose", "version")]


async def test_compose_failure_is_reported_with_secrets_masked() -> None:
    error = f"ERROR: cannot start: value {ROTATED} rejected\n"
    fake, _ = session(lab_stack(), {ENV_PATH: drifted()}, up_error=error)
    plan = await make_plan(fake, project="shop", service="backend")
    failed, rolled = await recreate.apply(fake, Params(host="web1", container="x"), plan)
    assert not failed.ok and "exited with status 1" in failed.detail
    assert ROTATED not in failed.detail and "***" in failed.detail
    assert "nothing changed" not in failed.detail  # compose may have begun
    assert rolled.ok and "rolled back" in rolled.detail  # the copy kept aside is back


async def test_the_dry_run_refuses_a_new_volume_or_another_projects_container() -> None:
    for said, why in (
        ('DRY-RUN MODE -  Volume "shop_pgdata"  Creating', "would creating volume shop_pgdata"),
        ("DRY-RUN MODE -  Container crm-production-api-1  Recreate", "crm-production-api-1"),
    ):
        fake, _ = session(
            lab_stack(), {ENV_PATH: drifted()}, programs=("docker", "docker-compose", V2_PLUGIN)
        )
        inner = fake._handler

        def handler(argv: tuple[str, ...], said: str = said, inner: Any = inner) -> Any:
            if "--dry-run" in argv:
                return completed(argv, stderr=said + "\n")
            return inner(argv)

        fake._handler = handler
        assert isinstance(fake._docker.container_list, list)
        other = container("crm-production-api-1", project="crm-production", service="api")
        fake._docker.container_list.append(summary(other))
        plan = await make_plan(fake, project="shop", service="backend")
        assert plan.refusal is not None and why.split()[-1] in plan.refusal, plan.refusal
        assert plan.empty and "nothing was run" in plan.refusal


# --- the API path ----------------------------------------------------------------------


def prod_backend(env: Mapping[str, str] | None = None, state: str = "running") -> ContainerDetails:
    return container(
        "app-backend-production",
        image="app-backend:latest",
        state=state,
        env=env if env is not None else {**lab_env(), "LOG_LEVEL": "info"},
        networks={"platform": ["api"], "monitoring": []},
        port_bindings={"8000/tcp": "8001"},
        mounts=[bind_mount("/srv/prod/media", "/app/media")],
        cmd=["python3", "/app/server.py"],
        exposed_ports=["8000"],
        host_config={"Binds": ["/srv/prod/media:/app/media:rw"], "Memory": 268435456},
    )


def prod_file() -> dict[str, str]:
    return {**lab_env(), "LOG_LEVEL": "debug", "JWT_SECRET_KEY": "jwt-" + PLANTED_SECRET}


IMAGES = [
    {"Id": "sha256:" + object_id("image:app-backend:latest"), "RepoTags": ["app-backend:latest"]}
]


async def api_plan(
    c: ContainerDetails, file: Mapping[str, str], **kw: Any
) -> tuple[Plan, FakeHostSession, WritingDocker]:
    fake, docker = session([c], {PROD_ENV: file}, images=IMAGES, **kw)
    return await make_plan(fake, container=c.name, env_file=PROD_ENV), fake, docker


async def test_api_plan_steps_and_state() -> None:
    c = prod_backend()
    plan, _, _ = await api_plan(c, prod_file())
    old = f"app-backend-production-old-{c.id[:12]}"
    assert [s.description.split()[0] for s in plan.steps] == [
        "stop",
        "rename",
        "create",
        "connect",
        "start",
        "remove",
    ]
    assert plan.steps[1].call == f"POST /containers/app-backend-production/rename?name={old}"
    assert plan.steps[3].call.startswith("POST /networks/monitoring/connect")
    assert plan.steps[-1].call == f"DELETE /containers/{old}"
    assert plan.before["keys_changed"] == ["LOG_LEVEL"]
    assert plan.before["keys_added"] == ["JWT_SECRET_KEY"]
    assert plan.after["image"] == "app-backend:latest"
    text = plan.model_dump_json()
    assert PLANTED_SECRET not in text and "debug" not in text


async def test_api_clone_body_keeps_config_and_replaces_env() -> None:
    c = prod_backend()
    body = recreate.clone_body(c, recreate.merged_env(c.config.env, prod_file()), "img:1")
    env = dict(item.partition("=")[::2] for item in body["Env"])
    assert env["LOG_LEVEL"] == "debug" and env["JWT_SECRET_KEY"] == "jwt-" + PLANTED_SECRET
    assert env["PATH"].startswith("/usr/local/sbin")  # the image's own variables stay
    assert [e.partition("=")[0] for e in body["Env"]][-1] == "JWT_SECRET_KEY"
    assert body["Image"] == "img:1" and body["Cmd"] == ["python3", "/app/server.py"]
    assert body["HostConfig"]["Binds"] == ["/srv/prod/media:/app/media:rw"]
    assert body["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "", "HostPort": "8001"}]}
    assert body["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert body["HostConfig"]["Memory"] == 268435456
    assert body["ExposedPorts"] == {"8000/tcp": {}}
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"platform": {"Aliases": ["api"]}}}
    assert recreate.extra_networks(c) == ["monitoring"]


async def test_api_apply_clones_then_removes_the_old_one() -> None:
    c = prod_backend()
    plan, fake, docker = await api_plan(c, prod_file())
    params = Params(host="web1", container=c.name, env_file=PROD_ENV)
    outcomes = await recreate.apply(fake, params, plan)
    assert all(o.ok for o in outcomes), outcomes
    assert [o.step for o in outcomes] == [s.description for s in plan.steps]
    old = f"{c.name}-old-{c.id[:12]}"
    new = "f" * 64
    kinds = [call[0] for call in docker.calls]
    assert kinds == ["stop", "rename", "create", "connect", "start", "remove"]
    assert docker.calls[1] == ("rename", c.id, old)
    assert docker.calls[2][1] == c.name
    assert "LOG_LEVEL=debug" in docker.calls[2][2]["Env"]
    assert docker.calls[3] == ("connect", "monitoring", new, [])
    assert docker.calls[4] == ("start", new)
    assert docker.calls[5] == ("remove", c.id, False)
    assert PLANTED_SECRET not in json.dumps([o.model_dump() for o in outcomes])


async def test_api_apply_puts_the_old_container_back_when_create_fails() -> None:
    c = prod_backend()
    plan, fake, docker = await api_plan(c, prod_file(), fail="create")
    params = Params(host="web1", container=c.name, env_file=PROD_ENV)
    outcomes = await recreate.apply(fake, params, plan)
    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert "create went wrong" in outcomes[2].detail
    assert outcomes[3].step == f"put the old {c.name} back"
    assert [call[0] for call in docker.calls] == ["stop", "rename", "create", "rename", "start"]
    assert docker.calls[3] == ("rename", c.id, c.name)
    assert docker.calls[4] == ("start", c.id)


async def test_api_apply_removes_the_new_container_when_start_fails() -> None:
    c = prod_backend()
    plan, fake, docker = await api_plan(c, prod_file(), fail="start")
    outcomes = await recreate.apply(
        fake, Params(host="web1", container=c.name, env_file=PROD_ENV), plan
    )
    assert not outcomes[-2].ok and outcomes[-1].ok
    kinds = [call[0] for call in docker.calls]
    assert kinds == ["stop", "rename", "create", "connect", "start", "remove", "rename", "start"]
    assert docker.calls[5] == ("remove", "f" * 64, True)


async def test_api_stopped_container_is_not_started() -> None:
    c = prod_backend(state="exited")
    plan, _, _ = await api_plan(c, prod_file())
    assert [s.description.split()[0] for s in plan.steps] == [
        "rename",
        "create",
        "connect",
        "remove",
    ]


async def test_api_plan_is_empty_when_the_container_has_the_file() -> None:
    plan, _, _ = await api_plan(prod_backend(env=prod_file()), prod_file())
    assert plan.empty and plan.refusal is None and plan.before == plan.after


async def test_api_path_needs_an_env_file() -> None:
    c = prod_backend()
    fake, _ = session([c], {})
    plan = await make_plan(fake, container=c.name)
    assert plan.refusal is not None and "env_file=" in plan.refusal
    missing = await make_plan(fake, container=c.name, env_file="/nope/.env")
    assert missing.refusal == "cannot read /nope/.env on the host"


async def test_api_path_refuses_an_anonymous_volume_with_data() -> None:
    mount = anonymous_mount("/data", seed="tool")
    c = container("tool", env={"A": "1"}, mounts=[mount], config={"Volumes": {"/data": {}}})
    fake, _ = session([c], {PROD_ENV: {"A": "2"}}, volumes=[volume(mount["Name"], size=12)])
    plan = await make_plan(fake, container="tool", env_file=PROD_ENV)
    assert plan.refusal is not None and mount["Name"] in plan.refusal and plan.empty


def test_image_keeps_what_the_container_ran_when_the_tag_moved() -> None:
    c = prod_backend()
    moved = DiskUsage.model_validate(
        {"Images": [{"Id": "sha256:" + "0" * 64, "RepoTags": ["app-backend:latest"]}]}
    ).images
    image, note = recreate.image_for_clone(c, moved)
    assert image == c.image_id and note is not None and "app-backend:latest" in note
    same = DiskUsage.model_validate({"Images": IMAGES}).images
    assert recreate.image_for_clone(c, same) == ("app-backend:latest", None)


# --- params, post-check, declaration ---------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"project": "shop"},
        {"service": "backend"},
        {"project": "shop", "service": "backend", "container": "x"},
        {},
        {"container": "x", "env_file": "relative/.env"},
        {"project": "shop", "service": "backend", "env_file": "/srv/.env"},
        {"container": "x", "extra": "no"},
    ],
)
def test_params_are_validated(params: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Params(host="web1", **params)


def drift(**subject: str) -> Finding:
    return Finding(
        code="env.drift",
        severity=Severity.WARNING,
        title="drift",
        subject=Subject(environment="staging", host="web1", **subject),
    )


def test_remaining_keeps_env_drift_of_the_target_only() -> None:
    backend = drift(project="shop", service="backend", container="shop-backend-1")
    db = drift(project="shop", service="db", container="shop-db-1")
    other = Finding(
        code="container.down", severity=Severity.CRITICAL, title="x", subject=backend.subject
    )
    findings = [backend, db, other]
    by_service = Params(host="web1", project="shop", service="backend")
    assert recreate.remaining(findings, by_service) == [backend]
    by_name = Params(host="web1", container="shop-db-1", env_file="/srv/.env")
    assert recreate.remaining(findings, by_name) == [db]


def test_action_declaration() -> None:
    action = recreate.ACTION
    assert action.name == "container.recreate"
    assert action.destructive and action.verifies == ("env.drift",)
    assert action.title.startswith("Recreate one service")


async def test_api_clone_body_keeps_user_workdir_and_stop_signal_when_set() -> None:
    c = prod_backend()
    plain = recreate.clone_body(c, list(c.config.env), "img:1")
    assert not {"User", "WorkingDir", "StopSignal", "Tty"} & set(plain)  # the image's defaults
    config = c.config.model_copy(
        update={"user": "1000:1000", "working_dir": "/app", "stop_signal": "SIGINT", "tty": True}
    )
    body = recreate.clone_body(c.model_copy(update={"config": config}), [], "img:1")
    assert (body["User"], body["WorkingDir"], body["StopSignal"], body["Tty"]) == (
        "1000:1000", "/app", "SIGINT", True,
    )  # fmt: skip
