"""Pending actions on a real Postgres: single-use claims, expiry, approval by a second person."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import psycopg
import pytest

from bot.framework.action import Plan, Step
from bot.stores.audit.migrations import STEPS
from bot.stores.audit.store import AuditStore
from bot.stores.pending import (
    PendingActions,
    PendingAlreadyClaimed,
    PendingAwaitingApproval,
    PendingDenied,
    PendingError,
    PendingExpired,
    PendingNeedsApproval,
    PendingNotFound,
    PendingWrongState,
    SelfApproval,
    Status,
)

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]

SECRET = "s3cret-Pl4nted-value"
PLAN = Plan(
    action="container.restart",
    target={"container": "shop_db"},
    destructive=True,
    steps=(Step(description="restart shop_db", call="POST /containers/shop_db/restart"),),
    before={"state": "exited", "env": {"DB_PASSWORD": SECRET}},
    after={"state": "running"},
)


@pytest.fixture
async def pending(store: AuditStore) -> AsyncIterator[PendingActions]:
    yield PendingActions(store)


async def make(pending: PendingActions, **overrides: object) -> uuid.UUID:
    fields: dict[str, object] = {
        "environment": "prod",
        "host": "web1",
        "action": "container.restart",
        "params": {"host": "web1", "container": "shop_db"},
        "plan": PLAN,
        "requester": "U0ALICE",
        "finding_id": "f-123",
        "channel": "C0OPS",
        "message_ts": "1700000000.000100",
    }
    fields.update(overrides)
    created = await pending.create(**fields)  # type: ignore[arg-type]
    return created.id


async def test_create_stores_everything_and_the_schema_step(
    pending: PendingActions, conninfo: str
) -> None:
    correlation = uuid.uuid4()
    row = await pending.create(
        environment="prod",
        host="web1",
        action="container.restart",
        params={"host": "web1", "container": "shop_db"},
        plan=PLAN,
        requester="U0ALICE",
        finding_id="f-123",
        channel="C0OPS",
        message_ts="1700000000.000100",
        correlation_id=correlation,
    )
    assert row.status is Status.PENDING and not row.needs_approval and row.destructive
    assert row.params == {"host": "web1", "container": "shop_db"}
    assert row.plan_fingerprint == PLAN.fingerprint
    assert row.plan.steps == PLAN.steps and row.plan.target == PLAN.target
    assert SECRET not in row.plan.model_dump_json()  # stored redacted
    assert row.correlation_id == correlation
    lifetime = row.expires_at - row.created_at
    assert timedelta(minutes=14, seconds=59) < lifetime <= timedelta(minutes=15)
    assert await pending.get(row.id) == row
    assert await pending.get(str(row.id)) == row
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cur = await conn.execute("SELECT max(version) FROM stackbot_schema_version")
        assert (await cur.fetchone()) == (len(STEPS),)


async def test_claim_once_then_refused_naming_the_first_claimer(pending: PendingActions) -> None:
    ident = await make(pending)
    claimed = await pending.claim(ident, "U0BOB")
    assert claimed.status is Status.CLAIMED and claimed.claimed_by == "U0BOB"
    assert claimed.claimed_at is not None
    with pytest.raises(PendingAlreadyClaimed, match="already claimed by U0BOB at ") as info:
        await pending.claim(ident, "U0CAROL")
    assert info.value.code == "pending.already_claimed"
    assert info.value.pending is not None and info.value.pending.claimed_by == "U0BOB"
    # the same user clicking twice (a Slack retry) is refused too
    with pytest.raises(PendingAlreadyClaimed):
        await pending.claim(ident, "U0BOB")
    done = await pending.finish(ident, "done", {"status": "applied", "token": SECRET})
    assert done.status is Status.DONE and done.finished_at is not None
    assert done.result == {"status": "applied", "token": "***"}
    with pytest.raises(PendingAlreadyClaimed, match="it has finished: done"):
        await pending.claim(ident, "U0CAROL")
    with pytest.raises(PendingWrongState, match=r"already finished \(done\)"):
        await pending.finish(ident, "failed", {})


async def test_twenty_concurrent_claims_over_separate_connections(
    pending: PendingActions, conninfo: str
) -> None:
    """Twenty replicas, each with a pool of its own, get the same click: one wins."""
    ident = await make(pending)
    async with AsyncExitStack() as stack:
        replicas = [
            PendingActions(await stack.enter_async_context(AuditStore(conninfo, timeout=10)))
            for _ in range(20)
        ]
        # warm every pool first so the claims really race
        await asyncio.gather(*(r.get(ident) for r in replicas))
        results = await asyncio.gather(
            *(r.claim(ident, f"U0USER{i}") for i, r in enumerate(replicas)),
            return_exceptions=True,
        )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert len(losers) == 19 and all(isinstance(e, PendingAlreadyClaimed) for e in losers)
    winner = winners[0].claimed_by
    assert all(f"already claimed by {winner}" in str(e) for e in losers)
    assert (await pending.get(ident)).claimed_by == winner


async def test_expired_is_refused_and_expire_old_marks_it(pending: PendingActions) -> None:
    ident = await make(pending, ttl=timedelta(milliseconds=200))
    keep = await make(pending)
    await asyncio.sleep(0.3)
    with pytest.raises(PendingExpired, match=r"expired at .* UTC; run the command again"):
        await pending.claim(ident, "U0BOB")
    with pytest.raises(PendingExpired):
        await pending.deny(ident, "U0BOB")
    expired = await pending.expire_old()
    assert [p.id for p in expired] == [ident] and expired[0].status is Status.EXPIRED
    assert await pending.expire_old() == []
    with pytest.raises(PendingExpired):
        await pending.claim(ident, "U0BOB")
    assert (await pending.get(keep)).status is Status.PENDING
    with pytest.raises(ValueError, match="ttl"):
        await make(pending, ttl=timedelta(0))


async def test_approval_by_a_second_person(pending: PendingActions) -> None:
    ident = await make(pending, needs_approval=True)
    with pytest.raises(PendingNeedsApproval, match="approval first"):
        await pending.claim(ident, "U0ALICE")
    with pytest.raises(PendingWrongState, match="approval was not requested"):
        await pending.approve(ident, "U0BOSS")
    asked = await pending.request_approval(ident, "U0ALICE")
    assert asked.status is Status.AWAITING_APPROVAL and asked.approval_requested_by == "U0ALICE"
    with pytest.raises(PendingAwaitingApproval, match="requested by U0ALICE"):
        await pending.request_approval(ident, "U0ALICE")
    with pytest.raises(PendingAwaitingApproval, match="awaiting approval"):
        await pending.claim(ident, "U0ALICE")
    with pytest.raises(SelfApproval, match="cannot approve your own request") as info:
        await pending.approve(ident, "U0ALICE")
    assert info.value.code == "pending.self_approval"
    assert (await pending.get(ident)).status is Status.AWAITING_APPROVAL
    approved = await pending.approve(ident, "U0BOSS")
    assert approved.status is Status.APPROVED and approved.approver == "U0BOSS"
    with pytest.raises(PendingWrongState, match="already approved by U0BOSS"):
        await pending.approve(ident, "U0OTHER")
    with pytest.raises(PendingWrongState):
        await pending.deny(ident, "U0OTHER")
    claimed = await pending.claim(ident, "U0BOSS")
    assert claimed.status is Status.CLAIMED and claimed.claimed_by == "U0BOSS"
    with pytest.raises(PendingAlreadyClaimed):
        await pending.claim(ident, "U0ALICE")


async def test_concurrent_approvals_one_wins(pending: PendingActions) -> None:
    ident = await make(pending, needs_approval=True)
    await pending.request_approval(ident, "U0ALICE")
    results = await asyncio.gather(
        pending.approve(ident, "U0BOSS"), pending.approve(ident, "U0CHIEF"), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, PendingWrongState) for r in results if isinstance(r, BaseException))


async def test_approval_expires(pending: PendingActions) -> None:
    ident = await make(pending, needs_approval=True)
    await pending.request_approval(ident, "U0ALICE", ttl=timedelta(milliseconds=200))
    await asyncio.sleep(0.3)
    with pytest.raises(PendingExpired):
        await pending.approve(ident, "U0BOSS")
    assert [p.id for p in await pending.expire_old()] == [ident]


async def test_request_approval_only_when_needed(pending: PendingActions) -> None:
    ident = await make(pending)
    with pytest.raises(PendingWrongState, match="needs no approval"):
        await pending.request_approval(ident, "U0ALICE")


async def test_deny(pending: PendingActions) -> None:
    ident = await make(pending, needs_approval=True)
    await pending.request_approval(ident, "U0ALICE")
    denied = await pending.deny(ident, "U0BOSS")
    assert denied.status is Status.DENIED and denied.denied_by == "U0BOSS"
    for attempt in (
        pending.claim(ident, "U0ALICE"),
        pending.approve(ident, "U0CHIEF"),
        pending.deny(ident, "U0CHIEF"),
    ):
        with pytest.raises(PendingDenied, match="denied by U0BOSS at "):
            await attempt
    # a pending action (no approval asked) can be denied too: the button is withdrawn
    other = await make(pending)
    assert (await pending.deny(other, "U0ALICE")).status is Status.DENIED


async def test_unknown_id(pending: PendingActions) -> None:
    for ident in (uuid.uuid4(), str(uuid.uuid4()), "not-a-uuid", "<script>"):
        for attempt in (
            pending.get(ident),
            pending.claim(ident, "U0BOB"),
            pending.request_approval(ident, "U0BOB"),
            pending.approve(ident, "U0BOB"),
            pending.deny(ident, "U0BOB"),
            pending.finish(ident, "done"),
            pending.attach_message(ident, "C0", "1.2"),
        ):
            with pytest.raises(PendingNotFound, match="unknown action") as info:
                await attempt
            assert info.value.code == "pending.unknown" and info.value.pending is None
            assert isinstance(info.value, PendingError)


async def test_attach_message_and_on_message(pending: PendingActions) -> None:
    first = await make(pending, channel=None, message_ts=None)
    second = await make(pending, channel=None, message_ts=None)
    await make(pending, channel="C0OTHER", message_ts="9.9")
    for ident in (first, second):
        attached = await pending.attach_message(ident, "C0OPS", "1700000001.000200")
        assert (attached.channel, attached.message_ts) == ("C0OPS", "1700000001.000200")
    found = await pending.on_message("C0OPS", "1700000001.000200")
    assert {p.id for p in found} == {first, second}
