"""``Operations`` under a flood: identical diagnoses (and button plans) in flight share one
run, each request keeping its own audit rows; each environment runs at most N at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, StepOutcome
from bot.framework.envlock import EnvironmentBusy, environment_lock
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.inventory.config.models import Inventory, ResolvedHost
from bot.model.errors import HostUnreachable
from bot.model.findings import Finding
from bot.operations import FixRequest, Operations, Requester
from bot.stores.audit.record import AuditRecord
from bot.stores.audit.spool import Spool
from bot.stores.audit.trail import AuditTrail
from tests.unit.fakes import FakeHostSession

INVENTORY = Inventory.model_validate(
    {
        "environments": {
            "prod": {"hosts": {"web1": {"address": "203.0.113.10"}, "web2": {"address": "x2"}}},
            "staging": {"hosts": {"stage1": {"address": "203.0.113.20"}}},
        }
    }
)
ALICE, BOB = Requester("UALICE", "slack"), Requester("UBOB", "slack")


async def settle() -> None:
    """Let every ready task run until it waits on something the test controls."""
    for _ in range(100):
        await asyncio.sleep(0)


class GatedTransport:
    """Sessions that open only when the test lets them through (``release``), one ticket
    per session and host; every host then reads as unreachable (a complete diagnosis
    all the same). Counts the sessions asked for, and the most waiting at once."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.waiting = 0
        self.most_waiting: dict[str, int] = defaultdict(int)
        self.tickets: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(0))
        self.fail: BaseException | None = None
        self._waiting_in: dict[str, int] = defaultdict(int)

    def release(self, host: str, count: int = 1) -> None:
        for _ in range(count):
            self.tickets[host].release()

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[HostSession]:
        self.asked.append(host.name)
        self._waiting_in[host.env] += 1
        self.most_waiting[host.env] = max(self.most_waiting[host.env], self._waiting_in[host.env])
        try:
            await self.tickets[host.name].acquire()
        finally:
            self._waiting_in[host.env] -= 1
        if self.fail is not None:
            raise self.fail
        if host.name == "planner":
            yield FakeHostSession(host=host)
            return
        raise HostUnreachable(host.label, "a test host: no answer")


def operations(tmp_path: Path, **kwargs: Any) -> tuple[Operations, GatedTransport, AuditTrail]:
    transport = GatedTransport()
    trail = AuditTrail(None, Spool(tmp_path / "spool.jsonl"))  # rows kept in the spool
    ops = Operations(INVENTORY, trail=trail, lock_dir=tmp_path, transport=transport, **kwargs)
    return ops, transport, trail


def rows(trail: AuditTrail, kind: str | None = None) -> list[AuditRecord]:
    return [r for r in trail.spool.pending() if kind is None or r.kind == kind]


async def test_two_diagnoses_of_one_environment_at_once_run_it_once(tmp_path: Path) -> None:
    ops, transport, trail = operations(tmp_path)
    first = asyncio.ensure_future(ops.diagnose(ALICE, "prod"))
    second = asyncio.ensure_future(ops.diagnose(BOB, "prod"))
    await settle()
    assert sorted(transport.asked) == ["web1", "web2"]  # one session per host, not two
    transport.release("web1")
    transport.release("web2")
    a, b = await first, await second
    assert a is b and [h.reached for h in a.hosts] == [False, False]
    # each requester still has its own two rows; the second names the run it shared
    requested, diagnosed = rows(trail, "requested"), rows(trail, "diagnosed")
    assert [r.actor for r in requested] == ["UALICE", "UBOB"]
    assert {r.actor for r in diagnosed} == {"UALICE", "UBOB"}
    by_actor = {r.actor: r for r in diagnosed}
    alice_id = next(r.correlation_id for r in requested if r.actor == "UALICE")
    assert "shared_with" not in by_actor["UALICE"].details
    assert by_actor["UBOB"].details["shared_with"] == str(alice_id)
    assert by_actor["UBOB"].correlation_id != alice_id
    assert by_actor["UBOB"].details["unreached"] == ["web1", "web2"]


async def test_different_stacks_hosts_or_environments_are_separate_runs(tmp_path: Path) -> None:
    ops, transport, trail = operations(tmp_path)
    asks = [
        ops.diagnose(ALICE, "prod", stack="shop"),
        ops.diagnose(ALICE, "prod", stack="blog"),
        ops.diagnose(ALICE, "prod", stack="shop", hosts=["web1"]),
        ops.diagnose(ALICE, "staging", stack="shop"),
    ]
    waiters = [asyncio.ensure_future(ask) for ask in asks]
    await settle()
    transport.release("web1", 3)
    transport.release("web2", 2)
    transport.release("stage1")
    await asyncio.gather(*waiters)
    assert sorted(transport.asked) == ["stage1", "web1", "web1", "web1", "web2", "web2"]
    assert not any("shared_with" in r.details for r in rows(trail, "diagnosed"))


async def test_a_diagnosis_asked_after_another_ended_runs_again(tmp_path: Path) -> None:
    ops, transport, _ = operations(tmp_path)
    transport.release("web1", 2)
    transport.release("web2", 2)
    await ops.diagnose(ALICE, "prod")
    await ops.diagnose(BOB, "prod")
    assert sorted(transport.asked) == ["web1", "web1", "web2", "web2"]


async def test_a_run_from_before_a_fix_is_not_shared_with_a_request_after_it(
    tmp_path: Path,
) -> None:
    """The report after a fix must see the fix: a diagnosis started before a fix was
    applied (or tried) is not joined by one asked for after."""
    ops, transport, trail = operations(tmp_path)
    before = asyncio.ensure_future(ops.diagnose(ALICE, "prod"))
    await settle()
    fix = FixRequest(ACTION, Params(host="web1"), "prod", PLAN, "UBOB", audit=None)
    async with environment_lock(tmp_path, "prod", holder="someone", what="a restart"):
        with pytest.raises(EnvironmentBusy):  # tried: the host may have changed since
            await ops.apply_fix(fix, by="UBOB", how="button", lock_wait=0)
    after = asyncio.ensure_future(ops.diagnose(BOB, "prod"))
    await settle()
    transport.release("web1", 2)
    transport.release("web2", 2)
    await before, await after
    assert sorted(transport.asked) == ["web1", "web1", "web2", "web2"]
    assert not any("shared_with" in r.details for r in rows(trail, "diagnosed"))


async def test_an_error_of_the_shared_run_reaches_every_requester(tmp_path: Path) -> None:
    ops, transport, trail = operations(tmp_path)
    transport.fail = RuntimeError("the transport broke")
    waiters = [asyncio.ensure_future(ops.diagnose(who, "prod")) for who in (ALICE, BOB)]
    await settle()
    assert sorted(transport.asked) == ["web1", "web2"]
    transport.release("web1")
    transport.release("web2")
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    assert len(rows(trail, "requested")) == 2 and rows(trail, "diagnosed") == []
    assert sorted(transport.asked) == ["web1", "web2"]


async def test_a_requester_that_goes_away_leaves_the_others_their_report(
    tmp_path: Path,
) -> None:
    ops, transport, trail = operations(tmp_path)
    first = asyncio.ensure_future(ops.diagnose(ALICE, "prod"))
    second = asyncio.ensure_future(ops.diagnose(BOB, "prod"))
    await settle()
    assert sorted(transport.asked) == ["web1", "web2"]
    first.cancel()
    await settle()
    transport.release("web1")
    transport.release("web2")
    report = await second
    assert first.cancelled() and report.environment == "prod"
    assert sorted(transport.asked) == ["web1", "web2"]
    assert [r.actor for r in rows(trail, "diagnosed")] == ["UBOB"]


async def test_each_requester_hears_of_every_host(tmp_path: Path) -> None:
    ops, transport, _ = operations(tmp_path)
    heard: dict[str, list[str]] = defaultdict(list)

    def listener(name: str) -> Any:
        async def host_done(outcome: Any) -> None:
            heard[name].append(outcome.host)

        return host_done

    first = asyncio.ensure_future(ops.diagnose(ALICE, "prod", on_host_done=listener("A")))
    await settle()
    transport.release("web1")
    await settle()
    second = asyncio.ensure_future(ops.diagnose(BOB, "prod", on_host_done=listener("B")))
    await settle()
    assert sorted(transport.asked) == ["web1", "web2"] and heard["B"] == ["web1"]
    transport.release("web2")
    await first, await second
    assert sorted(heard["A"]) == sorted(heard["B"]) == ["web1", "web2"]
    assert sorted(transport.asked) == ["web1", "web2"]


async def test_runs_of_one_environment_are_bounded_and_the_rest_queue(tmp_path: Path) -> None:
    ops, transport, _ = operations(tmp_path, runs_per_environment=2)
    stacks = [f"stack{i}" for i in range(6)]  # six different requests: nothing to share
    waiters = [
        asyncio.ensure_future(ops.diagnose(ALICE, "prod", stack=s, hosts=["web1"])) for s in stacks
    ]
    staging = asyncio.ensure_future(ops.diagnose(ALICE, "staging"))
    await settle()
    assert transport.asked.count("web1") == 2  # two run, four wait for a slot
    assert transport.asked.count("stage1") == 1  # another environment is not held up
    assert ops.limits.busy("prod") == 2
    for ran in range(3, 7):
        transport.release("web1")  # one run ends: the next one starts
        await settle()
        assert transport.asked.count("web1") == min(ran, 6)
    transport.release("web1", 2)
    transport.release("stage1")
    await asyncio.gather(*waiters, staging)
    assert transport.most_waiting["prod"] == 2 and ops.limits.busy("prod") == 0


async def test_requests_queued_behind_the_bound_share_one_run(tmp_path: Path) -> None:
    ops, transport, trail = operations(tmp_path, runs_per_environment=1)
    busy = asyncio.ensure_future(ops.diagnose(ALICE, "prod", stack="other", hosts=["web1"]))
    queued = [asyncio.ensure_future(ops.diagnose(BOB, "prod", hosts=["web1"])) for _ in range(5)]
    await settle()
    assert transport.asked == ["web1"]  # the busy one; the five wait for its slot
    transport.release("web1")
    await settle()
    assert transport.asked == ["web1", "web1"]
    transport.release("web1")
    await settle()
    assert transport.asked == ["web1", "web1"] and all(q.done() for q in queued)
    await asyncio.gather(busy, *queued)
    assert sum("shared_with" in r.details for r in rows(trail, "diagnosed")) == 4


# --- a button's plan ----------------------------------------------------------------------


class Params(HostParams):
    container: str = "shop_db"


PLANS: list[str] = []
PLAN = Plan(action="test.noop", target={"container": "shop_db"}, destructive=False)


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    PLANS.append(params.container)
    return PLAN.model_copy(update={"target": {"container": params.container}})


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    return []


def remaining(findings: list[Finding], params: Params) -> list[Finding]:
    return []


ACTION = Action(
    name="test.noop",
    summary="Nothing (test double).",
    params=Params,
    risk=Risk.CHANGE,
    verifies=(),
    plan=plan,
    apply=apply,
    remaining=remaining,
)
PLANNER = Inventory.model_validate(
    {"environments": {"prod": {"hosts": {"planner": {"address": "203.0.113.30"}}}}}
)


async def test_the_same_button_plan_asked_for_at_once_is_made_once(tmp_path: Path) -> None:
    transport = GatedTransport()
    ops = Operations(PLANNER, trail=None, lock_dir=tmp_path, transport=transport)
    ops.__dict__["actions"] = {ACTION.name: ACTION}  # the test action, not the catalogue
    PLANS.clear()
    same = {"host": "planner", "container": "shop_db"}
    other = {"host": "planner", "container": "shop_web"}
    waiters = [
        asyncio.ensure_future(ops.plan_fix("prod", ACTION.name, given))
        for given in (same, dict(same), other)
    ]
    await settle()
    assert transport.asked == ["planner"] * 2
    transport.release("planner", 2)
    first, second, third = await asyncio.gather(*waiters)
    assert sorted(PLANS) == ["shop_db", "shop_web"] and transport.asked == ["planner"] * 2
    assert first is second and third.target == {"container": "shop_web"}
