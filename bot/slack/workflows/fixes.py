"""A fix button's click: authorise the clicker, ask for approval or claim and run the
stored plan (``propose_fix`` with the plan the button was shown with, then
``apply_fix``); then the report edited in place, the result with what to do next in
the thread, and the cure watched."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.framework.action import Action, ActionResult, Snapshot
from bot.inventory.access import COMMAND_PERMISSIONS
from bot.model.errors import StackbotError
from bot.oncall.cure_watch import Cure
from bot.oncall.models import IncidentStatus
from bot.operations import PERMISSION_OF_RISK, Operations, Requester
from bot.render.slack import (
    approval_request,
    fixed_line,
    mark_fixed,
    report_messages,
    result_message,
)
from bot.render.slack.cure import diagnose_again_button, resolve_button
from bot.slack.access import SlackAccess
from bot.slack.chat import Chat
from bot.slack.incidents import IncidentDesk
from bot.slack.kept import KeptReport, KeptReports
from bot.slack.payloads import click_parts, thread_root
from bot.slack.workflows.offers import Offers
from bot.stores.pending import PendingAction, PendingActions, PendingError


class Fixes:
    def __init__(
        self,
        operations: Operations,
        pending: PendingActions | None,
        chat: Chat,
        access: SlackAccess,
        offers: Offers,
        kept: KeptReports,
        desk: IncidentDesk | None,
    ) -> None:
        self.operations = operations
        self.pending = pending
        self.chat = chat
        self.access = access
        self.offers = offers
        self.kept = kept
        self.desk = desk
        # the report's blocks as the click saw them, by pending id (to edit it in place)
        self._reports: dict[str, list[dict[str, Any]]] = {}

    async def clicked(self, body: Mapping[str, Any]) -> None:
        """A fix button: authorise the clicker, then run it (or ask for approval)."""
        user, channel, pending_id = click_parts(body)
        if self.pending is None:
            await self.chat.tell(channel, user, "Fix buttons need the audit database.")
            return
        pending = await self._pending_of(user, channel, pending_id)
        if pending is None:
            return
        needed = PERMISSION_OF_RISK[self.operations.action(pending.action).risk]  # declared
        if not await self.access.may(user, channel, pending.environment, pending.action, needed):
            return
        self._reports[str(pending.id)] = list((body.get("message") or {}).get("blocks") or [])
        if pending.needs_approval:
            try:
                await self.pending.request_approval(pending.id, user)
            except PendingError as exc:
                await self.chat.tell(channel, user, exc.message)
                return
            ask = approval_request(pending.id, pending.action, pending.environment, user)
            await self.chat.thread(channel, self._root(body, pending), ask.text, ask.blocks)
            return
        await self._claim_and_run(pending_id, user, channel, self._root(body, pending))

    async def approved(self, body: Mapping[str, Any], *, approve: bool) -> None:
        """Approve or Deny: authorise the approver, then run the fix (or say it was denied)."""
        user, channel, pending_id = click_parts(body)
        if self.pending is None:
            return
        pending = await self._pending_of(user, channel, pending_id)
        if pending is None or not await self.access.may(
            user,
            channel,
            pending.environment,
            pending.action,
            COMMAND_PERMISSIONS["approve" if approve else "deny"],
        ):
            return
        try:
            if not approve:
                await self.pending.deny(pending.id, user)
                await self.chat.thread(
                    channel, self._root(body, pending), f"<@{user}> denied {pending.action}."
                )
                return
            await self.pending.approve(pending.id, user)
        except PendingError as exc:
            await self.chat.tell(channel, user, exc.message)
            return
        await self._claim_and_run(pending_id, user, channel, self._root(body, pending))

    def _root(self, body: Mapping[str, Any], pending: PendingAction) -> str | None:
        """Where what follows a click goes: the thread the clicked message is in (an
        incident's root), else the thread of the report the pending action came from."""
        return thread_root(body) or self.kept.root(pending.message_ts) or pending.message_ts

    async def _pending_of(self, user: str, channel: str, pending_id: str) -> PendingAction | None:
        """The pending action behind a button; the clicker is told when there is none."""
        assert self.pending is not None
        try:
            return await self.pending.get(pending_id)
        except PendingError as exc:
            await self.chat.tell(channel, user, exc.message)
            return None

    async def _claim_and_run(
        self, pending_id: str, user: str, channel: str, root: str | None = None
    ) -> None:
        """Claim the pending action and run it; replies go to ``root`` (the thread the
        clicked message is in) or else under the report."""
        assert self.pending is not None
        try:
            pending = await self.pending.claim(pending_id, user)
        except PendingError as exc:
            await self.chat.tell(channel, user, exc.message)
            return
        action: Action[Any] = self.operations.action(pending.action)
        started = time.monotonic()
        audit_id = None
        try:
            fix = await self.operations.propose_fix(
                Requester(user, "slack"),
                pending.environment,
                action.name,
                pending.params,
                authorised={"by": user, "approved_by": pending.approver},
                plan=pending.plan,  # the plan the button was shown with
                context={"pending": str(pending.id)},
            )
            audit_id = str(fix.audit.correlation_id) if fix.audit else None
            result = await self.operations.apply_fix(fix, by=user, how="slack button")
            cured_at = self.desk.oncall.clock.now() if self.desk else None
        except StackbotError as exc:
            await self.pending.finish(pending.id, "failed", {"error": exc.message})
            await self.chat.thread(
                channel, root or pending.message_ts, f"{action.name} was not applied: {exc.message}"
            )
            return
        ok = result.status in ("applied", "nothing to do")
        await self.pending.finish(
            pending.id, "done" if ok else "failed", result.model_dump(mode="json")
        )
        await self._after_fix(pending, result, user, channel, root or pending.message_ts,
                              seconds=time.monotonic() - started, audit_id=audit_id,
                              cured_at=cured_at)  # fmt: skip

    async def _after_fix(
        self, pending: PendingAction, result: ActionResult, user: str, channel: str,
        root: str | None, *, seconds: float, audit_id: str | None, cured_at: datetime | None,
    ) -> None:  # fmt: skip
        """The report updated in place, the result with what is left and what to do next
        (Resolve the incident, Diagnose again) in the thread root, and a cure watched."""
        ok = result.status in ("applied", "nothing to do")
        # putting a snapshot back is an undo, not a cure: no Resolve, no stability watch
        cured = (
            result.status == "applied"
            and (result.post_check is None or result.post_check.cleared)
            and pending.action != Snapshot.RESTORE
        )
        kept = self.kept.get(pending.message_ts)
        blocks = self._reports.pop(str(pending.id), [])
        note = None
        if ok and pending.finding_id and pending.message_ts and pending.channel:
            line = fixed_line(user, seconds)
            if kept is not None:
                note = await self._report_again(pending, kept, line, user)
            elif blocks:
                edited = mark_fixed(blocks, pending.finding_id, line)
                if edited is not None:  # a report this process did not post
                    await self.chat.client.chat_update(
                        channel=pending.channel, ts=pending.message_ts, text=line, blocks=edited
                    )
        desk = self.desk
        incident = await desk.incident_of(channel, root) if desk is not None and root else None
        buttons = []
        if cured and incident is not None and incident.status is not IncidentStatus.RESOLVED:
            buttons.append(resolve_button(incident.id))
        if ok:
            buttons.append(diagnose_again_button(pending.environment, kept.stack if kept else None))
        restores = [
            await self.offers.restore(pending.environment, result.host, s, user, channel, root)
            for s in result.snapshots
        ]
        reply = result_message(
            result, audit_id=audit_id, note=note, buttons=buttons, restore_values=restores
        )
        await self.chat.thread(channel, root, reply.text, reply.blocks)
        if cured and desk is not None:
            finding = kept.finding(pending.finding_id) if kept is not None else None
            touched = {
                str(v)
                for source in (pending.params, result.target, result.plan.target)
                for k, v in source.items()
                if k == "container" and v
            }
            cure = Cure(
                environment=pending.environment, host=result.host, action=pending.action,
                params=pending.params, fixed_by=pending.approval_requested_by or user,
                finding_id=pending.finding_id,
                stack=finding.subject.project if finding is not None else None,
                touched=tuple(sorted(touched)), incident_id=incident.id if incident else None,
                channel=channel, thread_ts=root, cured_at=cured_at,
            )  # fmt: skip
            await desk.cures.start(cure, desk)

    async def _report_again(
        self, pending: PendingAction, kept: KeptReport, line: str, user: str
    ) -> str:
        """Diagnose the report's environment again and render it over the same message:
        the fixed finding struck out with who fixed it, the header saying what is left,
        a "Diagnose again" button. Returns the status line, for the result message."""
        assert pending.message_ts is not None and pending.channel is not None
        finding_id = pending.finding_id
        assert finding_id is not None
        before = kept.finding(finding_id)
        report = await self.operations.diagnose(
            Requester(user, "slack"), pending.environment, stack=kept.stack
        )
        kept.fixed[finding_id] = line
        if before is not None:
            kept.gone[finding_id] = before
        present = {f.id for f in report.findings}
        for fid in present:  # fixed, but found again: shown as it is now
            kept.gone.pop(fid, None)
            kept.fixed.pop(fid, None)
        kept.report = report
        values = await self.offers.button_values(
            report, kept.requested_by, pending.channel, pending.message_ts
        )
        message = report_messages(
            report, button_value=values, requested_by=kept.requested_by,
            fixed=kept.fixed,
            resolved=list(kept.gone.values()), diagnose_again=True, stack=kept.stack,
        )  # fmt: skip
        await self.chat.client.chat_update(
            channel=pending.channel, ts=pending.message_ts, text=message.text,
            blocks=message.blocks,
        )  # fmt: skip
        return f"*Now*: {message.text}"
