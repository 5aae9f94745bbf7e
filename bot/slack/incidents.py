"""The incident desk: incidents in Slack, pages, and the on-call commands.

It is the ``Pager`` the on-call service (``bot.oncall.service``) talks to, and
it does the work of the incident buttons (Acknowledge / Diagnose / Resolve, whose
listeners are in ``bot.slack.listeners``) and of ``/stack oncall`` /
``/stack incidents``. Every state change goes through the incident store's
single-winner updates, so a double click or two replicas receiving the same click
change an incident once; the loser is told who won.

Of the Slack app it needs only ``DeskBot``: the Web API client, background tasks,
who may, and a diagnosis into a thread (``bot.slack.app.SlackBot`` has them).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.inventory.access import COMMAND_PERMISSIONS, Permission, authorise, visible_environments
from bot.model.units import human_duration
from bot.oncall.cure_watch import CureWatcher, Verdict
from bot.oncall.cures import CureStore
from bot.oncall.intake import IntakeResult
from bot.oncall.models import Alert, CureWatch, Incident
from bot.oncall.rotation import OnCallNow
from bot.oncall.service import OnCall, Page
from bot.oncall.store import IncidentError
from bot.operations import Operations
from bot.render.incident import (
    incident_message,
    incidents_message,
    notice,
    oncall_message,
    page_message,
)
from bot.render.slack import SlackMessage
from bot.render.slack.cure import (
    watch_broke_message,
    watch_held_message,
    watch_line,
    watch_page_message,
    watch_started_message,
)
from bot.slack.commands import Diagnose, Incidents, OnCallOverride, OnCallShow
from bot.slack.payloads import click_parts as _click
from bot.stores.audit.record import Kind, Surface
from bot.stores.audit.trail import AuditRequest, AuditTrail

_log = logging.getLogger("stackbot.incidents")
STEP_WORDS = {
    "primary": "the on-call person",
    "secondary": "the secondary",
    "channel": "the channel",
}


class DeskBot(Protocol):
    """What the incident desk needs of the Slack app."""

    @property
    def client(self) -> AsyncWebClient: ...

    def spawn(self, work: Awaitable[object], *, channel: str = "", user: str = "") -> None:
        """Run ``work`` in the background; a failure is told to ``user`` in ``channel``."""

    async def tell(self, channel: str, user: str, text: str) -> None:
        """An error or refusal only ``user`` sees."""

    async def groups_of(self, user: str) -> tuple[str, ...]:
        """The Slack user groups ``user`` is in (those the access rules name)."""

    async def may(
        self, user: str, channel: str, env: str, what: str, permission: Permission
    ) -> bool:
        """Whether ``user`` holds ``permission`` on ``env``; if not, told and audited."""

    async def diagnose(
        self, command: Diagnose, user: str, channel: str, *, thread_ts: str | None = None
    ) -> None:
        """The diagnosis, posted in ``channel`` (in the thread of ``thread_ts``)."""


class IncidentDesk:
    def __init__(
        self, bot: DeskBot, oncall: OnCall, *, operations: Operations, trail: AuditTrail | None
    ) -> None:
        self.bot = bot
        self.oncall = oncall
        self.trail = trail
        self._passes = _Coalesced(self.run_due)
        self._digest_edits: dict[uuid.UUID, _Coalesced] = {}
        # the stability watch after a cure: this desk is its notifier
        self.cures = CureWatcher(
            oncall, CureStore(oncall.store.store), operations, trail=trail, sink=self.receive
        )

    @property
    def client(self) -> AsyncWebClient:
        return self.bot.client

    # --- alerts in (the intake's sink) --------------------------------------------------------

    async def receive(self, environment: str, alerts: list[Alert]) -> IntakeResult:
        """Store the alerts; announce new incidents and update cleared ones in the background."""
        done = await self.oncall.ingest(environment, alerts)
        for incident in done.resolved:
            self.bot.spawn(self.closed(incident))
        for incident in done.repeated:  # the message counts the repeats
            if incident.message_ts is not None:  # a digest's incidents have no message
                self.bot.spawn(self._refresh(incident))
        closed = {i.id for i in done.resolved}
        digests = {i.digest_id for i in done.resolved if i.digest_id not in (None, *closed)}
        for digest_id in digests:  # the digest lists them as resolved now
            assert digest_id is not None
            self.bot.spawn(self._refresh_id(digest_id))
        if done.opened:  # a storm of requests makes one pass at a time, plus one after
            self.bot.spawn(self._passes.run())
        return IntakeResult(
            opened=len(done.opened),
            repeated=len(done.repeated),
            resolved=len(done.resolved),
            ignored=done.ignored,
            incidents=[i.short_id for i in (*done.opened, *done.repeated, *done.resolved)],
        )

    async def run_due(self) -> list[Page]:
        return await self.oncall.run_due(self)

    # --- the Pager ---------------------------------------------------------------------------

    # A step is retried only when its message could not be sent; what follows the send
    # (a thread note, the audit row, an edit) is done once, best effort, and logged if
    # it fails: retrying it would send the page or the announcement twice.

    async def announce(self, incident: Incident, oncall: OnCallNow | None) -> None:
        message = incident_message(incident, await self.oncall.store.listing(incident))
        posted = await self.client.chat_postMessage(
            channel=incident.channel, text=message.text, blocks=message.blocks
        )
        await _best_effort("remember the message of", incident, self._announced(incident, posted))

    async def _announced(self, incident: Incident, posted: Any) -> None:
        now = await self.oncall.store.attach_message(  # the id Slack answers with, not a #name
            incident.id, str(posted.get("channel") or incident.channel), str(posted["ts"])
        )
        if (now.status, now.alert_count) != (incident.status, incident.alert_count):
            await self._refresh(now)  # it changed while the message was on its way
        await self._audit(
            incident, incident.source, "incident_opened", {"title": incident.title},
            surface="alert",
        )  # fmt: skip

    async def page(self, page: Page) -> None:
        incident = await self.oncall.store.get(page.incident.id)  # the message ts, if posted since
        waited = human_duration((self.oncall.clock.now() - incident.escalates_from).total_seconds())
        message = page_message(incident, step=page.page)
        if page.page == "channel":
            await self.client.chat_postMessage(
                channel=incident.channel, thread_ts=incident.message_ts,
                reply_broadcast=incident.message_ts is not None,
                text=message.text, blocks=message.blocks,
            )  # fmt: skip
        else:
            assert page.target is not None
            await self.client.chat_postMessage(
                channel=page.target, text=message.text, blocks=message.blocks
            )
        await _best_effort("note the page of", incident, self._paged(incident, page, waited))

    async def _paged(self, incident: Incident, page: Page, waited: str) -> None:
        if page.page == "primary" and page.target:
            handed = await self.oncall.store.hand_over(incident.id, page.target)
            if handed is not None:
                await self._refresh(handed)  # the message names who holds the pager now
        if incident.message_ts and page.page != "channel":
            why = (
                "the cure broke, it is open again"
                if incident.reopened_at is not None and page.step == 1
                else f"not acknowledged after {waited}"
            )
            await self.client.chat_postMessage(
                channel=incident.channel, thread_ts=incident.message_ts,
                text=f"Paged <@{page.target}> ({STEP_WORDS[page.page]}): {why}.",
            )  # fmt: skip
        await self._audit(
            incident, "stackbot", "paged", {"page": page.page, "target": page.target},
            surface="alert",
        )  # fmt: skip

    async def closed(self, incident: Incident) -> None:
        await self._refresh(incident)
        if incident.message_ts:
            text = (
                "Every incident it lists is resolved."
                if incident.is_digest
                else f"The alert cleared ({incident.resolved_by}): resolved."
            )
            await self.client.chat_postMessage(
                channel=incident.channel, thread_ts=incident.message_ts, text=text
            )
        await self._audit(
            incident, incident.resolved_by or "alert", "resolved", {}, surface="alert"
        )

    async def digested(self, digest: Incident) -> None:
        """One edit at a time per digest, and one more after it: not one per incident."""
        edits = self._digest_edits.get(digest.id)
        if edits is None:
            edits = self._digest_edits[digest.id] = _Coalesced(lambda: self._refresh(digest))
        try:
            await edits.run()
        finally:
            if not edits.busy:
                self._digest_edits.pop(digest.id, None)

    async def _refresh(self, incident: Incident) -> None:
        """Re-render the channel message from the row as it is now (any replica can)."""
        await self._refresh_id(incident.id)

    async def _refresh_id(self, incident_id: uuid.UUID) -> None:
        incident = await self.oncall.store.get(incident_id)
        if not incident.message_ts:
            return  # not announced yet: the announcement will show the row as it is then
        watch = await self.cures.store.latest(incident.id)
        message = incident_message(
            incident, await self.oncall.store.listing(incident),
            watch=watch_line(watch) if watch is not None else None,
        )  # fmt: skip
        await self.client.chat_update(
            channel=incident.channel, ts=incident.message_ts, text=message.text,
            blocks=message.blocks,
        )  # fmt: skip

    # --- buttons (after the listener's ack) -------------------------------------------------

    async def _clicked(self, body: Mapping[str, Any]) -> tuple[str, str, Incident] | None:
        """The clicker, the channel and the incident, if the clicker has a role on its env."""
        user, channel, value = _click(body)
        try:
            incident = await self.oncall.store.get(value)
        except IncidentError as exc:
            await self._refused(channel, user, exc)
            return None
        allowed = await self.bot.may(
            user, channel, incident.environment, "incident", COMMAND_PERMISSIONS["incident"]
        )
        return (user, channel, incident) if allowed else None

    async def acknowledged(self, body: Mapping[str, Any]) -> None:
        clicked = await self._clicked(body)
        if clicked is None:
            return
        user, channel, incident = clicked
        try:
            incident = await self.oncall.store.acknowledge(
                incident.id, user, self.oncall.clock.now()
            )
        except IncidentError as exc:
            await self._refused(channel, user, exc)
            return
        took = incident.time_to_acknowledge
        await self._audit(
            incident, user, "acknowledged",
            {"seconds_to_acknowledge": round(took.total_seconds()) if took else None},
        )  # fmt: skip
        await self._refresh(incident)
        await self._diagnose_into_thread(incident, user)

    async def diagnose(self, body: Mapping[str, Any]) -> None:
        clicked = await self._clicked(body)
        if clicked is not None:
            await self._diagnose_into_thread(clicked[2], clicked[0])

    async def resolved(self, body: Mapping[str, Any]) -> None:
        clicked = await self._clicked(body)
        if clicked is None:
            return
        user, channel, incident = clicked
        try:
            incident = await self.oncall.store.resolve(incident.id, user, self.oncall.clock.now())
        except IncidentError as exc:
            await self._refused(channel, user, exc)
            return
        await self._audit(incident, user, "resolved", {})
        await self._refresh(incident)

    async def _refused(self, channel: str, user: str, exc: IncidentError) -> None:
        """Why a click changed nothing."""
        await self._notice(channel, user, exc.message)

    async def _notice(self, channel: str, user: str, text: str) -> None:
        """An answer only ``user`` sees, written by stackbot (its mentions stay mentions)."""
        await self._ephemeral(channel, user, notice(text))

    async def _ephemeral(self, channel: str, user: str, message: SlackMessage) -> None:
        await self.client.chat_postEphemeral(
            channel=channel, user=user, text=message.text, blocks=message.blocks
        )

    async def incident_of(self, channel: str, root: str) -> Incident | None:
        """The incident whose thread ``root`` is (None: a thread of its own)."""
        return await self.oncall.store.by_message(channel, root)

    # --- the cure watch's notifier -------------------------------------------------------------

    async def watch_started(self, watch: CureWatch, incident: Incident | None) -> None:
        await self._watch_note(watch, watch_started_message(watch))
        if incident is not None:
            await self._refresh(incident)

    async def watch_checked(self, verdict: Verdict) -> None:
        """Holding: the incident's message says so. Held: the closing note. Broke: the new
        evidence broadcast from the thread, the fixer told, the on-call person paged."""
        watch = verdict.watch
        if verdict.outcome == "unread":
            return
        if verdict.incident is not None:
            await self._refresh(verdict.incident)
        if verdict.outcome == "held":
            await self._watch_note(
                watch,
                watch_held_message(
                    watch, resolved=verdict.resolved, kept_open=verdict.kept_open,
                    page_to_cure=verdict.page_to_cure, cure_to_resolved=verdict.cure_to_resolved,
                ),
            )  # fmt: skip
        elif verdict.outcome == "broke":
            message = watch_broke_message(
                watch, verdict.broken, incident=verdict.incident, reopened=verdict.reopened,
                linked=verdict.linked,
            )  # fmt: skip
            await self._watch_note(watch, message, broadcast=True)
            told = watch_page_message(
                watch, verdict.broken, channel=watch.channel, role="you applied"
            )
            await self.client.chat_postMessage(
                channel=watch.fixed_by, text=told.text, blocks=told.blocks
            )
            if verdict.reopened:  # its first escalation step is due now: take it here
                self.bot.spawn(self._passes.run())

    async def _watch_note(
        self, watch: CureWatch, message: SlackMessage, *, broadcast: bool = False
    ) -> None:
        """A note in the thread the cure was made in (the incident's root)."""
        if watch.channel is None:
            return
        await self.client.chat_postMessage(
            channel=watch.channel, thread_ts=watch.thread_ts,
            reply_broadcast=broadcast and watch.thread_ts is not None,
            text=message.text, blocks=message.blocks,
        )  # fmt: skip

    async def _diagnose_into_thread(self, incident: Incident, user: str) -> None:
        await self.bot.diagnose(
            Diagnose(env=incident.environment), user, incident.channel,
            thread_ts=incident.message_ts,
        )  # fmt: skip

    # --- commands ----------------------------------------------------------------------------

    async def show_oncall(self, command: OnCallShow, user: str, channel: str) -> None:
        envs = [command.env] if command.env else await self._visible(user)
        rows = [(env, await self.oncall.who(env)) for env in envs]
        if command.env is None:
            rows = [(env, now) for env, now in rows if now is not None]
        await self._ephemeral(channel, user, oncall_message(rows))

    async def override(self, command: OnCallOverride, user: str, channel: str) -> None:
        rotation = self.oncall.inventory.environments[command.env].oncall
        if rotation is None:
            await self.bot.tell(
                channel, user, f"{command.env} has no on-call rotation to override."
            )
            return
        target_groups = await self.bot.groups_of(command.user)
        holder = authorise(
            self.oncall.inventory, command.env, command.user, target_groups, Permission.VIEW
        )
        if not holder.allowed:
            await self._notice(
                channel, user,
                f"<@{command.user}> has no role on {command.env}, so could not acknowledge "
                "its incidents. Give them a role first.",
            )  # fmt: skip
            return
        now = self.oncall.clock.now()
        override = await self.oncall.store.add_override(
            command.env, command.user, starts_at=now, ends_at=now + command.duration,
            created_by=user, now=now,
        )  # fmt: skip
        request = self._request(user, command.env, "oncall.override", surface="slack")
        if request is not None:
            await request.record(
                "override",
                {"user": command.user, "until": override.ends_at.isoformat(), "by": user},
            )
        await self.client.chat_postMessage(
            channel=channel,
            text=f"<@{user}> handed the pager for `{command.env}` to <@{command.user}> for "
            f"{human_duration(command.duration.total_seconds())} "
            f"(until {override.ends_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC).",
        )

    async def list_incidents(self, command: Incidents, user: str, channel: str) -> None:
        envs = [command.env] if command.env else await self._visible(user)
        incidents = await self.oncall.store.open_incidents(envs)
        await self._ephemeral(channel, user, incidents_message(incidents, self.oncall.clock.now()))

    async def _visible(self, user: str) -> list[str]:
        return visible_environments(self.oncall.inventory, user, await self.bot.groups_of(user))

    # --- the audit trail ---------------------------------------------------------------------

    def _request(
        self, actor: str, env: str, action: str, *, surface: Surface
    ) -> AuditRequest | None:
        trail = self.trail
        if trail is None:
            return None
        return trail.request(actor=actor, surface=surface, environment=env, action=action)

    async def _audit(
        self, incident: Incident, actor: str, kind: Kind, details: Mapping[str, Any],
        *, surface: Surface = "slack",
    ) -> None:  # fmt: skip
        """One row; the incident's id is the correlation id, so `audit show` tells its story."""
        request = self._request(actor, incident.environment, f"incident.{kind}", surface=surface)
        if request is not None:
            request = dataclasses.replace(request, correlation_id=incident.id)
            await request.record(
                kind, {"incident": str(incident.id), "fingerprint": incident.fingerprint, **details}
            )


class _Coalesced:
    """Runs ``work`` once at a time; calls while it runs ask for exactly one more run."""

    def __init__(self, work: Callable[[], Awaitable[object]]) -> None:
        self.work = work
        self.busy = False
        self.again = False

    async def run(self) -> None:
        if self.busy:
            self.again = True  # the running one goes round once more, for this caller too
            return
        self.busy = True
        try:
            while True:
                self.again = False
                await self.work()
                if not self.again:
                    return
        finally:
            self.busy = False


async def _best_effort(what: str, incident: Incident, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        _log.exception("could not %s incident %s", what, incident.short_id)
