"""On-call as a service: alerts become incidents, due steps are taken once, on time.

Knows nothing of Slack: it is given a ``Pager`` (the Slack desk, or a test's
recorder) that posts the incident message and sends the pages. An incident's
steps are numbered: step 0 announces it in the environment's channel (due when
it opens), step k ≥ 1 is ``escalation[k-1]``, due ``after`` the opening. Each
step is claimed in the database before it is carried out (``claim_step``), so
across restarts and replicas it goes out once; if sending fails it is given
back and tried again on the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from bot.config.models import EscalationStep, Inventory
from bot.oncall.clock import Clock
from bot.oncall.models import Alert, Incident
from bot.oncall.rotation import OnCallNow, on_call
from bot.oncall.store import IncidentStore

_log = logging.getLogger("stackbot.oncall")
POLL = timedelta(seconds=30)  # the longest the loop sleeps (it also wakes on new alerts)
RETRY = timedelta(seconds=30)  # a step whose message could not be sent is tried again then


class Page(BaseModel):
    """One escalation step carried out: whom it reached."""

    model_config = ConfigDict(frozen=True)

    incident: Incident
    step: int
    page: Literal["announce", "primary", "secondary", "channel"]
    target: str | None  # a user id, the channel, or None (no secondary configured)


class Pager(Protocol):
    async def announce(self, incident: Incident, oncall: OnCallNow | None) -> None:
        """Post the incident's message in its channel (and remember where)."""
        ...

    async def page(self, page: Page) -> None:
        """Reach ``page.target`` about ``page.incident``."""
        ...

    async def closed(self, incident: Incident) -> None:
        """The alert cleared: update the incident's message."""
        ...


class Ingested(BaseModel):
    """What a batch of alerts did (the intake's answer is made of this)."""

    model_config = ConfigDict(frozen=True)

    opened: list[Incident] = []
    repeated: list[Incident] = []
    resolved: list[Incident] = []
    ignored: int = 0


class OnCall:
    def __init__(self, inventory: Inventory, store: IncidentStore, clock: Clock) -> None:
        self.inventory = inventory
        self.store = store
        self.clock = clock
        self.wake = asyncio.Event()

    # --- who ------------------------------------------------------------------------------------

    async def who(self, environment: str, at: datetime | None = None) -> OnCallNow | None:
        """Who is on call (None: the environment has no rotation)."""
        env = self.inventory.environments.get(environment)  # gone from the inventory: nobody
        config = env.oncall if env is not None else None
        if config is None:
            return None
        moment = at or self.clock.now()
        return on_call(config.rotation, moment, await self.store.overrides(environment, moment))

    def escalation(self, environment: str) -> Sequence[EscalationStep]:
        env = self.inventory.environments.get(environment)
        return env.oncall.escalation if env is not None and env.oncall is not None else ()

    def step_due(self, incident: Incident, step: int) -> datetime | None:
        """When step ``step`` of the incident is due; None when there is no such step."""
        if step == 0:
            return incident.opened_at
        steps = self.escalation(incident.environment)
        return incident.opened_at + steps[step - 1].after if step <= len(steps) else None

    # --- alerts in ------------------------------------------------------------------------------

    async def ingest(self, environment: str, alerts: Iterable[Alert]) -> Ingested:
        """Store a batch: firing alerts open (or repeat) incidents, resolved ones close them."""
        channel = self.inventory.environments[environment].slack_channel
        if channel is None:
            raise ValueError(f"environment {environment} has no slack_channel")
        now = self.clock.now()
        who = await self.who(environment, now)
        opened: list[Incident] = []
        repeated: list[Incident] = []
        resolved: list[Incident] = []
        ignored = 0
        for alert in alerts:
            if alert.status == "resolved":
                closed = await self.store.resolve_fingerprint(
                    environment, alert.fingerprint, by=alert.source, now=now
                )
                if closed is None:
                    ignored += 1
                else:
                    resolved.append(closed)
                continue
            incident, new = await self.store.open_or_repeat(
                environment, alert, channel=channel,
                oncall_user=who.primary if who else None, now=now,
            )  # fmt: skip
            (opened if new else repeated).append(incident)
        if opened:
            self.wake.set()
        return Ingested(opened=opened, repeated=repeated, resolved=resolved, ignored=ignored)

    # --- the escalation loop ------------------------------------------------------------------

    async def run_due(self, pager: Pager) -> list[Page]:
        """Carry out every step due now; each one exactly once across replicas."""
        now = self.clock.now()
        done: list[Page] = []
        for incident in await self.store.due(now):
            step = incident.escalation_step
            claimed = await self.store.claim_step(
                incident, next_page_at=self.step_due(incident, step + 1), now=now
            )
            if claimed is None:
                continue  # another replica took it, or someone acknowledged meanwhile
            try:
                page = await self._carry_out(claimed, step, pager, now)
            except Exception:
                _log.exception(
                    "incident %s: step %d could not be sent; trying again in %s",
                    incident.short_id, step, RETRY,
                )  # fmt: skip
                await self.store.release_step(claimed, due_at=now + RETRY)
                continue
            done.append(page)
        return done

    async def _carry_out(self, incident: Incident, step: int, pager: Pager, now: datetime) -> Page:
        who = await self.who(incident.environment, now)
        if step == 0:
            await pager.announce(incident, who)
            await self._history(incident, "announced", now, {})
            return Page(incident=incident, step=0, page="announce", target=incident.channel)
        escalation = self.escalation(incident.environment)[step - 1]
        target = {
            "primary": who.primary if who else None,
            "secondary": who.secondary if who else None,
            "channel": incident.channel,
        }[escalation.page]
        page = Page(incident=incident, step=step, page=escalation.page, target=target)
        if target is not None:
            await pager.page(page)
        await self._history(incident, "paged", now, {"page": escalation.page, "target": target})
        return page

    async def _history(
        self, incident: Incident, kind: str, now: datetime, details: dict[str, str | None]
    ) -> None:
        """The step went out: record it, but never let a failure here send it again."""
        try:
            await self.store.add_event(incident.id, kind, "stackbot", now, details)
        except Exception:
            _log.exception("incident %s: %s, but not recorded", incident.short_id, kind)

    async def run(self, pager: Pager, stop: asyncio.Event) -> None:
        """Until ``stop``: take due steps, then sleep until the next one (or a new alert)."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.run_due(pager)
                following = await self.store.next_due()
            except Exception:
                _log.exception("on-call pass failed; retrying")
                following = None
            delay = POLL
            if following is not None:
                delay = max(timedelta(0), min(POLL, following - self.clock.now()))
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            await asyncio.wait(
                waiters, timeout=delay.total_seconds(), return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
