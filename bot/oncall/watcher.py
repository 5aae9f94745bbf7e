"""The watcher: a light diagnosis every N minutes; critical findings become incidents.

A critical finding is an alert whose fingerprint is ``finding:<finding id>``
(stable for the same problem on the same subject), so it opens one incident
however many times it is seen. An open watcher incident resolves when a
diagnosis that reached its host no longer finds it (a host that could not be
read clears nothing). One replica per period runs an environment's watch
(``IncidentStore.claim_watch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.model.diagnosis import DiagnosisReport
from bot.model.findings import Severity
from bot.oncall.finding_alert import finding_alert
from bot.oncall.intake import AlertSink, IntakeResult
from bot.oncall.models import Alert
from bot.oncall.service import OnCall
from bot.operations import WATCHER, Operations
from bot.transport import Transport

_log = logging.getLogger("stackbot.watcher")
TICK = timedelta(seconds=15)  # how often the loop looks for a watch that is due
Diagnose = Callable[[str], Awaitable[DiagnosisReport]]


def finding_alerts(report: DiagnosisReport) -> list[Alert]:
    """The report's critical findings as firing alerts."""
    return [finding_alert(f) for f in report.findings if f.severity is Severity.CRITICAL]


class Watcher:
    """``diagnose``: how an environment is read (``serve`` passes its operations' diagnose,
    on the process's one transport, audited as the ``watcher``). Without it the watcher reads
    with operations of its own (no audit trail), on one transport for the whole of ``run``."""

    def __init__(self, oncall: OnCall, sink: AlertSink, diagnose: Diagnose | None = None) -> None:
        self.oncall = oncall
        self.sink = sink
        self._diagnose = diagnose
        self._operations: Operations | None = None

    async def diagnose(self, env: str) -> DiagnosisReport:
        if self._diagnose is not None:
            return await self._diagnose(env)
        operations = self._operations or Operations(self.oncall.inventory, trail=None)
        return await operations.diagnose(WATCHER, env)

    def watched(self) -> dict[str, timedelta]:
        """Environments with a watch, and how often."""
        return {
            name: env.oncall.watch.every
            for name, env in self.oncall.inventory.environments.items()
            if env.oncall is not None and env.oncall.watch is not None
        }

    async def watch_once(self, env: str) -> IntakeResult | None:
        """Run the environment's watch if it is due (None: not due, or another replica has it)."""
        every = self.watched()[env]
        store = self.oncall.store
        if not await store.claim_watch(env, every, self.oncall.clock.now()):
            return None
        report = await self.diagnose(env)
        firing = finding_alerts(report)
        current = {alert.fingerprint for alert in firing}
        reached = {host.host for host in report.hosts if host.reached}
        everything_read = len(reached) == len(report.hosts)
        cleared = [
            Alert(
                fingerprint=incident.fingerprint,
                status="resolved",
                title=incident.title,
                source="watcher",
            )
            for incident in await store.open_incidents([env], source="watcher")
            if incident.fingerprint not in current
            and (
                incident.labels["host"] in reached if "host" in incident.labels else everything_read
            )
        ]
        return await self.sink(env, [*firing, *cleared])

    async def run(self, stop: asyncio.Event) -> None:
        async with Transport(self.oncall.inventory.ssh) as transport:
            if self._diagnose is None:
                self._operations = Operations(
                    self.oncall.inventory, trail=None, transport=transport
                )
            try:
                while not stop.is_set():
                    for env in self.watched():
                        try:
                            await self.watch_once(env)
                        except Exception:
                            _log.exception("watch of %s failed; trying again next period", env)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), TICK.total_seconds())
            finally:
                self._operations = None
