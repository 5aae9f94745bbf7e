"""On-call as a service: alerts become incidents, due steps are taken once, on time.

Knows nothing of Slack: it is given a ``Pager`` (the Slack desk, or a test's
recorder) that posts the incident message and sends the pages. An incident's
steps are numbered: step 0 announces it in the environment's channel (due when
it opens), step k ≥ 1 is ``escalation[k-1]``, due ``after`` the opening. Each
step is claimed in the database before it is carried out (``claim_step``), so
across restarts and replicas it goes out once; if sending fails it is given
back and tried again on the next pass.

Storms (docs/ONCALL.md, *Alert storms*): an Alertmanager group is one incident
(``_ingest_group``); announcing is limited per environment to
``messages_per_minute`` (``store.take_slot``), and an incident beyond the cap
is listed in the environment's digest instead (``_fold``): no message and no
page of its own. The digest is an incident too (one message, one page per
step), so a storm pages each person at most once per step of each message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from bot.inventory.config.models import EscalationStep, Inventory, OnCallConfig
from bot.oncall.clock import Clock
from bot.oncall.models import Alert, AlertGroup, Incident
from bot.oncall.rotation import OnCallNow, on_call
from bot.oncall.store import DIGEST_FINGERPRINT, IncidentStore

_log = logging.getLogger("stackbot.oncall")
POLL = timedelta(seconds=30)  # the longest the loop sleeps (it also wakes on new alerts)
RETRY = timedelta(seconds=30)  # a step whose message could not be sent is tried again then
MESSAGES_PER_MINUTE: int = OnCallConfig.model_fields["messages_per_minute"].default
_FOLD_TRIES = 3  # a digest acknowledged while an incident joins it: join the next one


class Page(BaseModel):
    """One escalation step carried out: whom it reached."""

    model_config = ConfigDict(frozen=True)

    incident: Incident
    step: int
    page: Literal["announce", "digest", "primary", "secondary", "channel"]
    target: str | None  # a user id, the channel, or None (no secondary configured)
    digest: uuid.UUID | None = None  # "digest": listed in this digest instead of announced


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

    async def digested(self, digest: Incident) -> None:
        """Incidents joined the digest: update its message (once per pass, not per incident)."""
        ...


class Ingested(BaseModel):
    """What a batch of alerts did (the intake's answer is made of this)."""

    model_config = ConfigDict(frozen=True)

    opened: list[Incident] = []
    repeated: list[Incident] = []
    resolved: list[Incident] = []
    ignored: int = 0


class _Batch:
    """What ``ingest`` did so far."""

    def __init__(self) -> None:
        self.opened: list[Incident] = []
        self.repeated: list[Incident] = []
        self.resolved: list[Incident] = []
        self.ignored = 0
        self.digests: dict[uuid.UUID, None] = {}  # of resolved incidents: maybe all done now

    def closed(self, incident: Incident | None, *, digest: bool = False) -> None:
        if incident is None:
            if not digest:
                self.ignored += 1
            return
        self.resolved.append(incident)
        if incident.digest_id is not None:
            self.digests[incident.digest_id] = None


def _group_alert(group: AlertGroup, firing: list[Alert]) -> Alert:
    """The incident of a group, as one alert: its name, its worst severity."""
    severity = min((alert.severity for alert in firing), key=lambda s: s.rank)
    return Alert(
        fingerprint=group.fingerprint,
        source=firing[0].source,
        title=group.title,
        severity=severity,
        summary=group.summary,
        labels=group.labels,
        url=firing[0].url if len(firing) == 1 else None,
    )


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

    def messages_per_minute(self, environment: str) -> int:
        """The environment's cap on new incident messages a minute."""
        env = self.inventory.environments.get(environment)
        if env is None or env.oncall is None:
            return MESSAGES_PER_MINUTE
        return env.oncall.messages_per_minute

    def step_due(self, incident: Incident, step: int) -> datetime | None:
        """When step ``step`` of the incident is due; None when there is no such step."""
        if step == 0:
            return incident.opened_at
        steps = self.escalation(incident.environment)
        if step > len(steps):
            return None
        if incident.reopened_at is not None and step == 1:
            return incident.reopened_at  # its cure broke: the first step is taken at once
        return incident.escalates_from + steps[step - 1].after

    # --- alerts in ------------------------------------------------------------------------------

    async def ingest(self, environment: str, alerts: Iterable[Alert]) -> Ingested:
        """Store a batch: firing alerts open (or repeat) incidents, resolved ones close them.

        Alerts of an Alertmanager group are one incident; others one each (by fingerprint).
        """
        channel = self.inventory.environments[environment].slack_channel
        if channel is None:
            raise ValueError(f"environment {environment} has no slack_channel")
        now = self.clock.now()
        who = await self.who(environment, now)
        oncall_user = who.primary if who else None
        done = _Batch()
        groups: dict[str, list[Alert]] = {}
        for alert in alerts:
            if alert.group is not None:
                groups.setdefault(alert.group.fingerprint, []).append(alert)
            elif alert.status == "resolved":
                closed = await self.store.resolve_fingerprint(
                    environment, alert.fingerprint, by=alert.source, now=now
                )
                done.closed(closed)
            else:
                incident, new = await self.store.open_or_repeat(
                    environment, alert, channel=channel, oncall_user=oncall_user, now=now
                )
                (done.opened if new else done.repeated).append(incident)
        for members in groups.values():
            await self._ingest_group(environment, members, channel, oncall_user, now, done)
        for digest_id in done.digests:  # a digest closes when all it lists are resolved
            done.closed(await self.store.close_digest_if_done(digest_id, now), digest=True)
        if done.opened:
            self.wake.set()
        return Ingested(
            opened=done.opened, repeated=done.repeated, resolved=done.resolved,
            ignored=done.ignored,
        )  # fmt: skip

    async def _ingest_group(
        self, environment: str, members: list[Alert], channel: str, oncall_user: str | None,
        now: datetime, done: _Batch,
    ) -> None:  # fmt: skip
        """One Alertmanager group: its incident opened or updated, resolved when all clear."""
        group = members[0].group
        assert group is not None
        firing = [alert for alert in members if alert.status == "firing"]
        if firing:
            incident, new = await self.store.open_or_repeat(
                environment, _group_alert(group, firing), channel=channel,
                oncall_user=oncall_user, now=now, count=len(firing),
            )  # fmt: skip
            (done.opened if new else done.repeated).append(incident)
        else:
            found = await self.store.unresolved(environment, group.fingerprint)
            if found is None:
                done.ignored += len(members)
                return
            incident = found
        await self.store.record_alerts(incident.id, members, now)
        if not firing:
            closed = await self.store.resolve_if_quiet(incident.id, by=members[0].source, now=now)
            if closed is None:
                done.repeated.append(incident)  # some of its alerts still fire
            else:
                done.closed(closed)

    # --- the escalation loop ------------------------------------------------------------------

    async def run_due(self, pager: Pager) -> list[Page]:
        """Carry out every step due now; each one exactly once across replicas."""
        now = self.clock.now()
        done: list[Page] = []
        digests: dict[uuid.UUID, Incident] = {}
        for incident in await self.store.due(now):
            step = incident.escalation_step
            claimed = await self.store.claim_step(
                incident, next_page_at=self.step_due(incident, step + 1), now=now
            )
            if claimed is None:
                continue  # another replica took it, or someone acknowledged meanwhile
            try:
                if step == 0 and not claimed.is_digest and not await self._slot(claimed, now):
                    digest = await self._fold(claimed, now)
                    digests[digest.id] = digest
                    done.append(
                        Page(incident=claimed, step=0, page="digest", target=digest.channel,
                             digest=digest.id)
                    )  # fmt: skip
                    continue
                page = await self._carry_out(claimed, step, pager, now)
            except Exception:
                _log.exception(
                    "incident %s: step %d could not be sent; trying again in %s",
                    incident.short_id, step, RETRY,
                )  # fmt: skip
                await self.store.release_step(claimed, due_at=now + RETRY)
                continue
            done.append(page)
        for digest in digests.values():
            try:
                await pager.digested(digest)
            except Exception:  # its next change, or the next incident joining, shows them
                _log.exception("digest %s: could not be updated", digest.short_id)
        return done

    async def _slot(self, incident: Incident, now: datetime) -> bool:
        """May the incident have a message of its own (under the environment's cap)?"""
        cap = self.messages_per_minute(incident.environment)
        return await self.store.take_slot(incident.environment, cap, now)

    async def _fold(self, incident: Incident, now: datetime) -> Incident:
        """List the incident in its environment's open digest (opened if there is none)."""
        who = await self.who(incident.environment, now)
        cap = self.messages_per_minute(incident.environment)
        alert = Alert(
            fingerprint=DIGEST_FINGERPRINT, source="stackbot", severity=incident.severity,
            title=f"Alert storm: more than {cap} new incidents a minute",
        )  # fmt: skip
        for _ in range(_FOLD_TRIES):
            digest, new = await self.store.open_or_repeat(
                incident.environment, alert, channel=incident.channel,
                oncall_user=who.primary if who else None, now=now,
            )  # fmt: skip
            if await self.store.fold(incident, digest, now):
                if new:
                    self.wake.set()  # its own announcement is due
                return digest
        raise RuntimeError(f"incident {incident.short_id}: no open digest to join")

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
