"""Read-only requests' rows queue, a few written at once, so a flood of them cannot hold
every connection of the audit pool; rows before a change never queue, and nothing queues
while the database is refusing rows."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from bot.framework.action import Action, HostParams, Plan, ReadOnlyHost, StepOutcome
from bot.framework.runbook import Risk
from bot.framework.session import HostSession
from bot.inventory.config.models import Inventory, ResolvedHost
from bot.model.errors import HostUnreachable
from bot.operations import Operations, Requester
from bot.operations.rows import RowQueue
from bot.stores.audit.record import AuditRecord
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail

INVENTORY = Inventory.model_validate(
    {"environments": {"prod": {"hosts": {"web1": {"address": "203.0.113.10"}}}}}
)


async def settle() -> None:
    for _ in range(100):
        await asyncio.sleep(0)


class SlowStore:
    """An audit store whose inserts finish when the test says (``release``)."""

    def __init__(self) -> None:
        self.started: list[AuditRecord] = []
        self.inserting = 0
        self.most_at_once = 0
        self._tickets = asyncio.Semaphore(0)

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._tickets.release()

    async def append(self, record: AuditRecord) -> None:
        self.started.append(record)
        self.inserting += 1
        self.most_at_once = max(self.most_at_once, self.inserting)
        try:
            await self._tickets.acquire()
        finally:
            self.inserting -= 1


def trail_of(tmp_path: Path, store: SlowStore | None) -> AuditTrail:
    return AuditTrail(cast(AuditStore | None, store), Spool(tmp_path / "spool.jsonl"))


async def test_rows_are_written_a_few_at_a_time_in_the_order_they_came(tmp_path: Path) -> None:
    store = SlowStore()
    trail = trail_of(tmp_path, store)
    queue = RowQueue(at_once=2)
    requests = [trail.request(actor=f"U{n}", surface="slack") for n in range(5)]
    writes = [asyncio.ensure_future(queue.record(r, "requested", {})) for r in requests]
    await settle()
    assert [r.actor for r in store.started] == ["U0", "U1"]  # two insert, three wait
    store.release()
    await settle()
    assert [r.actor for r in store.started] == ["U0", "U1", "U2"]
    store.release(4)
    await asyncio.gather(*writes)
    assert [r.actor for r in store.started] == ["U0", "U1", "U2", "U3", "U4"]
    assert store.most_at_once == 2


async def test_nothing_queues_while_the_database_refuses_rows(tmp_path: Path) -> None:
    """Rows in the spool: the database did not take them, so each row finds out for
    itself at once (as without the queue) instead of waiting for the ones before it."""
    store = SlowStore()
    trail = trail_of(tmp_path, store)
    spooled = AuditRecord(correlation_id=uuid.uuid4(), kind="requested", actor="a", surface="cli")
    trail.spool.append(spooled)
    queue = RowQueue(at_once=1)
    writes = [
        asyncio.ensure_future(queue.record(trail.request(actor="b", surface="cli"), "denied", {}))
        for _ in range(3)
    ]
    await settle()
    # the spooled row's replay (the first write's) and the two other writes' rows: at once
    assert store.inserting == 3 and [r.actor for r in store.started] == ["a", "b", "b"]
    store.release(10)
    await asyncio.gather(*writes)


async def test_no_database_no_queue(tmp_path: Path) -> None:
    trail = trail_of(tmp_path, None)
    queue = RowQueue(at_once=1)
    await asyncio.gather(
        *(queue.record(trail.request(actor=f"U{n}", surface="cli"), "denied", {}) for n in range(3))
    )
    assert [r.actor for r in trail.spool.pending()] == ["U0", "U1", "U2"]


class OpenTransport:
    """Every host answers at once, unreachable (a complete diagnosis all the same)."""

    def __init__(self) -> None:
        self.sessions: dict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[Any]:
        self.sessions[host.name] += 1
        raise HostUnreachable(host.label, "a test host: no answer")
        yield  # pragma: no cover


async def test_a_flood_of_diagnoses_writes_its_rows_two_at_a_time(tmp_path: Path) -> None:
    store = SlowStore()
    ops = Operations(
        INVENTORY, trail=trail_of(tmp_path, store), lock_dir=tmp_path, transport=OpenTransport()
    )
    flood = [
        asyncio.ensure_future(ops.diagnose(Requester(f"U{n}", "slack"), "prod", stack=f"s{n}"))
        for n in range(6)
    ]
    await settle()
    assert len(store.started) == ops.rows.at_once == 2  # the other four rows wait their turn
    for _ in range(12):  # six requested, six diagnosed
        store.release()
        await settle()
    await asyncio.gather(*flood)
    assert store.most_at_once == 2 and len(store.started) == 12
    kinds = defaultdict(list)
    for row in store.started:
        kinds[row.correlation_id].append(row.kind)
    assert list(kinds.values()) == [["requested", "diagnosed"]] * 6


class Params(HostParams):
    container: str = "shop_db"


async def plan(view: ReadOnlyHost, params: Params) -> Plan:
    raise AssertionError("the plan the person saw is given: nothing is planned again")


async def apply(session: HostSession, params: Params, plan: Plan) -> list[StepOutcome]:
    return []


ACTION = Action(
    name="test.restart",
    summary="Restart a container (test double).",
    params=Params,
    risk=Risk.CHANGE,
    verifies=(),
    plan=plan,
    apply=apply,
    remaining=lambda findings, params: [],
)
PLAN = Plan(action="test.restart", target={"container": "shop_db"}, destructive=False)


async def test_rows_before_a_change_never_wait_behind_read_only_ones(tmp_path: Path) -> None:
    store = SlowStore()
    ops = Operations(
        INVENTORY, trail=trail_of(tmp_path, store), lock_dir=tmp_path, transport=OpenTransport()
    )
    ops.__dict__["actions"] = {ACTION.name: ACTION}  # the test action, not the catalogue
    flood = [
        asyncio.ensure_future(ops.deny(Requester(f"U{n}", "slack"), "prod", "diagnose", "no"))
        for n in range(4)
    ]
    await settle()
    assert [r.kind for r in store.started] == ["denied", "denied"]  # two of four
    propose = ops.propose_fix(
        Requester("UALICE", "slack"),
        "prod",
        ACTION.name,
        {"host": "web1"},
        authorised={"by": "UALICE", "rule": "operator"},
        plan=PLAN,
    )
    fix = asyncio.ensure_future(propose)
    await settle()
    assert store.started[-1].actor == "UALICE"  # its durable row went straight in
    assert store.started[-1].kind == "requested" and len(store.started) == 3
    store.release(20)
    await asyncio.gather(fix, *flood)
