"""Runs actions the way they must run: the framework, not each action, enforces it.

``plan_action``: the plan, from a read-only view of the host.
``execute``: under the environment's lock, plan again; refuse when the plan
the person confirmed is not the plan of now (``PlanStale``, saying what
changed); apply; then diagnose again and report whether the findings the
action was meant to clear are gone.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.action import Action, ActionResult, Plan, PostCheck, ReadOnlyHost
from bot.config.models import Inventory, ResolvedHost
from bot.engine import environment_hosts
from bot.envlock import environment_lock
from bot.errors import StackbotError
from bot.findings import Finding
from bot.session import HostSession
from bot.transport import Transport

Diagnose = Callable[[HostSession], Awaitable[list[Finding]]]


class PlanStale(StackbotError):
    """The world changed between the plan that was confirmed and the moment to apply it."""

    code = "action.plan_stale"
    exit_status = 5


def action_host(inventory: Inventory, env: str, params: Any) -> ResolvedHost:
    (host,) = environment_hosts(inventory, env, [params.host])
    return host


async def plan_action(
    transport: Transport, inventory: Inventory, env: str, action: Action[Any], params: Any
) -> Plan:
    async with transport.session(action_host(inventory, env, params)) as session:
        return await action.plan(ReadOnlyHost(session), params)


def describe_change(confirmed: Plan, fresh: Plan) -> str:
    """What differs between two plans, in words."""
    changes = []
    for key in sorted(set(confirmed.before) | set(fresh.before)):
        old, new = confirmed.before.get(key), fresh.before.get(key)
        if old != new:
            changes.append(f"{key}: {old!r} → {new!r}")
    if fresh.refusal and fresh.refusal != confirmed.refusal:
        changes.append(fresh.refusal)
    if not changes and [s.call for s in confirmed.steps] != [s.call for s in fresh.steps]:
        changes.append(
            f"the steps changed ({len(confirmed.steps)} planned, {len(fresh.steps)} now)"
        )
    return "; ".join(changes) or "the plan changed"


async def execute(
    transport: Transport,
    inventory: Inventory,
    env: str,
    action: Action[Any],
    params: Any,
    *,
    confirmed: Plan | None,
    actor: str,
    lock_dir: Path,
    diagnose: Diagnose | None = None,
    lock_wait: float = 10.0,
) -> ActionResult:
    """Plan again, compare with ``confirmed`` (None: no confirmation was shown), apply, verify."""
    host = action_host(inventory, env, params)
    started = time.monotonic()
    async with (
        environment_lock(
            lock_dir, env, holder=actor, what=f"{action.name} on {host.name}", wait=lock_wait
        ),
        transport.session(host) as session,
    ):
        fresh = await action.plan(ReadOnlyHost(session), params)
        base = {
            "action": action.name,
            "environment": env,
            "host": host.name,
            "target": fresh.target,
            "plan": fresh,
        }
        if confirmed is not None and fresh.fingerprint != confirmed.fingerprint:
            raise PlanStale(
                f"{action.name} was not applied: the host changed since the plan was shown "
                f"({describe_change(confirmed, fresh)}); nothing was run"
            )
        if fresh.refusal:
            return ActionResult(
                **base,
                changed=False,
                status="refused",
                message=fresh.refusal,
                duration=time.monotonic() - started,
            )
        if fresh.empty:
            return ActionResult(
                **base,
                changed=False,
                status="nothing to do",
                message="already in the wanted state",
                duration=time.monotonic() - started,
            )
        outcomes = await action.apply(session, params, fresh)
        failed = [o for o in outcomes if not o.ok]
        post = None
        if diagnose is not None and action.verifies:
            remaining = action.remaining(await diagnose(session), params)
            post = PostCheck(
                checked=action.verifies, cleared=not remaining, remaining=tuple(remaining)
            )
        return ActionResult(
            **base,
            changed=any(o.ok for o in outcomes),
            outcomes=outcomes,
            post_check=post,
            status="failed" if failed else "applied",
            message=failed[0].detail if failed else "",
            duration=time.monotonic() - started,
        )
