"""A fix leaves its whole story in the audit trail, with the plan and the outcome; no secret."""

from __future__ import annotations

import psycopg
import pytest

from bot.framework.executor import PlanStale, execute, plan_action
from bot.stores.audit.store import AuditStore, RowFilter
from bot.stores.audit.trail import AuditTrail
from tests.audit.support import ACTION, INVENTORY, PLANTED, FakeTransport, Params, no_findings

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]


async def run_fix(trail: AuditTrail, tmp_lock: str, *, stale: bool = False) -> str:
    """What ``stackbot fix --yes`` does, with the fake transport: returns the correlation id."""
    transport = FakeTransport()
    params = Params(host="web1", container="shop_db")
    audit = trail.request(actor="alice", surface="cli", environment="prod", action=ACTION.name)
    await audit.record("requested", {"params": {"host": "web1", "password": PLANTED}}, durable=True)
    await audit.record("authorised", {"by": "alice", "rule": "cli"}, durable=True)
    plan = await plan_action(transport, INVENTORY, "prod", ACTION, params)
    if stale:
        plan = plan.model_copy(update={"before": {"state": "running"}})
    await audit.record("planned", {"plan": plan.model_dump(mode="json")}, durable=True)
    await audit.record("confirmed", {"by": "alice", "how": "--yes"}, durable=True)
    from pathlib import Path

    await execute(
        transport,
        INVENTORY,
        "prod",
        ACTION,
        params,
        confirmed=plan,
        actor="alice",
        lock_dir=Path(tmp_lock),
        diagnose=no_findings,
        audit=audit,
    )
    return str(audit.correlation_id)


async def test_a_fix_leaves_every_row_with_plan_and_outcome(
    trail: AuditTrail, store: AuditStore, tmp_path: object
) -> None:
    correlation = await run_fix(trail, str(tmp_path))
    rows = await store.story(correlation)
    assert [r.kind for r in rows] == [
        "requested",
        "authorised",
        "planned",
        "confirmed",
        "started",
        "finished",
        "post_checked",
    ]
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert {(r.actor, r.environment, r.action) for r in rows} == {("alice", "prod", "test.restart")}
    planned, finished, post = rows[2], rows[5], rows[6]
    assert planned.details["plan"]["steps"][0]["description"] == "restart shop_db"
    assert rows[4].host == "web1" and rows[4].target == {"container": "shop_db"}
    assert finished.details["status"] == "applied" and finished.details["changed"] is True
    assert finished.details["outcomes"][0]["ok"] is True
    assert finished.details["snapshots"] == []  # a restart archives nothing
    assert len(finished.details["output_sha256"]) == 64 and finished.details["duration"] >= 0
    assert post.details == {"checked": ["container.down"], "cleared": True, "remaining": []}
    assert (await store.verify()).intact


async def test_a_stale_plan_is_recorded_as_refused_and_nothing_starts(
    trail: AuditTrail, store: AuditStore, tmp_path: object
) -> None:
    with pytest.raises(PlanStale):
        await run_fix(trail, str(tmp_path), stale=True)
    rows = await store.rows(RowFilter(action="test.restart"))
    assert [r.kind for r in rows][-2:] == ["confirmed", "finished"]
    assert rows[-1].details["status"] == "refused" and "started" not in [r.kind for r in rows]


async def test_no_planted_secret_in_any_audit_row(
    trail: AuditTrail, store: AuditStore, conninfo: str, tmp_path: object
) -> None:
    await run_fix(trail, str(tmp_path))
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cur = await conn.execute("SELECT row_to_json(a)::text FROM audit_log a")
        dumped = "\n".join(r[0] for r in await cur.fetchall())
    assert "test.restart" in dumped and "***" in dumped
    assert PLANTED not in dumped


async def test_a_second_action_on_the_environment_is_refused_naming_the_holder(
    trail: AuditTrail, store: AuditStore
) -> None:
    from bot.framework.envlock import EnvironmentBusy
    from bot.stores.audit.lock import advisory_environment_lock

    async with advisory_environment_lock(store, "prod", holder="alice", what="restart on web1"):
        with pytest.raises(EnvironmentBusy, match="restart on web1 by alice"):
            async with advisory_environment_lock(store, "prod", holder="bob", what="x", wait=0.3):
                pass
        async with advisory_environment_lock(store, "staging", holder="bob", what="y", wait=0.3):
            pass  # another environment is free
    async with advisory_environment_lock(store, "prod", holder="bob", what="z", wait=0.3):
        pass  # released


async def test_a_fix_refused_because_the_environment_is_busy_ends_its_story(
    trail: AuditTrail, store: AuditStore, tmp_path: object
) -> None:
    """Another action holds the environment's lock: the fix is refused, nothing starts,
    and its rows still end with ``finished`` (refused), naming the holder."""
    from pathlib import Path

    from bot.framework.envlock import EnvironmentBusy, environment_lock
    from bot.operations.requester import Requester
    from bot.operations.service import Operations

    lock_dir = Path(str(tmp_path))
    ops = Operations(INVENTORY, trail=trail, lock_dir=lock_dir, transport=FakeTransport())
    ops.__dict__["actions"] = {ACTION.name: ACTION}  # the test action, not the real catalogue
    who = Requester(actor="bob", surface="cli")
    fix = await ops.propose_fix(
        who, "prod", ACTION.name, {"host": "web1", "container": "shop_db"},
        authorised={"by": "bob", "rule": "cli"},
    )  # fmt: skip
    async with environment_lock(lock_dir, "prod", holder="alice", what="restart on web1"):
        with pytest.raises(EnvironmentBusy, match="restart on web1"):
            await ops.apply_fix(fix, by="bob", how="--yes", lock_wait=0.2)
    assert fix.audit is not None
    rows = await store.story(str(fix.audit.correlation_id))
    kinds = [r.kind for r in rows]
    assert kinds == ["requested", "authorised", "planned", "confirmed", "finished"], kinds
    assert rows[-1].details["status"] == "refused" and rows[-1].details["changed"] is False
    assert rows[-1].details["error"] == "action.environment_busy"
    assert "alice" in rows[-1].details["message"]
