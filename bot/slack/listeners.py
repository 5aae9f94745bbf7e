"""The bolt listeners: parse, authorise, ``ack()``, hand off. Nothing else.

``/stack`` text becomes a typed command (``bot.slack.commands``); the user's
groups come from a cache, so the ack is never late; a refusal is the ack's answer
(and an audit row). The work runs in the background (``bot.slack.background``):
the workflows in ``bot.slack.workflows`` and the incident desk. A button's click is
acked at once; its stored action is loaded and authorised by its workflow.

A listener awaits nothing after its ``ack()`` (bolt answers Slack when the listener
returns, ``process_before_response``): all it does after is hand off, and whatever
it hands off (the work, a refusal's audit row) carries the delivery's claim
(``bot.slack.deliveries``), so that a replayed or retried delivery, acked like its
first one, runs nothing and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.inventory.access import COMMAND_PERMISSIONS, authorise, visible_environments
from bot.inventory.config.models import Inventory
from bot.operations import report_specs
from bot.render.incident import ACK, DIAGNOSE, RESOLVE
from bot.render.slack.approval import APPROVE, DENY
from bot.render.slack.cure import DIAGNOSE_AGAIN
from bot.slack import messages
from bot.slack.access import SlackAccess
from bot.slack.answers import envs_text, help_text
from bot.slack.background import Background
from bot.slack.commands import (
    Audit,
    CommandError,
    Diagnose,
    Disk,
    Envs,
    Help,
    Incidents,
    OnCallOverride,
    OnCallShow,
    Report,
    Volumes,
    parse,
)
from bot.slack.deliveries import Claim, Deliveries, claim_of
from bot.slack.incidents import IncidentDesk
from bot.slack.payloads import click_parts
from bot.slack.workflows.diagnose import Diagnoses
from bot.slack.workflows.fixes import Fixes
from bot.slack.workflows.reports import Reports

Listener = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], Awaitable[None]]
Work = Callable[[Mapping[str, Any]], Awaitable[None]]


class Listeners:
    def __init__(
        self,
        inventory: Inventory,
        *,
        access: SlackAccess,
        background: Background,
        diagnoses: Diagnoses,
        reports: Reports,
        fixes: Fixes,
        desk: IncidentDesk | None,
    ) -> None:
        self.inventory = inventory
        self.access = access
        self.background = background
        self.diagnoses = diagnoses
        self.reports = reports
        self.fixes = fixes
        self.desk = desk

    def register(self, app: AsyncApp, deliveries: Deliveries) -> None:
        """Every listener on ``app``, behind the middleware that runs each delivery once."""
        # before every listener: a replayed or retried delivery is acked and runs nothing
        app.middleware(deliveries.middleware)
        app.command("/stack")(self.on_stack)
        app.action(re.compile(r"^fix:"))(self._click(self.fixes.clicked))
        app.action(re.compile(rf"^{APPROVE}:"))(self._click(self._approve))
        app.action(re.compile(rf"^{DENY}:"))(self._click(self._deny))
        app.action(re.compile(rf"^{DIAGNOSE_AGAIN}:"))(self._click(self.diagnoses.again))
        desk = self.desk
        if desk is not None:  # on call needs the database: no store, no incident buttons
            app.action(re.compile(rf"^{ACK}:"))(self._click(desk.acknowledged))
            app.action(re.compile(rf"^{DIAGNOSE}:"))(self._click(desk.diagnose))
            app.action(re.compile(rf"^{RESOLVE}:"))(self._click(desk.resolved))

    # --- /stack ------------------------------------------------------------------------

    async def on_stack(self, ack: Any, body: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        text = str(body.get("text", ""))
        claim = claim_of(context)
        groups = await self.access.groups_of(user)
        visible = visible_environments(self.inventory, user, groups)
        if not visible:  # a stranger: one answer, whatever the text (SECURITY.md, "Strangers")
            await ack(response_type="ephemeral", text=messages.NO_ROLE)
            self._audit_stranger(user, text, claim)
            return
        try:
            command = parse(text, self.inventory.environments, hints=visible)
        except CommandError as exc:
            await ack(response_type="ephemeral", text=exc.answer)
            return
        if isinstance(command, OnCallShow | Incidents | OnCallOverride):
            await self._on_oncall(ack, command, user, channel, claim)
            return
        if isinstance(command, Help | Envs):
            answer = (help_text if isinstance(command, Help) else envs_text)(
                self.inventory, user, groups
            )
            await ack(response_type="ephemeral", text=answer)
            return
        # a report's permission follows its declared risk; diagnose and audit are in the table
        reports = report_specs()
        needed = (
            reports[command.verb].permission
            if command.verb in reports
            else COMMAND_PERMISSIONS[command.verb]
        )
        decision = authorise(self.inventory, command.env, user, groups, needed)
        if not decision.allowed:
            await ack(response_type="ephemeral", text=decision.reason)
            self._audit_denied(user, command.env, command.verb, decision.reason, claim)
            return
        await ack()
        work: Awaitable[None] | None = None
        if isinstance(command, Diagnose):
            work = self.diagnoses.diagnose(command, user, channel)
        elif isinstance(command, Volumes | Disk | Report):
            params = command.params if isinstance(command, Report) else {}
            work = self.reports.report(command.verb, command.env, user, channel, params)
        elif isinstance(command, Audit):
            work = self.reports.audit(command, user, channel)
        if work is not None:
            self.background.spawn(work, channel=channel, user=user, claim=claim)

    def _audit_denied(
        self, user: str, env: str, what: str, reason: str, claim: Claim | None
    ) -> None:
        """The refusal's audit row, once the delivery's claim says it is not a copy."""
        self.background.spawn(self.access.denied(user, env, what, reason), claim=claim)

    def _audit_stranger(self, user: str, text: str, claim: Claim | None) -> None:
        """A stranger's command that names an environment is audited as refused, as anyone's."""
        try:
            command = parse(text, self.inventory.environments)
        except CommandError:
            return
        env = getattr(command, "env", None)
        if isinstance(env, str):
            self._audit_denied(user, env, command.verb, "no role on any environment", claim)

    async def _on_oncall(
        self,
        ack: Any,
        command: OnCallShow | Incidents | OnCallOverride,
        user: str,
        channel: str,
        claim: Claim | None,
    ) -> None:
        """``/stack oncall``, ``/stack oncall override``, ``/stack incidents``."""
        desk = self.desk
        if desk is None:
            await ack(response_type="ephemeral", text=messages.NO_ONCALL_DATABASE)
            return
        groups = await self.access.groups_of(user)
        if command.env is None:
            if not visible_environments(self.inventory, user, groups):
                await ack(response_type="ephemeral", text=messages.NO_ROLE)
                return
        else:
            needed = COMMAND_PERMISSIONS[command.verb]
            decision = authorise(self.inventory, command.env, user, groups, needed)
            if not decision.allowed:
                await ack(response_type="ephemeral", text=decision.reason)
                self._audit_denied(user, command.env, command.verb, decision.reason, claim)
                return
        await ack()
        if isinstance(command, OnCallShow):
            work = desk.show_oncall(command, user, channel)
        elif isinstance(command, Incidents):
            work = desk.list_incidents(command, user, channel)
        else:
            work = desk.override(command, user, channel)
        self.background.spawn(work, channel=channel, user=user, claim=claim)

    # --- buttons -----------------------------------------------------------------------

    def _click(self, work: Work) -> Listener:
        """A button's listener: ack at once, then ``work(body)`` in the background."""

        async def listener(ack: Any, body: Mapping[str, Any], context: Mapping[str, Any]) -> None:
            await ack()
            user, channel, _ = click_parts(body)
            self.background.spawn(work(body), channel=channel, user=user, claim=claim_of(context))

        return listener

    async def _approve(self, body: Mapping[str, Any]) -> None:
        await self.fixes.approved(body, approve=True)

    async def _deny(self, body: Mapping[str, Any]) -> None:
        await self.fixes.approved(body, approve=False)
