"""Which environment owns a compose project on a shared Docker engine, and what an
action is refused for when its target is another environment's (no host needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, Step, StepOutcome
from bot.framework.executor import execute
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, ResolvedHost, parse_inventory
from bot.inventory.ownership import check_owned, shared_engine_warnings
from bot.model.docker_objects import ContainerDetails
from bot.model.errors import NotOwned
from bot.model.findings import Finding
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession

SHARED = """
environments:
  crm-prod:
    hosts: {web1: {address: 203.0.113.10}}
    stacks: {crm: {compose_project: crm-production}}
  crm-stg:
    hosts: {web1: {address: 203.0.113.10}}
    stacks: {crm: {compose_project: crm-staging}}
    projects: ["crm-preview-*"]
  shop:
    hosts: {box: {address: 203.0.113.10}}
  elsewhere:
    hosts: {web9: {address: 203.0.113.99}}
"""


def inventory(text: str = SHARED) -> Inventory:
    return parse_inventory(yaml.safe_load(text), source="test", base_dir=Path("/etc/stackbot"))


def host(env: str, name: str = "web1", text: str = SHARED) -> ResolvedHost:
    return inventory(text).resolved_host(env, name)


def test_a_declared_project_belongs_to_the_environment_that_declares_it() -> None:
    for env in ("crm-prod", "crm-stg"):
        h = host(env)
        assert h.owner_of("crm-production") == "crm-prod"
        assert h.owner_of("CRM-Staging") == "crm-stg"  # compose's normalisation
    assert host("shop", "box").owner_of("crm-production") == "crm-prod"


def test_patterns_claim_undeclared_projects_and_nothing_else_does() -> None:
    assert host("crm-prod").owner_of("crm-preview-42") == "crm-stg"
    assert host("crm-stg").owner_of("crm-preview-42") == "crm-stg"
    # on a shared engine where others declare stacks, an undeclared project is nobody's
    assert host("shop", "box").owner_of("blog") is None
    assert host("crm-stg").owner_of(None) is None  # unlabelled containers too
    # a host no other environment shares: everything on it is its environment's
    alone = host("elsewhere", "web9")
    assert alone.neighbours == ()
    assert alone.owner_of("anything") == "elsewhere" and alone.owns(None)


def test_an_environment_that_declares_owns_what_no_neighbour_claims() -> None:
    text = """
environments:
  prod: {hosts: {a: {address: 192.0.2.1}}, stacks: {shop: {}}}
  scratch: {hosts: {a: {address: 192.0.2.1}}}
"""
    assert host("prod", "a", text).owner_of("blog") == "prod"  # scratch claims nothing
    assert host("scratch", "a", text).owner_of("blog") is None  # prod declares stacks
    assert host("scratch", "a", text).owner_of("shop") == "prod"
    warnings = shared_engine_warnings(inventory(text))
    assert any("scratch owns nothing there" in w for w in warnings), warnings


def test_engines_are_told_apart_by_address_port_and_socket() -> None:
    text = """
environments:
  a: {hosts: {h: {address: 192.0.2.1}}, stacks: {x: {}}}
  b: {hosts: {h: {address: 192.0.2.1, port: 2222}}}
  c: {hosts: {h: {address: 192.0.2.1, docker_socket: /run/other.sock}}}
"""
    inv = inventory(text)
    assert [n.env for n in inv.resolved_host("a", "h").neighbours] == []
    assert shared_engine_warnings(inv) == []


def test_check_config_warns_where_a_project_could_belong_to_either() -> None:
    text = """
environments:
  one: {hosts: {h: {address: 192.0.2.1}}, stacks: {app: {compose_project: app}}}
  two: {hosts: {h: {address: 192.0.2.1}}, stacks: {app: {compose_project: app}},
        projects: ["ap*"]}
  three: {hosts: {h: {address: 192.0.2.2}}}
  four: {hosts: {h: {address: 192.0.2.2}}}
"""
    warnings = shared_engine_warnings(inventory(text))
    assert any("both declare project(s) app" in w for w in warnings), warnings
    assert any("matches two's pattern ap*" in w for w in warnings), warnings
    assert any("neither declares" in w and "three" in w and "four" in w for w in warnings)
    shared = shared_engine_warnings(inventory())
    assert any("shop owns nothing there" in w for w in shared), shared
    assert not any("both declare" in w for w in shared)


def container(name: str, project: str | None) -> ContainerDetails:
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": "api"}
    return ContainerDetails.model_validate(
        {
            "Id": f"{name}-id",
            "Name": f"/{name}",
            "Created": "2026-12-01T00:00:00Z",
            "State": {"Status": "running", "Running": True},
            "Config": {"Image": "busybox", "Labels": {k: v for k, v in labels.items() if v}},
            "HostConfig": {},
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        }
    )


def session_for(h: ResolvedHost) -> FakeHostSession:
    docker = FakeDocker(
        log=CallLog(),
        details={
            "crm-production_api_1": container("crm-production_api_1", "crm-production"),
            "crm-staging_api_1": container("crm-staging_api_1", "crm-staging"),
        },
    )
    return FakeHostSession(docker=docker, host=h)


def test_a_target_of_another_environment_is_refused_naming_its_owner() -> None:
    view = ReadOnlyHost(session_for(host("crm-stg")))
    with pytest.raises(NotOwned) as refused:
        asyncio.run(check_owned(view, "container.restart", {"container": "crm-production_api_1"}))
    assert refused.value.owner == "crm-prod" and refused.value.exit_status == 5
    assert "belongs to environment crm-prod, not crm-stg" in refused.value.message
    asyncio.run(check_owned(view, "container.restart", {"container": "crm-staging_api_1"}))
    with pytest.raises(NotOwned, match="belongs to environment crm-prod"):
        asyncio.run(check_owned(view, "container.recreate", {"project": "crm-production"}))
    with pytest.raises(NotOwned, match="whole Docker engine"):  # prune touches everyone's
        asyncio.run(check_owned(view, "docker.prune", {"host": "web1"}))


class FailParams(HostParams):
    pass


class Sessions:
    def __init__(self, session: FakeHostSession) -> None:
        self._session = session

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[HostSession]:
        yield self._session


def test_a_failed_apply_is_never_post_checked_as_a_cure(tmp_path: Path) -> None:
    """Even when the diagnosis afterwards would find nothing, a failed step is a failure."""

    async def plan(view: ReadOnlyHost, params: FailParams) -> Plan:
        return Plan(
            action="test.fail", target={"container": "crm-staging_api_1"}, destructive=False,
            steps=(Step(description="start it", call="POST /containers/x/start"),),
        )  # fmt: skip

    async def apply(session: HostSession, params: FailParams, p: Plan) -> list[StepOutcome]:
        return [StepOutcome(step="start it", ok=False, detail="name conflict")]

    def remaining(findings: list[Finding], params: FailParams) -> list[Finding]:
        return []

    diagnosed: list[bool] = []

    async def diagnose(session: HostSession) -> list[Finding]:
        diagnosed.append(True)
        return []

    action = Action(
        name="test.fail", summary="Fails on purpose.", params=FailParams, risk=Risk.CHANGE,
        verifies=("container.down",), plan=plan, apply=apply, remaining=remaining,
    )  # fmt: skip
    inv = inventory()
    session = session_for(inv.resolved_host("crm-stg", "web1"))
    result = asyncio.run(
        execute(
            Sessions(session),
            inv,
            "crm-stg",
            action,
            FailParams(host="web1"),
            confirmed=None,
            actor="test",
            lock_dir=tmp_path,
            diagnose=diagnose,
        )
    )
    assert result.status == "failed" and result.message == "name conflict"
    assert result.post_check is None and diagnosed == []
