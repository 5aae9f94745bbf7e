"""The stability watch after a cure: a fix is called a cure once it has held.

A fix that applied and whose post-check cleared starts a watch (``start``): the
environment is diagnosed again ``checks`` times, evenly over the ``settle``
window (``oncall.cure_watch`` in the inventory; 4 checks over 10 minutes by
default). Each check is cheap: only the host the fix ran on, only its stack,
and it looks only for the findings the fix cleared (its action's
``remaining``, the finding it was clicked for) and for critical findings about
the containers it touched.

- **Holding**: the check is counted; the incident's message says so.
- **Held** (the last check passed): the incident resolves itself ("the cure
  held for 10 min"), unless its alert source still fires or another fix of the
  same incident is still being watched.
- **Broke**: the watch ends; the incident reopens (unacknowledged, its
  escalation starting again at once) with the new evidence, or, for a fix made
  from a report of its own, the findings open incidents as the watcher's would.
- A check that cannot read the host decides nothing: it is tried again shortly.

Every state change is one audit row (``watch_started``, ``watch_held``,
``watch_broke``, ``reopened``, ``resolved``), correlated with the incident
(``audit show`` tells its story) or, without one, with the watch. The watch
knows nothing of Slack: a ``WatchNotifier`` (the Slack incident desk) posts.

Scheduling: rows of ``cure_watches`` (``bot.oncall.cures``), so a restart or
another replica carries a watch on; ``run`` sleeps until the next check is due
(or ``wake`` is set) on the injected clock, and stops promptly when told,
cancelling a check in flight (its lease runs out; the check runs again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from bot.inventory.config.models import CureWatchConfig
from bot.model.diagnosis import DiagnosisReport
from bot.model.findings import Finding, Severity
from bot.oncall.cures import CureStore
from bot.oncall.finding_alert import finding_alert
from bot.oncall.intake import AlertSink
from bot.oncall.models import CureWatch, Incident, IncidentStatus
from bot.oncall.service import OnCall
from bot.oncall.store import IncidentError
from bot.operations import Operations, Requester
from bot.stores.audit.record import Kind
from bot.stores.audit.trail import AuditTrail

_log = logging.getLogger("stackbot.cure_watch")
ACTOR = "cure-watch"  # who resolves and reopens, in the incident and the audit trail
CHECKER = Requester(actor=ACTOR, surface="alert")
LEASE = timedelta(minutes=2)  # a claimed check is someone's for this long
UNREAD_RETRY = timedelta(seconds=30)  # a check that could not read the host runs again then
POLL = timedelta(seconds=30)  # the longest ``run`` sleeps
DEFAULT = CureWatchConfig()
Check = Callable[[CureWatch], Awaitable[DiagnosisReport]]


class Cure(BaseModel):
    """A fix that worked, as a front end hands it over."""

    model_config = ConfigDict(frozen=True)

    environment: str
    host: str
    action: str
    params: dict[str, Any]
    fixed_by: str
    finding_id: str | None = None
    stack: str | None = None  # the compose project of the finding it fixed
    touched: tuple[str, ...] = ()  # containers the fix changed
    incident_id: uuid.UUID | None = None
    channel: str | None = None
    thread_ts: str | None = None  # the thread its notes go to (the incident's root)
    cured_at: datetime | None = None  # when the fix finished (default: when it is handed over)


class Verdict(BaseModel):
    """What one check found, and what followed."""

    model_config = ConfigDict(frozen=True)

    watch: CureWatch
    outcome: Literal["holding", "held", "broke", "unread"]
    incident: Incident | None = None
    broken: list[Finding] = []
    reopened: bool = False
    linked: list[Incident] = []  # incidents the breakage opened (or that carry it on)
    resolved: bool = False  # the incident resolved itself
    kept_open: str | None = None  # why it did not (the alert still fires, another watch)
    page_to_cure: timedelta | None = None
    cure_to_resolved: timedelta | None = None


class WatchNotifier(Protocol):
    async def watch_started(self, watch: CureWatch, incident: Incident | None) -> None:
        """Say the cure is being watched (the incident's message, a note in the thread)."""
        ...

    async def watch_checked(self, verdict: Verdict) -> None:
        """A check's result: holding, held (and resolved or kept open), or broke."""
        ...


def cure_watch_config(operations: Operations, environment: str) -> CureWatchConfig:
    env = operations.inventory.environments.get(environment)
    return env.oncall.cure_watch if env is not None and env.oncall is not None else DEFAULT


class CureWatcher:
    """``check``: how a watch reads its environment (default: the operations' diagnose of
    the fixed host and stack, on their one transport, audited as ``cure-watch``);
    ``sink``: where a breakage without an incident goes (the desk's alert intake)."""

    def __init__(
        self,
        oncall: OnCall,
        store: CureStore,
        operations: Operations,
        *,
        trail: AuditTrail | None,
        sink: AlertSink | None = None,
        check: Check | None = None,
    ) -> None:
        self.oncall = oncall
        self.store = store
        self.operations = operations
        self.trail = trail
        self.sink = sink
        self._check = check
        self.wake = asyncio.Event()

    @property
    def clock(self) -> Any:
        return self.oncall.clock

    def config(self, environment: str) -> CureWatchConfig:
        return cure_watch_config(self.operations, environment)

    # --- a cure in ------------------------------------------------------------------------

    async def start(self, cure: Cure, notifier: WatchNotifier) -> CureWatch:
        """Watch ``cure`` from now over the environment's settle window."""
        config = self.config(cure.environment)
        now = cure.cured_at or self.clock.now()
        watch = await self.store.create(
            environment=cure.environment, host=cure.host, stack=cure.stack, action=cure.action,
            params=cure.params, finding_id=cure.finding_id, touched=cure.touched,
            incident_id=cure.incident_id, fixed_by=cure.fixed_by, channel=cure.channel,
            thread_ts=cure.thread_ts, started_at=now, ends_at=now + config.settle,
            checks=config.checks, first_check_at=now + config.settle / config.checks,
        )  # fmt: skip
        incident = await self._incident(watch)
        page_to_cure = now - incident.opened_at if incident is not None else None
        await self._audit(
            watch, "watch_started",
            {
                "settle_seconds": round(config.settle.total_seconds()),
                "checks": config.checks,
                "touched": list(cure.touched),
                "page_to_cure_seconds": _seconds(page_to_cure),
            },
        )  # fmt: skip
        self.wake.set()
        await _best_effort("announce", watch, notifier.watch_started(watch, incident))
        return watch

    # --- checks ---------------------------------------------------------------------------

    async def run_due(self, notifier: WatchNotifier) -> list[Verdict]:
        """Every check due now, each exactly once across replicas."""
        verdicts = []
        for watch in await self.store.due(self.clock.now()):
            try:
                verdict = await self.check(watch, notifier)
            except Exception:
                _log.exception("cure watch %s: check failed; it runs again later", watch.short_id)
                continue
            if verdict is not None:
                verdicts.append(verdict)
        return verdicts

    async def check(self, watch: CureWatch, notifier: WatchNotifier) -> Verdict | None:
        """Claim the watch's due check and run it (None: not due, or someone else has it)."""
        now = self.clock.now()
        claimed = await self.store.claim(watch, now=now, lease=now + LEASE)
        if claimed is None:
            return None
        report = await self._read(claimed)
        if not all(host.reached for host in report.hosts):
            await self.store.again(claimed, at=self.clock.now() + UNREAD_RETRY)
            return Verdict(watch=claimed, outcome="unread")
        broken = self.broken(claimed, report)
        if broken:
            verdict = await self._broke(claimed, broken)
        elif claimed.checks_done + 1 < claimed.checks_total:
            verdict = await self._holding(claimed)
        else:
            verdict = await self._held(claimed)
        if verdict is not None:
            await _best_effort("report a check of", claimed, notifier.watch_checked(verdict))
        return verdict

    async def _read(self, watch: CureWatch) -> DiagnosisReport:
        if self._check is not None:
            return await self._check(watch)
        return await self.operations.diagnose(
            CHECKER, watch.environment, stack=watch.stack, hosts=[watch.host]
        )

    def broken(self, watch: CureWatch, report: DiagnosisReport) -> list[Finding]:
        """The findings that say the cure did not hold: those the fix cleared are back
        (its action's ``remaining``, the finding it was for), or a critical finding
        about a container it touched."""
        found: dict[str, Finding] = {}
        touched = set(watch.touched)
        for finding in report.findings:
            if finding.id == watch.finding_id or (
                finding.severity is Severity.CRITICAL and finding.subject.container in touched
            ):
                found[finding.id] = finding
        action = self.operations.actions.get(watch.action)
        if action is not None:
            try:
                params = action.params.model_validate(watch.params)
            except ValueError:
                _log.warning("cure watch %s: its fix's parameters no longer parse", watch.short_id)
            else:
                for finding in action.remaining(list(report.findings), params):
                    found[finding.id] = finding
        return list(found.values())

    async def _holding(self, watch: CureWatch) -> Verdict | None:
        number = watch.checks_done + 1
        passed = await self.store.passed(watch, next_check_at=watch.check_at(number + 1))
        if passed is None:
            return None
        await self._audit(
            passed, "watch_held", {"check": number, "of": watch.checks_total, "final": False}
        )
        return Verdict(watch=passed, outcome="holding", incident=await self._incident(passed))

    async def _held(self, watch: CureWatch) -> Verdict | None:
        now = self.clock.now()
        ended = await self.store.finish(watch, "held", now=now, counted=True)
        if ended is None:
            return None
        incident = await self._incident(ended)
        kept_open = None
        resolved = False
        if incident is not None and incident.status is not IncidentStatus.RESOLVED:
            if await self.store.others_watching(ended):
                kept_open = "another fix of this incident is still being watched"
            elif await self.oncall.store.still_firing(incident, since=ended.started_at):
                kept_open = "its alert still fires"
            else:
                try:
                    incident = await self.oncall.store.resolve(incident.id, ACTOR, now)
                    resolved = True
                except IncidentError as exc:  # someone resolved it meanwhile
                    incident = exc.incident or incident
        page_to_cure = ended.started_at - incident.opened_at if incident is not None else None
        cure_to_resolved = now - ended.started_at if resolved else None
        await self._audit(
            ended, "watch_held",
            {
                "check": ended.checks_done, "of": ended.checks_total, "final": True,
                "held_seconds": _seconds(now - ended.started_at), "kept_open": kept_open,
            },
        )  # fmt: skip
        if resolved:
            await self._audit(
                ended, "resolved",
                {
                    "reason": f"the cure held for {_seconds(ended.settle)} s",
                    "page_to_cure_seconds": _seconds(page_to_cure),
                    "cure_to_resolved_seconds": _seconds(cure_to_resolved),
                },
            )  # fmt: skip
        return Verdict(
            watch=ended, outcome="held", incident=incident, resolved=resolved,
            kept_open=kept_open, page_to_cure=page_to_cure, cure_to_resolved=cure_to_resolved,
        )  # fmt: skip

    async def _broke(self, watch: CureWatch, broken: list[Finding]) -> Verdict | None:
        now = self.clock.now()
        evidence = [
            {"code": f.code, "id": f.id, "severity": f.severity.value, "title": f.title[:300]}
            for f in broken
        ]
        ended = await self.store.finish(watch, "broke", now=now, evidence=evidence)
        if ended is None:
            return None
        await self._audit(
            ended, "watch_broke",
            {"check": ended.checks_done + 1, "of": ended.checks_total, "evidence": evidence,
             "after_seconds": _seconds(now - ended.started_at)},
        )  # fmt: skip
        incident = await self._incident(ended)
        reopened = False
        linked: list[Incident] = []
        if incident is not None:
            first_page = now if self.oncall.escalation(incident.environment) else None
            again = await self.oncall.store.reopen(
                incident.id, by=ACTOR, now=now, next_page_at=first_page
            )
            if again is not None:
                incident, reopened = again, True
                await self._audit(ended, "reopened", {"evidence": evidence})
                self.oncall.wake.set()  # its escalation starts again now
            else:  # another incident of its alert is open: that one carries it
                other = await self.oncall.store.unresolved(
                    incident.environment, incident.fingerprint
                )
                linked = [other] if other is not None else []
        else:
            linked = await self._open_incidents(ended, broken)
        return Verdict(
            watch=ended, outcome="broke", incident=incident, broken=broken,
            reopened=reopened, linked=linked,
        )  # fmt: skip

    async def _open_incidents(self, watch: CureWatch, broken: list[Finding]) -> list[Incident]:
        """A fix from a report of its own broke: its findings open incidents (as the
        watcher's would), when the environment has a channel for incidents."""
        env = self.oncall.inventory.environments.get(watch.environment)
        if self.sink is None or env is None or env.slack_channel is None:
            return []
        await self.sink(watch.environment, [finding_alert(f) for f in broken])
        found = [
            await self.oncall.store.unresolved(watch.environment, f"finding:{f.id}") for f in broken
        ]
        return [incident for incident in found if incident is not None]

    async def _incident(self, watch: CureWatch) -> Incident | None:
        if watch.incident_id is None:
            return None
        return await self.oncall.store.get(watch.incident_id)

    # --- the loop -------------------------------------------------------------------------

    async def run(self, notifier: WatchNotifier, stop: asyncio.Event) -> None:
        """Until ``stop``: run due checks, then sleep until the next (or ``wake``).

        Stopping cancels a check in flight: its lease runs out and it runs again later."""
        while not stop.is_set():
            self.wake.clear()
            work = asyncio.ensure_future(self._pass(notifier))
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait([work, stopping], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (work, stopping):
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            if stop.is_set():
                return
            following = work.result()
            delay = POLL
            if following is not None:
                delay = max(timedelta(0), min(POLL, following - self.clock.now()))
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            try:
                await asyncio.wait(
                    waiters, timeout=delay.total_seconds(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _pass(self, notifier: WatchNotifier) -> datetime | None:
        try:
            await self.run_due(notifier)
            return await self.store.next_due()
        except Exception:
            _log.exception("cure watch pass failed; retrying")
            return None

    # --- the audit trail --------------------------------------------------------------------

    async def _audit(self, watch: CureWatch, kind: Kind, details: Mapping[str, Any]) -> None:
        """One row, correlated with the incident (its story), else with the watch."""
        if self.trail is None:
            return
        request = self.trail.request(
            actor=ACTOR, surface="alert", environment=watch.environment, action="cure.watch",
            host=watch.host, stack=watch.stack,
        )  # fmt: skip
        request = dataclasses.replace(request, correlation_id=watch.incident_id or watch.id)
        await request.record(
            kind,
            {
                "watch": str(watch.id),
                "incident": str(watch.incident_id) if watch.incident_id else None,
                "fix": watch.action,
                "finding": watch.finding_id,
                "fixed_by": watch.fixed_by,
                **details,
            },
        )


def _seconds(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds(), 3) if delta is not None else None


async def _best_effort(what: str, watch: CureWatch, work: Awaitable[None]) -> None:
    """The watch's state is stored and audited; a message that fails is logged, not retried."""
    try:
        await work
    except Exception:
        _log.exception("cure watch %s: could not %s it", watch.short_id, what)


__all__ = [
    "ACTOR",
    "CHECKER",
    "Cure",
    "CureWatcher",
    "Verdict",
    "WatchNotifier",
    "cure_watch_config",
]
