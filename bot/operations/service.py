"""``Operations``: diagnose, report, propose and apply a fix, for any front end.

One object per process (``serve``) or command (the CLI), holding the one
transport every request shares (its SSH pool: connections reused, closed by
the idle reaper), the audit trail and the lock directory. Every method takes
the ``Requester`` and writes the request's audit rows; the front ends parse
and render only. See ``bot/operations/__init__.py`` for the rows.

Under load: identical diagnoses (and identical button plans) in flight at once
share one run (``coalesce.py``; each request still writes its own rows, a
shared one naming the run's owner in ``shared_with``), every run takes a slot
of its environment first (``limits.py``), and read-only requests' rows are
written a few at a time (``rows.py``), so a flood queues.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel

from bot.framework.action import Action, ActionResult, Plan
from bot.framework.engine import environment_hosts, run_runbook
from bot.framework.envlock import EnvironmentBusy, default_lock_dir
from bot.framework.executor import Sessions, execute, plan_action
from bot.inventory.config.models import Inventory
from bot.model.diagnosis import DiagnosisReport, build_report
from bot.model.errors import HostError, TargetGone, UsageError
from bot.model.outcome import RunOutcome
from bot.operations.coalesce import HostDone, SharedRuns
from bot.operations.fixes import REPORT_FIXES, FixRequest, post_check_findings, record
from bot.operations.limits import RUNS_PER_ENVIRONMENT, EnvironmentLimits
from bot.operations.params import validated
from bot.operations.reports import report_spec
from bot.operations.requester import Requester
from bot.operations.rows import RowQueue
from bot.stores.audit.trail import AuditRequest, AuditTrail
from bot.transport import Transport
from runbooks import load_actions, load_runbook


class Operations:
    """The workflows under every front end. ``transport``: the one every request shares
    (``serve``, the watcher's loop, one CLI command). Without it each operation opens a
    transport of its own and closes it when done (a library caller, a test).
    ``runs_per_environment``: how many runs (runbooks, button plans) of one environment
    go at once; the others wait their turn."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        trail: AuditTrail | None,
        lock_dir: Path | None = None,
        transport: Sessions | None = None,
        runs_per_environment: int = RUNS_PER_ENVIRONMENT,
    ) -> None:
        self.inventory = inventory
        self.trail = trail
        self.lock_dir = lock_dir or (
            inventory.data_dir / "locks" if inventory.data_dir else default_lock_dir()
        )
        self.transport = transport
        self.limits = EnvironmentLimits(runs_per_environment)
        self._diagnoses: SharedRuns[DiagnosisReport] = SharedRuns()
        self._plans: SharedRuns[Plan] = SharedRuns()
        # fixes applied (or tried) per environment: a run from before one is never shared
        # with a request made after it (the report after a fix must see the fix)
        self._changes: Counter[str] = Counter()
        self.rows = RowQueue()  # read-only requests' rows: a flood's wait in order

    @asynccontextmanager
    async def _sessions(self) -> AsyncIterator[Sessions]:
        """The shared transport, else one for this operation only."""
        if self.transport is not None:
            yield self.transport
            return
        async with Transport(self.inventory.ssh) as transport:
            yield transport

    @cached_property
    def actions(self) -> dict[str, Action[Any]]:
        return load_actions()

    def _request(self, who: Requester, env: str, action: str, **where: Any) -> AuditRequest | None:
        if self.trail is None:
            return None
        return self.trail.request(
            actor=who.actor, surface=who.surface, environment=env, action=action, **where
        )

    async def _run(
        self,
        env: str,
        name: str,
        params: BaseModel,
        hosts: Sequence[str],
        on_host_done: HostDone | None = None,
    ) -> RunOutcome[Any]:
        async with self.limits.slot(env), self._sessions() as transport:
            # bot.framework.engine asks a transport for sessions only; any ``Sessions`` serves
            return await run_runbook(
                cast(Transport, transport),
                self.inventory,
                env,
                load_runbook(name),
                params,
                only_hosts=hosts,
                on_host_done=on_host_done,
            )

    # --- read-only ----------------------------------------------------------------------

    async def diagnose(
        self,
        who: Requester,
        env: str,
        *,
        stack: str | None = None,
        hosts: Sequence[str] = (),
        deadline: float = 60.0,
        on_host_done: HostDone | None = None,
    ) -> DiagnosisReport:
        """Rows: ``requested`` (hosts) → ``diagnosed`` (verdict, counts, codes, finding ids;
        ``shared_with``: the correlation id of the request whose run this one shared).

        A diagnosis of the same hosts, stack and deadline already in flight is joined
        (``coalesce.py``) unless a fix of the environment ended since it started."""
        params = validated(load_runbook("diagnose").params, {"stack": stack, "deadline": deadline})
        resolved = environment_hosts(self.inventory, env, hosts)
        request = self._request(who, env, "diagnose", stack=stack)
        await self.rows.record(request, "requested", {"hosts": [h.name for h in resolved]})
        key = (env, stack, tuple(h.name for h in resolved), deadline, self._changes[env])

        async def run(host_done: HostDone) -> DiagnosisReport:
            return build_report(await self._run(env, "diagnose", params, hosts, host_done))

        owner = str(request.correlation_id) if request is not None else None
        shared = await self._diagnoses.run(key, run, owner=owner, on_host_done=on_host_done)
        report = shared.result
        details: dict[str, Any] = {
            "verdict": str(report.verdict),
            "counts": report.counts,
            "codes": sorted({f.code for f in report.findings}),
            "findings": [f.id for f in report.findings],
            "unreached": [h.host for h in report.hosts if not h.reached],
            "duration": round(report.duration, 3),
        }
        if shared.shared_with is not None:
            details["shared_with"] = shared.shared_with
        await self.rows.record(request, "diagnosed", details)
        return report

    async def report(
        self, who: Requester, name: str, env: str, given: Mapping[str, Any] | None = None,
        *, hosts: Sequence[str] = (),
    ) -> RunOutcome[Any]:  # fmt: skip
        """Any report runbook. Rows: ``requested`` (params, hosts) → ``finished`` (reported)."""
        spec = report_spec(name)
        params = spec.validate(dict(given or {}))
        resolved = environment_hosts(self.inventory, env, hosts)
        request = self._request(who, env, name)
        await self.rows.record(
            request,
            "requested",
            {
                "params": params.model_dump(mode="json", exclude_defaults=True),
                "hosts": [h.name for h in resolved],
                "read_only": True,
            },
        )
        outcome = await self._run(env, name, params, hosts)
        await self.rows.record(
            request,
            "finished",
            {
                "status": "reported",
                "changed": False,
                "failed": [h.host for h in outcome.failed],
                "duration": round(outcome.duration, 3),
            },
        )
        return outcome

    async def deny(self, who: Requester, env: str, what: str, reason: str) -> None:
        """A refusal (no role, not allowed): one ``denied`` row."""
        await self.rows.record(self._request(who, env, what), "denied", {"reason": reason})

    # --- fixes --------------------------------------------------------------------------

    async def find_fix(self, env: str, finding_id: str) -> tuple[str, dict[str, str]]:
        """The fix ``diagnose`` proposes for a finding now: (action name, params)."""
        outcome = await self._run(env, "diagnose", load_runbook("diagnose").params(), ())
        finding = next((f for f in build_report(outcome).findings if f.id == finding_id), None)
        if finding is None:
            raise TargetGone(
                f"no finding {finding_id} in {env} now (it may be fixed already); "
                f"run `stackbot diagnose {env}` for the current ids"
            )
        known = {*self.actions, *REPORT_FIXES}
        fix = next((f for f in finding.fixes if f.action in known), None)
        if fix is None:
            raise UsageError(f"finding {finding_id} ({finding.code}) has no fix stackbot can apply")
        params = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in fix.params.items()}
        return fix.action, params

    def action(self, name: str) -> Action[Any]:
        if name not in self.actions:
            known = ", ".join(sorted([*self.actions, *REPORT_FIXES]))
            raise UsageError(f"unknown action {name!r} (actions: {known})")
        return self.actions[name]

    async def plan_fix(self, env: str, name: str, given: Mapping[str, Any]) -> Plan:
        """A plan to show (a Slack button's), no rows: the request starts when it is used.
        The same plan asked for while one is being made is that one (``coalesce.py``)."""
        action = self.action(name)
        params = validated(action.params, dict(given))
        shape = json.dumps(params.model_dump(mode="json"), sort_keys=True)
        key = (env, name, shape, self._changes[env])

        async def run(_: HostDone) -> Plan:
            async with self.limits.slot(env), self._sessions() as transport:
                return await plan_action(transport, self.inventory, env, action, params)

        return (await self._plans.run(key, run)).result

    async def propose_fix(
        self,
        who: Requester,
        env: str,
        name: str,
        given: Mapping[str, Any],
        *,
        authorised: Mapping[str, Any],
        plan: Plan | None = None,
        dry_run: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> FixRequest:
        """Plan the fix now (or take ``plan``, the one the person saw) and record
        ``requested``, ``authorised`` (``authorised``: who and by which rule), ``planned``;
        and ``finished`` when there is nothing to apply (``FixRequest.settled``)."""
        action = self.action(name)
        params = validated(action.params, dict(given))
        audit = self._request(who, env, name, host=params.host)
        durable = not dry_run  # rows before a change must be in the database
        requested = {
            "params": dict(given),
            "destructive": action.destructive,
            "dry_run": dry_run,
            **(context or {}),
        }
        async with _failures_recorded(audit):
            await record(audit, "requested", requested, durable=durable)
            await record(audit, "authorised", dict(authorised), durable=durable)
            if plan is None:
                async with self._sessions() as transport:
                    plan = await plan_action(
                        transport, self.inventory, env, action, params, audit=audit
                    )
            if audit is not None:
                audit.target = dict(plan.target)
            planned = {"plan": plan.model_dump(mode="json"), "fingerprint": plan.fingerprint}
            await record(audit, "planned", planned, durable=durable)
            fix = FixRequest(action, params, env, plan, who.actor, audit, dry_run)
            if fix.settled:
                status, message = fix.early_status()
                await record(
                    audit, "finished", {"status": status, "changed": False, "message": message}
                )
        return fix

    async def decline(self, fix: FixRequest, *, by: str, reason: str) -> None:
        """The person did not confirm: ``denied``."""
        await record(fix.audit, "denied", {"by": by, "reason": reason})

    async def apply_fix(
        self, fix: FixRequest, *, by: str, how: str, lock_wait: float = 10.0
    ) -> ActionResult:
        """``confirmed`` (durable), then under the environment's lock the executor re-plans
        (``PlanStale`` when the host changed), applies and runs the post-check."""
        try:
            return await self._apply(fix, by=by, how=how, lock_wait=lock_wait)
        finally:  # what was read before now may be out of date: no run from before is shared
            self._changes[fix.environment] += 1

    async def _apply(self, fix: FixRequest, *, by: str, how: str, lock_wait: float) -> ActionResult:
        async with _failures_recorded(fix.audit), self._sessions() as transport:
            await record(fix.audit, "confirmed", {"by": by, "how": how}, durable=True)
            return await execute(
                transport,
                self.inventory,
                fix.environment,
                fix.action,
                fix.params,
                confirmed=fix.plan,
                actor=fix.actor,
                lock_dir=self.lock_dir,
                diagnose=post_check_findings,
                lock_wait=lock_wait,
                audit=fix.audit,
            )


@asynccontextmanager
async def _failures_recorded(audit: AuditRequest | None) -> AsyncIterator[None]:
    """A host that fails mid-request ends the request's rows with ``finished`` (failed);
    an environment busy with another action ends them with ``finished`` (refused)."""
    try:
        yield
    except (HostError, EnvironmentBusy) as exc:
        if audit is not None and audit.last_kind not in (None, "finished", "denied"):
            status = "refused" if isinstance(exc, EnvironmentBusy) else "failed"
            ended = {"status": status, "changed": False if status == "refused" else None}
            await audit.record("finished", {**ended, "error": exc.code, "message": exc.message})
        raise


__all__ = ["Operations"]
