"""The fixes a message offers: each planned now and stored as a pending action, so a
button carries only the stored id (``bot.stores.pending``), and a click confirms the
plan the person saw. Without the audit database there is nothing to store: no button.
"""

from __future__ import annotations

import logging

from bot.framework.action import Snapshot
from bot.inventory.access import needs_approval
from bot.inventory.config.models import Inventory
from bot.model.diagnosis import DiagnosisReport
from bot.model.errors import StackbotError
from bot.model.findings import Finding, Fix
from bot.operations import Operations
from bot.render.slack import ButtonValue
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.pending import PendingActions

_log = logging.getLogger("stackbot.slack")


class Offers:
    def __init__(
        self, inventory: Inventory, operations: Operations, pending: PendingActions | None
    ) -> None:
        self.inventory = inventory
        self.operations = operations
        self.pending = pending

    async def button_values(
        self, report: DiagnosisReport, user: str, channel: str, ts: str
    ) -> ButtonValue:
        """A stored pending action per fix the report offers (its button's value)."""
        values: dict[tuple[str, int], str] = {}
        if self.pending is not None:
            for finding in report.findings:
                for index, fix in enumerate(finding.fixes):
                    value = await self.fix(report.environment, finding, fix, user, channel, ts)
                    if value is not None:
                        values[(finding.id, index)] = value

        def button_value(finding: Finding, fix: Fix) -> str | None:
            return values.get((finding.id, finding.fixes.index(fix)))

        return button_value

    async def fix(
        self, env: str, finding: Finding, fix: Fix, user: str, channel: str, ts: str
    ) -> str | None:
        """Plan the fix now and store it: the button carries only the stored id."""
        action = self.operations.actions.get(fix.action)
        if action is None or self.pending is None:
            return None
        try:
            plan = await self.operations.plan_fix(env, fix.action, fix.params)
            params = action.params.model_validate(dict(fix.params))
        except (StackbotError, ValueError):
            return None
        if plan.refusal or plan.empty:
            return None
        try:
            pending = await self.pending.create(
                environment=env,
                action=action.name,
                plan=plan,
                requester=user,
                params=params,
                host=params.host,
                finding_id=finding.id,
                channel=channel,
                message_ts=ts,
                needs_approval=needs_approval(self.inventory, env, destructive=action.destructive),
            )
        except AuditUnavailable as exc:  # the report still goes out, this fix without a button
            _log.warning("no button for %s on %s: %s", action.name, finding.id, exc.message)
            return None
        return str(pending.id)

    async def restore(
        self, env: str, host: str, snapshot: Snapshot, user: str, channel: str, root: str | None
    ) -> str | None:
        """The value of a "Restore this snapshot" button: putting ``snapshot`` back, planned
        now and stored (the button carries only the stored id), approval as the
        environment's policy says for a destructive fix. None (no button; the message
        still prints the command) without the audit database, or when the restore is
        refused or cannot be planned now."""
        action = self.operations.actions.get(Snapshot.RESTORE)
        if action is None or self.pending is None:
            return None
        given = snapshot.restore_params(host)
        try:
            plan = await self.operations.plan_fix(env, action.name, given)
            params = action.params.model_validate(given)
        except (StackbotError, ValueError) as exc:
            _log.warning("no restore button for %s: %s", snapshot.path, exc)
            return None
        if plan.refusal or plan.empty:
            _log.warning("no restore button for %s: %s", snapshot.path, plan.refusal)
            return None
        try:
            pending = await self.pending.create(
                environment=env,
                action=action.name,
                plan=plan,
                requester=user,
                params=params,
                host=params.host,
                channel=channel,
                message_ts=root,
                needs_approval=needs_approval(self.inventory, env, destructive=action.destructive),
            )
        except AuditUnavailable as exc:  # the result still goes out, naming the command
            _log.warning("no restore button for %s: %s", snapshot.path, exc.message)
            return None
        return str(pending.id)
