"""The Slack app: `/stack` commands acked at once, work in the background, reports in place.

Listeners only parse, authorise and ``ack()``; the work runs in tasks the bot
keeps (``SlackBot.tasks``), so Slack always gets its answer within 3 seconds.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import Awaitable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.framework.action import Action, ActionResult, Snapshot
from bot.framework.engine import environment_hosts
from bot.framework.executor import Sessions
from bot.inventory.access import (
    COMMAND_PERMISSIONS,
    Permission,
    authorise,
    needs_approval,
    permissions,
    visible_environments,
)
from bot.inventory.config.models import Inventory
from bot.model.diagnosis import DiagnosisReport
from bot.model.errors import StackbotError
from bot.model.findings import Finding, Fix
from bot.model.outcome import HostOutcome
from bot.oncall.clock import Clock, SystemClock
from bot.oncall.cure_watch import Cure
from bot.oncall.models import IncidentStatus
from bot.oncall.service import OnCall
from bot.oncall.store import IncidentStore
from bot.operations import Operations, Requester, render_outcome
from bot.redaction.redact import redact_text
from bot.render.slack import (
    ButtonValue,
    SlackMessage,
    ephemeral_error,
    escape,
    progress_message,
    report_messages,
    result_message,
)
from bot.render.slack.cure import DIAGNOSE_AGAIN, diagnose_again_button, resolve_button
from bot.slack import messages
from bot.slack.commands import (
    REPORTS,
    SUMMARY,
    USAGE,
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
from bot.slack.deliveries import Deliveries
from bot.slack.incidents import IncidentDesk
from bot.slack.kept import KeptReport, KeptReports
from bot.slack.payloads import click_parts as _click
from bot.slack.payloads import thread_root
from bot.slack.progress import Coalescer
from bot.slack.settings import SlackSettings
from bot.stores.audit.store import RowFilter
from bot.stores.audit.trail import AuditTrail
from bot.stores.pending import PendingAction, PendingActions, PendingError

_log = logging.getLogger("stackbot.slack")
COMMAND_PERMISSION = Permission.VIEW
TEXT_LIMIT = 2900  # a section's text is at most 3,000 characters
STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # a stack name a button may carry
GROUP_TTL = 300.0


def web_client(settings: SlackSettings) -> AsyncWebClient:
    """The Web API client: ``SLACK_API_URL`` as its base, retries for 429 and 5xx."""
    client = AsyncWebClient(token=settings.bot_token.get_secret_value(), base_url=settings.api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=5))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


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
        self.client = web_client(settings)
        self.tasks: set[asyncio.Task[None]] = set()
        self.trail = trail
        self.pending = PendingActions(trail.store) if trail and trail.store else None
        self.lock_dir = lock_dir
        self.operations = Operations(inventory, trail=trail, lock_dir=lock_dir, transport=transport)
        self._interval = progress_interval
        self.failures: list[BaseException] = []
        self._members: dict[str, frozenset[str]] = {}
        self._groups_at = float("-inf")
        self._refreshing = False
        # the report's blocks as the click saw them, by pending id (to edit it in place)
        self._reports: dict[str, list[dict[str, Any]]] = {}
        self.kept = KeptReports()  # the reports posted, to re-render them after a fix
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret.get_secret_value(),
            raise_error_for_unhandled_request=False,
        )
        # before every listener: a replayed or retried delivery is acked and runs nothing
        self.deliveries = Deliveries(trail.store if trail else None)
        self.app.middleware(self.deliveries.middleware)
        self.app.command("/stack")(self._on_stack)
        self.app.action(re.compile(r"^fix:"))(self._on_fix)
        self.app.action(re.compile(r"^approve:"))(self._on_approve)
        self.app.action(re.compile(r"^deny:"))(self._on_deny)
        self.app.action(re.compile(rf"^{DIAGNOSE_AGAIN}:"))(self._on_diagnose_again)
        # on-call needs the database (incidents, timers): no store, no incidents
        self.incidents: IncidentDesk | None = None
        if trail is not None and trail.store is not None:
            oncall = OnCall(inventory, IncidentStore(trail.store), clock or SystemClock())
            self.incidents = IncidentDesk(self, oncall)

    # --- listeners: parse, ack, hand off -------------------------------------------------

    async def _on_stack(self, ack: Any, body: Mapping[str, Any]) -> None:
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        text = str(body.get("text", ""))
        groups = await self.groups_of(user)
        visible = visible_environments(self.inventory, user, groups)
        if not visible:  # a stranger: one answer, whatever the text (SECURITY.md, "Strangers")
            await ack(response_type="ephemeral", text=messages.NO_ROLE)
            await self._audit_stranger(user, text)
            return
        try:
            command = parse(text, self.inventory.environments, hints=visible)
        except CommandError as exc:
            await ack(response_type="ephemeral", text=exc.answer)
            return
        if isinstance(command, OnCallShow | Incidents | OnCallOverride):
            await self._on_oncall(ack, command, user, channel)
            return
        if isinstance(command, Help | Envs):
            answer = (
                self._help(user, groups) if isinstance(command, Help) else self._envs(user, groups)
            )
            await ack(response_type="ephemeral", text=answer)
            return
        needed = REPORTS[command.verb].permission if command.verb in REPORTS else COMMAND_PERMISSION
        decision = authorise(self.inventory, command.env, user, groups, needed)
        if not decision.allowed:
            await ack(response_type="ephemeral", text=decision.reason)
            await self.audit_denied(user, command.env, command.verb, decision.reason)
            return
        await ack()
        if isinstance(command, Diagnose):
            self.spawn(self.diagnose(command, user, channel), channel=channel, user=user)
        elif isinstance(command, Volumes | Disk | Report):
            params = command.params if isinstance(command, Report) else {}
            self.spawn(
                self.report(command.verb, command.env, user, channel, params),
                channel=channel,
                user=user,
            )
        elif isinstance(command, Audit):
            self.spawn(self.audit(command, user, channel), channel=channel, user=user)

    async def _audit_stranger(self, user: str, text: str) -> None:
        """A stranger's command that names an environment is audited as refused, as anyone's."""
        try:
            command = parse(text, self.inventory.environments)
        except CommandError:
            return
        env = getattr(command, "env", None)
        if isinstance(env, str):
            await self.audit_denied(user, env, command.verb, "no role on any environment")

    async def _on_oncall(
        self, ack: Any, command: OnCallShow | Incidents | OnCallOverride, user: str, channel: str
    ) -> None:
        """``/stack oncall``, ``/stack oncall override``, ``/stack incidents``."""
        desk = self.incidents
        if desk is None:
            await ack(response_type="ephemeral", text=messages.NO_ONCALL_DATABASE)
            return
        groups = await self.groups_of(user)
        if command.env is None:
            if not visible_environments(self.inventory, user, groups):
                await ack(response_type="ephemeral", text=messages.NO_ROLE)
                return
        else:
            needed = COMMAND_PERMISSIONS[command.verb]
            decision = authorise(self.inventory, command.env, user, groups, needed)
            if not decision.allowed:
                await ack(response_type="ephemeral", text=decision.reason)
                await self.audit_denied(user, command.env, command.verb, decision.reason)
                return
        await ack()
        if isinstance(command, OnCallShow):
            work = desk.show_oncall(command, user, channel)
        elif isinstance(command, Incidents):
            work = desk.list_incidents(command, user, channel)
        else:
            work = desk.override(command, user, channel)
        self.spawn(work, channel=channel, user=user)

    def spawn(self, work: Awaitable[object], *, channel: str = "", user: str = "") -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self._guarded(work, channel, user))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, work: Awaitable[object], channel: str, user: str) -> None:
        """Background work never fails silently: the user hears of it, the bot keeps it."""
        try:
            await work
        except StackbotError as exc:
            self.failures.append(exc)
            if channel and user:
                await self.tell(channel, user, exc.message)
        except Exception as exc:
            self.failures.append(exc)
            if channel and user:
                await self.tell(channel, user, f"stackbot failed: {type(exc).__name__}")
            raise

    async def drain(self) -> None:
        """Wait for the background work (tests, and a graceful stop)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    # --- the work ------------------------------------------------------------------------

    async def diagnose(
        self, command: Diagnose, user: str, channel: str, *, thread_ts: str | None = None
    ) -> None:
        """The report in ``channel`` (or in the thread of ``thread_ts``), edited in as it runs."""
        hosts = environment_hosts(self.inventory, command.env)
        first = progress_message(command.env, len(hosts))
        posted = await self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=first.text, blocks=first.blocks
        )
        ts = str(posted["ts"])
        done = 0

        async def update(text: str) -> None:
            await self.client.chat_update(channel=channel, ts=ts, text=text)

        progress = Coalescer(update, interval=self._interval)

        async def host_done(outcome: HostOutcome[Any]) -> None:
            nonlocal done
            done += 1
            progress.update(progress_message(command.env, len(hosts), done).text)

        report = await self.operations.diagnose(
            Requester(user, "slack"), command.env, stack=command.stack, on_host_done=host_done
        )
        await progress.flush()
        root = thread_ts or ts
        self.kept.keep(ts, KeptReport(report, command.stack, user, root))
        await self._post_report(report, channel, ts, user, root=root)

    async def _post_report(
        self, report: DiagnosisReport, channel: str, ts: str, user: str, *, root: str
    ) -> None:
        button_value = await self._button_values(report, user, channel, ts)
        message = report_messages(report, button_value=button_value, requested_by=user)
        await self.client.chat_update(
            channel=channel, ts=ts, text=message.text, blocks=message.blocks
        )
        await self._post_thread(message, channel, root)

    async def _button_values(
        self, report: DiagnosisReport, user: str, channel: str, ts: str
    ) -> ButtonValue:
        """A stored pending action per fix the report offers (its button's value)."""
        values: dict[tuple[str, int], str] = {}
        if self.pending is not None:
            for finding in report.findings:
                for index, fix in enumerate(finding.fixes):
                    value = await self._pending_for(
                        report.environment, finding, fix, user, channel, ts
                    )
                    if value is not None:
                        values[(finding.id, index)] = value

        def button_value(finding: Finding, fix: Fix) -> str | None:
            return values.get((finding.id, finding.fixes.index(fix)))

        return button_value

    async def _pending_for(
        self,
        env: str,
        finding: Finding,
        fix: Fix,
        user: str,
        channel: str,
        ts: str,
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
        return str(pending.id)

    async def _pending_restore(
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
        return str(pending.id)

    async def _post_thread(self, message: SlackMessage, channel: str, ts: str) -> None:
        for reply in message.thread:
            await self.client.chat_postMessage(
                channel=channel, thread_ts=ts, text=reply.text, blocks=reply.blocks
            )
        for filename, content in message.files:
            await self.client.files_upload_v2(
                channel=channel, thread_ts=ts, filename=filename, content=content
            )

    async def report(
        self, verb: str, env: str, user: str, channel: str, params: dict[str, Any] | None = None
    ) -> None:
        """Any report (volumes, disk, logs, ps…): its text as a code block, whole as a file
        in the thread when it is long."""
        outcome = await self.operations.report(Requester(user, "slack"), verb, env, params)
        console = Console(record=True, width=200, file=io.StringIO())
        render_outcome(outcome, console)
        text = redact_text(console.export_text())
        await self._post_text(channel, f"{verb} · {env}", text, f"{verb}-{env}.txt")

    async def audit(self, command: Audit, user: str, channel: str) -> None:
        if self.trail is None or self.trail.store is None:
            await self.tell(channel, user, "The audit trail cannot be read right now.")
            return
        rows = await self.trail.store.rows(RowFilter(environment=command.env, limit=command.count))
        lines = [
            f"{r.seq:>6} {r.at:%Y-%m-%d %H:%M:%S}Z {r.kind:<12} {r.actor} ({r.surface}) "
            f"{r.action or '-'}  [{str(r.correlation_id)[:8]}]"
            for r in rows
        ]
        text = "\n".join(lines) or "no audit rows for this environment yet"
        await self._post_text(
            channel, f"audit · {command.env} · last {command.count}", text, "audit.txt"
        )

    async def _post_text(self, channel: str, title: str, text: str, filename: str) -> None:
        """A code block within Slack's limits; the whole text as a file when it does not fit.

        The limit is on the escaped text (``<`` becomes ``&lt;``): cut after escaping,
        never inside an entity."""
        fence = "`" * 3
        safe = escape(text).replace(fence, "` ` `")
        cut = len(safe) > TEXT_LIMIT
        if cut:
            safe = safe[:TEXT_LIMIT]
            entity = safe.rfind("&")
            if entity != -1 and ";" not in safe[entity:]:
                safe = safe[:entity]
            safe += "\n…"
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{fence}{safe}{fence}"}},
        ]
        posted = await self.client.chat_postMessage(channel=channel, text=title, blocks=blocks)
        if cut:
            await self.client.files_upload_v2(
                channel=channel, thread_ts=str(posted["ts"]), filename=filename, content=text
            )

    # --- buttons ------------------------------------------------------------------------

    async def _on_fix(self, ack: Any, body: Mapping[str, Any]) -> None:
        await ack()
        user, channel, _ = _click(body)
        self.spawn(self.clicked(body), channel=channel, user=user)

    async def _on_approve(self, ack: Any, body: Mapping[str, Any]) -> None:
        await ack()
        user, channel, _ = _click(body)
        self.spawn(self.approved(body, approve=True), channel=channel, user=user)

    async def _on_deny(self, ack: Any, body: Mapping[str, Any]) -> None:
        await ack()
        user, channel, _ = _click(body)
        self.spawn(self.approved(body, approve=False), channel=channel, user=user)

    async def _on_diagnose_again(self, ack: Any, body: Mapping[str, Any]) -> None:
        await ack()
        user, channel, _ = _click(body)
        self.spawn(self.diagnose_again(body), channel=channel, user=user)

    async def diagnose_again(self, body: Mapping[str, Any]) -> None:
        """ "Diagnose again" (after a fix): the environment's diagnosis, into the same thread."""
        user, channel, value = _click(body)
        env, _, stack = value.partition(" ")
        if env not in self.inventory.environments or (stack and not STACK.fullmatch(stack)):
            await self.tell(channel, user, "That button no longer names an environment.")
            return
        if not await self.may(user, channel, env, "diagnose", COMMAND_PERMISSION):
            return
        message = body.get("message") or {}
        root = (
            thread_root(body)
            or message.get("ts")
            or (body.get("container") or {}).get("message_ts")
        )
        await self.diagnose(
            Diagnose(env=env, stack=stack or None), user, channel,
            thread_ts=str(root) if root else None,
        )  # fmt: skip

    async def clicked(self, body: Mapping[str, Any]) -> None:
        """A fix button: authorise the clicker, then run it (or ask for approval)."""
        user, channel, pending_id = _click(body)
        if self.pending is None:
            await self.tell(channel, user, "Fix buttons need the audit database.")
            return
        pending = await self._pending_of(user, channel, pending_id)
        if pending is None or not await self.may(
            user, channel, pending.environment, pending.action, Permission.OPERATE
        ):
            return
        self._reports[str(pending.id)] = list((body.get("message") or {}).get("blocks") or [])
        if pending.needs_approval:
            try:
                await self.pending.request_approval(pending.id, user)
            except PendingError as exc:
                await self.tell(channel, user, exc.message)
                return
            await self._ask_approval(
                pending.id, pending.action, pending.environment, user, channel,
                self._root(body, pending),
            )  # fmt: skip
            return
        await self._claim_and_run(pending_id, user, channel, self._root(body, pending))

    async def approved(self, body: Mapping[str, Any], *, approve: bool) -> None:
        user, channel, pending_id = _click(body)
        if self.pending is None:
            return
        pending = await self._pending_of(user, channel, pending_id)
        if pending is None or not await self.may(
            user, channel, pending.environment, pending.action, Permission.APPROVE
        ):
            return
        try:
            if not approve:
                await self.pending.deny(pending.id, user)
                await self._thread(
                    channel, self._root(body, pending), f"<@{user}> denied {pending.action}."
                )
                return
            await self.pending.approve(pending.id, user)
        except PendingError as exc:
            await self.tell(channel, user, exc.message)
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
            await self.tell(channel, user, exc.message)
            return None

    async def may(
        self, user: str, channel: str, env: str, what: str, permission: Permission
    ) -> bool:
        """Whether ``user`` holds ``permission`` on ``env``; if not, they are told why and
        the refusal is audited (``what``: the action or button refused)."""
        decision = authorise(self.inventory, env, user, await self.groups_of(user), permission)
        if not decision.allowed:
            await self.audit_denied(user, env, what, decision.reason)
            await self.tell(channel, user, decision.reason)
        return decision.allowed

    async def _claim_and_run(
        self, pending_id: str, user: str, channel: str, root: str | None = None
    ) -> None:
        """Claim the pending action and run it; replies go to ``root`` (the thread the
        clicked message is in) or else under the report."""
        assert self.pending is not None
        try:
            pending = await self.pending.claim(pending_id, user)
        except PendingError as exc:
            await self.tell(channel, user, exc.message)
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
            cured_at = self.incidents.oncall.clock.now() if self.incidents else None
        except StackbotError as exc:
            await self.pending.finish(pending.id, "failed", {"error": exc.message})
            await self._thread(
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
            line = f"✅ fixed by <@{user}> in {seconds:.0f} s"
            if kept is not None:
                note = await self._report_again(pending, kept, line, user)
            elif blocks:
                await self._mark_fixed(
                    pending.channel, pending.message_ts, pending.finding_id, line, blocks
                )
        desk = self.incidents
        incident = await desk.incident_of(channel, root) if desk is not None and root else None
        buttons = []
        if cured and incident is not None and incident.status is not IncidentStatus.RESOLVED:
            buttons.append(resolve_button(incident.id))
        if ok:
            buttons.append(diagnose_again_button(pending.environment, kept.stack if kept else None))
        restores = [
            await self._pending_restore(pending.environment, result.host, s, user, channel, root)
            for s in result.snapshots
        ]
        reply = result_message(
            result, audit_id=audit_id, note=note, buttons=buttons, restore_values=restores
        )
        await self._thread(channel, root, reply.text, reply.blocks)
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
        values = await self._button_values(
            report, kept.requested_by, pending.channel, pending.message_ts
        )
        message = report_messages(
            report, button_value=values, requested_by=kept.requested_by,
            fixed=kept.fixed,
            resolved=list(kept.gone.values()), diagnose_again=True, stack=kept.stack,
        )  # fmt: skip
        await self.client.chat_update(
            channel=pending.channel, ts=pending.message_ts, text=message.text,
            blocks=message.blocks,
        )  # fmt: skip
        return f"*Now*: {message.text}"

    async def _mark_fixed(
        self, channel: str, ts: str, finding_id: str, line: str, blocks: list[dict[str, Any]]
    ) -> None:
        """A report this process did not post: its finding's buttons become a ✅ line."""
        edited, changed = [], False
        for block in blocks:
            if str(block.get("block_id", "")).startswith(f"fixes:{finding_id}"):
                block = {
                    "type": "context",
                    "block_id": block["block_id"],
                    "elements": [{"type": "mrkdwn", "text": line}],
                }
                changed = True
            edited.append(block)
        if changed:
            await self.client.chat_update(channel=channel, ts=ts, text=line, blocks=edited)

    async def _ask_approval(
        self, pending_id: Any, action: str, env: str, requester: str, channel: str, ts: str | None
    ) -> None:
        ask = (
            f"*Approval needed*: <@{requester}> wants to run `{action}` on `{env}` "
            "(destructive). Someone else with the approver role must approve."
        )
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": ask}},
            {
                "type": "actions",
                "block_id": f"approval:{pending_id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"approve:{pending_id}",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "value": str(pending_id),
                    },
                    {
                        "type": "button",
                        "action_id": f"deny:{pending_id}",
                        "text": {"type": "plain_text", "text": "Deny"},
                        "style": "danger",
                        "value": str(pending_id),
                    },
                ],
            },
        ]
        await self._thread(channel, ts, f"Approval needed for {action} on {env}", blocks)

    async def _thread(
        self, channel: str, ts: str | None, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        await self.client.chat_postMessage(channel=channel, thread_ts=ts, text=text, blocks=blocks)

    async def ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)

    async def say(self, channel: str, text: str) -> None:
        await self.client.chat_postMessage(channel=channel, text=text)

    async def tell(self, channel: str, user: str, text: str) -> None:
        message = ephemeral_error(text)
        await self.client.chat_postEphemeral(
            channel=channel, user=user, text=message.text, blocks=message.blocks
        )

    async def audit_denied(self, user: str, env: str, what: str, reason: str) -> None:
        await self.operations.deny(Requester(user, "slack"), env, what, reason)

    # --- who is in which user group ------------------------------------------------------

    async def groups_of(self, user: str) -> tuple[str, ...]:
        """The user groups (named in the inventory's access rules) the user belongs to.

        Answered from a cache so a listener can ack at once: loaded on first use (and by
        ``serve`` at start-up), refreshed in the background once older than ``GROUP_TTL``.
        """
        if self._groups_at == float("-inf"):
            await self.refresh_groups()
        elif time.monotonic() - self._groups_at > GROUP_TTL and not self._refreshing:
            self._refreshing = True
            self.spawn(self.refresh_groups())
        return tuple(g for g, users in self._members.items() if user in users)

    async def refresh_groups(self) -> None:
        """Members of every user group the access rules name (``usergroups.users.list``)."""
        members: dict[str, frozenset[str]] = {}
        try:
            for group in sorted(self._access_groups()):
                try:
                    answer = await self.client.usergroups_users_list(usergroup=group)
                except SlackApiError as exc:  # a deleted group grants nothing; say so in the log
                    _log.warning("user group %s: %s", group, exc.response.get("error"))
                    continue
                members[group] = frozenset(answer.get("users") or [])
            self._members, self._groups_at = members, time.monotonic()
        finally:
            self._refreshing = False

    def _access_groups(self) -> set[str]:
        rules = [self.inventory.access, *(e.access for e in self.inventory.environments.values())]
        return {
            member
            for rule in rules
            for role in (rule.viewer, rule.operator, rule.approver, rule.admin)
            for member in role
            if member.startswith("S")
        }

    # --- answers -------------------------------------------------------------------------

    def _help(self, user: str, groups: tuple[str, ...]) -> str:
        """Only what this user may run: nothing but how to get a role when they have none."""
        visible = visible_environments(self.inventory, user, groups)
        if not visible:
            return messages.NO_ROLE
        may_fix = [
            e for e in visible if Permission.OPERATE in permissions(self.inventory, e, user, groups)
        ]
        lines = ["*stackbot* — what you can run:"]
        lines += [f"• `{usage}` — {SUMMARY[verb]}" for verb, usage in USAGE.items()]
        lines.append("Environments: " + ", ".join(f"`{e}`" for e in visible))
        if may_fix:
            lines.append(f"You may apply fixes (the report's buttons) on {', '.join(may_fix)}.")
        return "\n".join(lines)

    def _envs(self, user: str, groups: tuple[str, ...]) -> str:
        visible = visible_environments(self.inventory, user, groups)
        if not visible:
            return messages.NO_ROLE
        lines = ["Environments you can see:"]
        for name in visible:
            env = self.inventory.environments[name]
            lines.append(f"• `{name}` — {len(env.hosts)} host(s): {', '.join(env.hosts)}")
        return "\n".join(lines)
