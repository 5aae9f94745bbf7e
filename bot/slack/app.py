"""The Slack app: `/stack` commands acked at once, work in the background, reports in place.

``SlackBot`` puts the parts together and is what ``serve`` and the tests hold:

- ``bot.slack.listeners``: the bolt listeners (parse, authorise, ``ack()``, hand off);
- ``bot.slack.workflows``: the work (diagnose, reports, fixes), calling
  ``bot.operations`` and rendering with ``bot.render.slack``;
- ``bot.slack.incidents``: the incident desk, which needs only ``DeskBot`` of this
  class (the client, ``spawn``, ``tell``, ``groups_of``, ``may``, ``diagnose``);
- ``bot.slack.access`` (who may, user groups cached), ``bot.slack.background`` (the
  tasks, ``SlackBot.tasks``, so Slack always gets its answer within 3 seconds),
  ``bot.slack.chat`` (the Web API client and how the app posts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.framework.executor import Sessions
from bot.inventory.access import Permission
from bot.inventory.config.models import Inventory
from bot.oncall.clock import Clock, SystemClock
from bot.oncall.service import OnCall
from bot.oncall.store import IncidentStore
from bot.operations import Operations
from bot.slack.access import SlackAccess
from bot.slack.background import Background
from bot.slack.chat import Chat, web_client
from bot.slack.commands import Audit, Diagnose
from bot.slack.deliveries import Deliveries
from bot.slack.incidents import IncidentDesk
from bot.slack.kept import KeptReports
from bot.slack.listeners import Listeners
from bot.slack.settings import SlackSettings
from bot.slack.workflows.diagnose import Diagnoses
from bot.slack.workflows.fixes import Fixes
from bot.slack.workflows.offers import Offers
from bot.slack.workflows.reports import Reports
from bot.stores.audit.trail import AuditTrail
from bot.stores.pending import PendingActions

__all__ = ["SlackBot", "web_client"]


class SlackBot:
    def __init__(
        self,
        inventory: Inventory,
        settings: SlackSettings,
        *,
        trail: AuditTrail | None,
        lock_dir: Path,
        progress_interval: float = 1.0,
        clock: Clock | None = None,
        transport: Sessions | None = None,
    ) -> None:
        """``transport``: the one every request shares (``serve`` passes its own); without
        it each request opens and closes one (see ``bot.operations.Operations``)."""
        self.inventory = inventory
        self.settings = settings
        self.trail = trail
        self.lock_dir = lock_dir
        self.client = web_client(settings)
        self.pending = PendingActions(trail.store) if trail and trail.store else None
        self.operations = Operations(inventory, trail=trail, lock_dir=lock_dir, transport=transport)
        self.kept = KeptReports()  # the reports posted, to re-render them after a fix
        self.chat = Chat(self.client)
        self.background = Background(self.chat.tell)
        self.access = SlackAccess(
            inventory, self.client, self.operations,
            tell=self.chat.tell, spawn=self.background.spawn,
        )  # fmt: skip
        offers = Offers(inventory, self.operations, self.pending)
        self.diagnoses = Diagnoses(
            inventory, self.operations, self.chat, self.access, offers, self.kept,
            progress_interval=progress_interval,
        )  # fmt: skip
        self.reports = Reports(self.operations, trail, self.chat)
        # on-call needs the database (incidents, timers): no store, no incidents
        self.incidents: IncidentDesk | None = None
        if trail is not None and trail.store is not None:
            oncall = OnCall(inventory, IncidentStore(trail.store), clock or SystemClock())
            self.incidents = IncidentDesk(self, oncall, operations=self.operations, trail=trail)
        self.fixes = Fixes(
            self.operations, self.pending, self.chat, self.access, offers, self.kept,
            self.incidents,
        )  # fmt: skip
        # process_before_response: bolt answers Slack as soon as the listener returns, not on
        # its next 10 ms poll of whether ack() was called; the listeners await nothing after
        # ack() (bot.slack.listeners), so the answer is never later than it
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret.get_secret_value(),
            raise_error_for_unhandled_request=False,
            process_before_response=True,
        )
        self.deliveries = Deliveries(trail.store if trail else None)
        self.listeners = Listeners(
            inventory, access=self.access, background=self.background, diagnoses=self.diagnoses,
            reports=self.reports, fixes=self.fixes, desk=self.incidents,
        )  # fmt: skip
        self.listeners.register(self.app, self.deliveries)

    # --- background work -----------------------------------------------------------------

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        return self.background.tasks

    @property
    def failures(self) -> list[BaseException]:
        return self.background.failures

    def spawn(self, work: Awaitable[object], *, channel: str = "", user: str = "") -> None:
        self.background.spawn(work, channel=channel, user=user)

    async def drain(self) -> None:
        """Wait for the background work and the deliveries' claims (tests, a graceful stop)."""
        await self.deliveries.drain()
        await self.background.drain()

    # --- the work ------------------------------------------------------------------------

    async def diagnose(
        self, command: Diagnose, user: str, channel: str, *, thread_ts: str | None = None
    ) -> None:
        await self.diagnoses.diagnose(command, user, channel, thread_ts=thread_ts)

    async def diagnose_again(self, body: Mapping[str, Any]) -> None:
        await self.diagnoses.again(body)

    async def report(
        self, verb: str, env: str, user: str, channel: str, params: dict[str, Any] | None = None
    ) -> None:
        await self.reports.report(verb, env, user, channel, params)

    async def audit(self, command: Audit, user: str, channel: str) -> None:
        await self.reports.audit(command, user, channel)

    async def clicked(self, body: Mapping[str, Any]) -> None:
        await self.fixes.clicked(body)

    async def approved(self, body: Mapping[str, Any], *, approve: bool) -> None:
        await self.fixes.approved(body, approve=approve)

    # --- answers and who may ---------------------------------------------------------------

    async def tell(self, channel: str, user: str, text: str) -> None:
        await self.chat.tell(channel, user, text)

    async def say(self, channel: str, text: str) -> None:
        await self.chat.say(channel, text)

    async def ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        await self.chat.ephemeral(channel, user, text, blocks)

    async def may(
        self, user: str, channel: str, env: str, what: str, permission: Permission
    ) -> bool:
        return await self.access.may(user, channel, env, what, permission)

    async def audit_denied(self, user: str, env: str, what: str, reason: str) -> None:
        await self.access.denied(user, env, what, reason)

    async def groups_of(self, user: str) -> tuple[str, ...]:
        return await self.access.groups_of(user)

    async def refresh_groups(self) -> None:
        await self.access.refresh_groups()
