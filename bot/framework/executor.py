"""Runs actions the way they must run: the framework, not each action, enforces it.

``plan_action``: the plan, from a read-only view of the host.
``execute``: under the environment's lock, plan again; refuse when the plan
the person confirmed is not the plan of now (``PlanStale``, saying what
changed); apply; then diagnose again and report whether the findings the
action was meant to clear are gone.

With an ``audit`` request, ``execute`` records ``started`` (durable: when it
cannot be written, nothing is applied and ``AuditUnavailable`` says why),
``finished`` (status, outcomes, duration, ``changed``, a redacted output
excerpt and the digest of the whole redacted output) and ``post_checked``; the
environment lock is then a Postgres advisory lock, held across replicas.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

from bot.framework.action import Action, ActionResult, Plan, PostCheck, ReadOnlyHost, StepOutcome
from bot.framework.engine import environment_hosts
from bot.framework.envlock import environment_lock
from bot.framework.session import HostSession
from bot.inventory.config.models import Inventory, ResolvedHost
from bot.inventory.ownership import check_owned
from bot.model.errors import NotOwned, StackbotError
from bot.model.findings import Finding
from bot.redaction.redact import redact_text
from bot.stores.audit.lock import advisory_environment_lock
from bot.stores.audit.trail import AuditRequest

Diagnose = Callable[[HostSession], Awaitable[list[Finding]]]
EXCERPT_CHARS = 2000


class Sessions(Protocol):
    """What the executor needs of a transport: a session per host."""

    def session(self, host: ResolvedHost) -> AbstractAsyncContextManager[HostSession]: ...


class PlanStale(StackbotError):
    """The world changed between the plan that was confirmed and the moment to apply it."""

    code = "action.plan_stale"
    exit_status = 5


def action_host(inventory: Inventory, env: str, params: Any) -> ResolvedHost:
    (host,) = environment_hosts(inventory, env, [params.host])
    return host


async def plan_action(
    transport: Sessions,
    inventory: Inventory,
    env: str,
    action: Action[Any],
    params: Any,
    *,
    audit: AuditRequest | None = None,
) -> Plan:
    """The plan of ``action`` now; ``NotOwned`` (audited in both environments when
    ``audit`` is given) when its target is not ``env``'s."""
    started = time.monotonic()
    host = action_host(inventory, env, params)
    async with transport.session(host) as session:
        view = ReadOnlyHost(session)
        plan = await action.plan(view, params)
        try:
            await check_owned(view, action.name, plan.target)
        except NotOwned as exc:
            if audit is not None:
                audit.host, audit.target = host.name, dict(plan.target)
            await _record_not_owned(audit, exc, plan, started)
            raise
        return plan


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
    transport: Sessions,
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
    audit: AuditRequest | None = None,
) -> ActionResult:
    """Plan again, compare with ``confirmed`` (None: no confirmation was shown), apply, verify."""
    host = action_host(inventory, env, params)
    started = time.monotonic()
    what = f"{action.name} on {host.name}"
    # This machine's file lock always; the audit database's advisory lock as well when
    # there is one, so replicas on other machines wait for each other too.
    locks = [environment_lock(lock_dir, env, holder=actor, what=what, wait=lock_wait)]
    if audit is not None and audit.trail.store is not None:
        locks.append(
            advisory_environment_lock(
                audit.trail.store, env, holder=actor, what=what, wait=lock_wait
            )
        )
    async with AsyncExitStack() as held:
        for lock in locks:
            await held.enter_async_context(lock)
        return await _locked(
            transport, inventory, env, action, params, host, started,
            confirmed=confirmed, diagnose=diagnose, audit=audit,
        )  # fmt: skip


async def _locked(
    transport: Sessions,
    inventory: Inventory,
    env: str,
    action: Action[Any],
    params: Any,
    host: ResolvedHost,
    started: float,
    *,
    confirmed: Plan | None,
    diagnose: Diagnose | None,
    audit: AuditRequest | None,
) -> ActionResult:
    async with transport.session(host) as session:
        view = ReadOnlyHost(session)
        fresh = await action.plan(view, params)
        if audit is not None:
            audit.host, audit.target = host.name, dict(fresh.target)
        try:
            await check_owned(view, action.name, fresh.target)
        except NotOwned as exc:
            await _record_not_owned(audit, exc, fresh, started)
            raise
        base = {
            "action": action.name,
            "environment": env,
            "host": host.name,
            "target": fresh.target,
            "plan": fresh,
        }
        if confirmed is not None and fresh.fingerprint != confirmed.fingerprint:
            stale = PlanStale(
                f"{action.name} was not applied: the host changed since the plan was shown "
                f"({describe_change(confirmed, fresh)}); nothing was run"
            )
            await _record_early(audit, "refused", stale.message, fresh, started)
            raise stale
        if fresh.refusal:
            result = ActionResult(
                **base,
                changed=False,
                status="refused",
                message=fresh.refusal,
                duration=time.monotonic() - started,
            )
            await _record_early(audit, result.status, result.message, fresh, started)
            return result
        if fresh.empty:
            result = ActionResult(
                **base,
                changed=False,
                status="nothing to do",
                message="already in the wanted state",
                duration=time.monotonic() - started,
            )
            await _record_early(audit, result.status, result.message, fresh, started)
            return result
        if audit is not None:
            await audit.record(
                "started",
                {"fingerprint": fresh.fingerprint, "steps": [s.call for s in fresh.steps]},
                durable=True,
            )
        try:
            outcomes = await action.apply(session, params, fresh)
        except Exception as exc:
            if audit is not None:
                await audit.record(
                    "finished",
                    {
                        "status": "failed",
                        "changed": None,
                        "error": f"{type(exc).__name__}: {exc}",
                        "duration": round(time.monotonic() - started, 3),
                    },
                )
            raise
        failed = [o for o in outcomes if not o.ok]
        status = "failed" if failed else "applied"
        changed = any(o.ok for o in outcomes)
        if audit is not None:
            await audit.record(
                "finished", _finished(status, changed, outcomes, time.monotonic() - started)
            )
        post = None
        # A failed apply is never checked for a cure: it says what failed, not what is gone.
        if diagnose is not None and action.verifies and status == "applied":
            remaining = action.remaining(await diagnose(session), params)
            post = PostCheck(
                checked=action.verifies, cleared=not remaining, remaining=tuple(remaining)
            )
            if audit is not None:
                await audit.record(
                    "post_checked",
                    {
                        "checked": list(post.checked),
                        "cleared": post.cleared,
                        "remaining": [{"code": f.code, "id": f.id} for f in remaining],
                    },
                )
        return ActionResult(
            **base,
            changed=changed,
            outcomes=outcomes,
            post_check=post,
            status=status,
            message=failed[0].detail if failed else "",
            duration=time.monotonic() - started,
        )


async def _record_not_owned(
    audit: AuditRequest | None, exc: NotOwned, plan: Plan, started: float
) -> None:
    """A refusal for another environment's target lands in both environments' trails."""
    await _record_early(audit, "refused", exc.message, plan, started)
    if audit is None or exc.owner is None or exc.owner == audit.environment:
        return
    other = audit.trail.request(
        actor=audit.actor,
        surface=audit.surface,
        environment=exc.owner,
        action=audit.action,
        host=audit.host,
        target=audit.target,
    )
    await other.record(
        "denied",
        {
            "reason": exc.message,
            "requested_in": audit.environment,
            "request": str(audit.correlation_id),
        },
    )


async def _record_early(
    audit: AuditRequest | None, status: str, message: str, plan: Plan, started: float
) -> None:
    """``finished`` for a run that applied nothing (refused, stale, nothing to do)."""
    if audit is not None:
        await audit.record(
            "finished",
            {
                "status": status,
                "changed": False,
                "message": message,
                "fingerprint": plan.fingerprint,
                "duration": round(time.monotonic() - started, 3),
            },
        )


def _finished(
    status: str, changed: bool, outcomes: list[StepOutcome], duration: float
) -> dict[str, Any]:
    output = redact_text("\n".join(f"{o.step}: {o.detail}" for o in outcomes if o.detail))
    return {
        "status": status,
        "changed": changed,
        "duration": round(duration, 3),
        "outcomes": [{"step": o.step, "ok": o.ok, "detail": o.detail} for o in outcomes],
        # every archive taken, as data: what the "Restore this snapshot" button restores
        "snapshots": [o.snapshot.model_dump(mode="json") for o in outcomes if o.snapshot],
        "output_excerpt": output[:EXCERPT_CHARS],
        "output_sha256": hashlib.sha256(output.encode()).hexdigest(),
        "output_chars": len(output),
    }
