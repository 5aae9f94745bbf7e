"""container.recreate on the lab: S5 (seed 004) over real SSH and a real dockerd.

The compose path recreates only staging's backend (prod and staging's db keep their
ids), the API path clones a hand-run prod container with an edited env file, a
container with data in an anonymous volume is refused, and a plan whose container
vanished is stale. Each apply is repeated: the second plan is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import pytest

from bot.framework.action import ActionResult, Plan
from bot.framework.executor import PlanStale, action_host, execute, plan_action
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, load_inventory
from bot.model.findings import Finding
from bot.transport import Transport
from runbooks.diagnose.envfile import parse_env_file
from runbooks.diagnose.gather import gather_facts
from runbooks.diagnose.runbook import judge
from runbooks.fix_container_recreate import ACTION, Params
from tests.integration.inventories import lab_host, write_inventory
from tests.lab import images
from tests.lab.config import PLANTED_JWT, PLANTED_PASSWORD, PLANTED_SECRET
from tests.lab.lab import Lab
from tests.lab.scenarios import SLEEPER_CMD, ScenarioInfo
from tests.lab.stack import env_text, exec_in, run_container, write_file

pytestmark = pytest.mark.lab
ENV = "lab"
PLANTED = (PLANTED_SECRET, PLANTED_PASSWORD, PLANTED_JWT)
PROJECT = "filter-ical"
PROD = ("filter-ical-db-production", "filter-ical-backend-production")
STAGING_DB = "filter-ical-db-staging"
STAGING_BACKEND = "filter-ical-backend-staging"
SCRATCH = ("recreate-anon", "recreate-stale", "recreate-as")  # made by hand here
STATIC_NET = "recreate-static"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def inventory(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = write_inventory(
        tmp_path_factory.mktemp("recreate") / "inv.yaml",
        lab,
        {ENV: {"hosts": {"h1": lab_host(lab, "h1")}}},
    )
    return load_inventory(path)


@pytest.fixture(scope="module")
def s5(lab: Lab) -> Iterator[ScenarioInfo]:
    """A fresh S5 (these tests change it), and the scratch containers removed at the end."""
    info = lab.scenario("S5")
    yield info
    client = lab.docker("h1")
    for c in client.containers.list(all=True):
        if (c.name or "").startswith(SCRATCH):
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True, v=True)


def ids(lab: Lab, *names: str) -> dict[str, str]:
    client = lab.docker("h1")
    return {name: str(client.containers.get(name).id) for name in names}


def env_of(lab: Lab, name: str) -> dict[str, str]:
    raw = lab.docker("h1").containers.get(name).attrs["Config"]["Env"] or []
    return dict(item.partition("=")[::2] for item in raw)


async def diagnose_findings(session: HostSession) -> list[Finding]:
    return judge(await gather_facts(session, deadline=60)).findings


async def diagnose(inventory: Inventory) -> list[Finding]:
    host = action_host(inventory, ENV, Params(host="h1", container="x"))
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        return await diagnose_findings(session)


async def make_plan(inventory: Inventory, params: Params) -> Plan:
    async with Transport(inventory.ssh) as transport:
        return await plan_action(transport, inventory, ENV, ACTION, params)


async def apply(
    inventory: Inventory, params: Params, confirmed: Plan | None, lock_dir: Path
) -> ActionResult:
    async with Transport(inventory.ssh) as transport:
        return await execute(
            transport,
            inventory,
            ENV,
            ACTION,
            params,
            confirmed=confirmed,
            actor="test",
            lock_dir=lock_dir,
            diagnose=diagnose_findings,
        )


def assert_no_secrets(*models: Plan | ActionResult) -> None:
    for model in models:
        text = model.model_dump_json()
        for secret in PLANTED:
            assert secret not in text, f"{secret} leaked into {type(model).__name__}"


def apply_twice(
    inventory: Inventory, params: Params, plan: Plan, lock_dir: Path
) -> tuple[ActionResult, ActionResult]:
    first = run(apply(inventory, params, plan, lock_dir))
    again = run(make_plan(inventory, params))
    assert again.empty and again.refusal is None, again
    second = run(apply(inventory, params, again, lock_dir))
    assert second.status == "nothing to do" and second.changed is False
    assert_no_secrets(first, again, second)
    return first, second


def test_compose_recreate_reloads_staging_only(
    lab: Lab, s5: ScenarioInfo, inventory: Inventory, tmp_path: Path
) -> None:
    drift = [
        f
        for f in run(diagnose(inventory))
        if f.code == "env.drift" and (f.subject.project, f.subject.service) == (PROJECT, "backend")
    ]
    assert drift, "S5 shows no env.drift for staging's backend"
    fix = drift[0].fixes[0]
    assert fix.action == ACTION.name
    params = Params.model_validate(fix.params)
    kept = ids(lab, *PROD, STAGING_DB)
    old_backend = ids(lab, STAGING_BACKEND)[STAGING_BACKEND]

    plan = run(make_plan(inventory, params))
    assert plan.refusal is None and len(plan.steps) == 1
    argv = plan.steps[0].call.split()
    for scoped in (["-p", PROJECT], ["--no-deps"], ["--force-recreate", "--", "backend"]):
        assert " ".join(scoped) in " ".join(argv)
    assert "LOG_LEVEL" in plan.before["keys_changed"]
    assert "JWT_SECRET_KEY" in plan.before["keys_added"]
    assert plan.before["id"] == old_backend[:12]

    first, _ = apply_twice(inventory, params, plan, tmp_path)
    assert first.status == "applied" and first.changed, first
    assert first.post_check is not None and first.post_check.cleared, first.post_check
    env = env_of(lab, STAGING_BACKEND)
    assert env["LOG_LEVEL"] == "debug" and env["JWT_SECRET_KEY"] == PLANTED_JWT
    assert ids(lab, STAGING_BACKEND)[STAGING_BACKEND] != old_backend
    assert lab.docker("h1").containers.get(STAGING_BACKEND).status == "running"
    assert ids(lab, *PROD, STAGING_DB) == kept, "prod or staging's db was recreated too"


def test_api_recreate_of_a_hand_run_prod_container(
    lab: Lab, s5: ScenarioInfo, inventory: Inventory, tmp_path: Path
) -> None:
    name = PROD[1]
    env_file = Path(s5.stack_dirs[0]) / ".env.production"
    values = parse_env_file(env_file.read_text())
    write_file(
        env_file, env_text({**values, "LOG_LEVEL": "warning", "JWT_SECRET_KEY": PLANTED_JWT})
    )
    client = lab.docker("h1")
    old = client.containers.get(name)
    others = ids(lab, PROD[0], STAGING_DB, STAGING_BACKEND)
    params = Params(host="h1", container=name, env_file=str(env_file))

    plan = run(make_plan(inventory, params))
    assert plan.refusal is None, plan.refusal
    assert [s.description.split()[0] for s in plan.steps] == [
        "stop",
        "rename",
        "create",
        "start",
        "remove",
    ]
    assert plan.before["keys_changed"] == ["LOG_LEVEL"]
    assert plan.before["keys_added"] == ["JWT_SECRET_KEY"]

    first, _ = apply_twice(inventory, params, plan, tmp_path)
    assert first.status == "applied" and all(o.ok for o in first.outcomes), first.outcomes
    new = client.containers.get(name)
    assert new.id != old.id and new.status == "running"
    env = env_of(lab, name)
    assert env["LOG_LEVEL"] == "warning" and env["JWT_SECRET_KEY"] == PLANTED_JWT
    assert env["DATABASE_URL"] == values["DATABASE_URL"]
    assert set(new.attrs["NetworkSettings"]["Networks"]) == set(
        old.attrs["NetworkSettings"]["Networks"]
    )
    for key in ("PortBindings", "RestartPolicy", "Binds", "NetworkMode"):
        assert new.attrs["HostConfig"][key] == old.attrs["HostConfig"][key], key
    assert new.attrs["Config"]["Image"] == old.attrs["Config"]["Image"]
    leftovers = [c.name for c in client.containers.list(all=True) if "-old-" in (c.name or "")]
    assert leftovers == []
    assert ids(lab, PROD[0], STAGING_DB, STAGING_BACKEND) == others


def scratch_container(lab: Lab, name: str, **kwargs: Any) -> str:
    client = lab.docker("h1")
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True, v=True)
    started = run_container(client, images.ref("busybox"), command=SLEEPER_CMD, name=name, **kwargs)
    return str(started.id)


def scratch_env_file(lab: Lab, name: str, values: dict[str, str]) -> Path:
    return write_file(lab.stacks_dir / f"{name}.env", env_text(values))


def test_anonymous_volume_with_data_is_refused(
    lab: Lab, s5: ScenarioInfo, inventory: Inventory, tmp_path: Path
) -> None:
    name = SCRATCH[0]
    cid = scratch_container(lab, name, environment={"MODE": "old"}, volumes=["/data"])
    exec_in(lab.docker("h1"), name, ["sh", "-c", "echo keep-me > /data/file"])
    (mount,) = lab.docker("h1").containers.get(name).attrs["Mounts"]
    env_file = scratch_env_file(lab, name, {"MODE": "new"})
    params = Params(host="h1", container=name, env_file=str(env_file))

    plan = run(make_plan(inventory, params))
    assert plan.refusal is not None and mount["Name"] in plan.refusal, plan
    assert "/data" in plan.refusal and plan.empty
    result = run(apply(inventory, params, plan, tmp_path))
    assert result.status == "refused" and result.changed is False and result.outcomes == []
    assert ids(lab, name)[name] == cid
    assert exec_in(lab.docker("h1"), name, ["cat", "/data/file"])[1].strip() == "keep-me"
    assert env_of(lab, name)["MODE"] == "old"


def test_api_recreate_keeps_user_workdir_stop_signal_and_a_static_address(
    lab: Lab, s5: ScenarioInfo, inventory: Inventory, tmp_path: Path
) -> None:
    client = lab.docker("h1")
    name = SCRATCH[2]
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True, v=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.networks.get(STATIC_NET).remove()
    pool = docker.types.IPAMPool(subnet="10.251.7.0/24")  # inside h1's own namespace
    network = client.networks.create(STATIC_NET, ipam=docker.types.IPAMConfig(pool_configs=[pool]))
    try:
        started = run_container(
            client, images.ref("busybox"), command=SLEEPER_CMD, name=name,
            environment={"MODE": "old"}, user="65534:65534", working_dir="/tmp",
            stop_signal="SIGINT", network=STATIC_NET,
        )  # fmt: skip
        network.disconnect(started)  # again, with a static address
        network.connect(started, ipv4_address="10.251.7.77")
        env_file = scratch_env_file(lab, name, {"MODE": "new"})
        params = Params(host="h1", container=name, env_file=str(env_file))

        plan = run(make_plan(inventory, params))
        assert plan.refusal is None, plan.refusal
        first, _ = apply_twice(inventory, params, plan, tmp_path)
        assert first.status == "applied", first.outcomes
        new = client.containers.get(name).attrs
        assert new["Id"] != started.id and env_of(lab, name)["MODE"] == "new"
        config = new["Config"]
        assert (config["User"], config["WorkingDir"], config["StopSignal"]) == (
            "65534:65534", "/tmp", "SIGINT",
        )  # fmt: skip
        endpoint = new["NetworkSettings"]["Networks"][STATIC_NET]
        assert endpoint["IPAddress"] == "10.251.7.77"
        assert exec_in(client, name, ["id", "-u"])[1].strip() == "65534"
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True, v=True)
        network.remove()


def test_plan_made_stale_by_a_removed_container(
    lab: Lab, s5: ScenarioInfo, inventory: Inventory, tmp_path: Path
) -> None:
    name = SCRATCH[1]
    scratch_container(lab, name, environment={"MODE": "old"})
    env_file = scratch_env_file(lab, name, {"MODE": "new"})
    params = Params(host="h1", container=name, env_file=str(env_file))
    plan = run(make_plan(inventory, params))
    assert plan.refusal is None and plan.steps
    lab.docker("h1").containers.get(name).remove(force=True)

    with pytest.raises(PlanStale) as stale:
        run(apply(inventory, params, plan, tmp_path))
    assert "nothing was run" in str(stale.value)
    left = [c.name for c in lab.docker("h1").containers.list(all=True)]
    assert not [n for n in left if (n or "").startswith(name)]
    assert json.dumps(str(stale.value)).count(PLANTED_SECRET) == 0
