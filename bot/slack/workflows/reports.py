"""Reports as text: any read-only runbook but the diagnosis (volumes, disk, logs, ps…)
and ``/stack audit``; a code block, whole as a file in the thread when it is long."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from bot.operations import Operations, Requester, render_outcome
from bot.redaction.redact import redact_text
from bot.render.slack import text_message
from bot.slack.chat import Chat
from bot.slack.commands import Audit
from bot.stores.audit.store import RowFilter
from bot.stores.audit.trail import AuditTrail


class Reports:
    def __init__(self, operations: Operations, trail: AuditTrail | None, chat: Chat) -> None:
        self.operations = operations
        self.trail = trail
        self.chat = chat

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
        """The environment's last rows of the audit trail."""
        if self.trail is None or self.trail.store is None:
            await self.chat.tell(channel, user, "The audit trail cannot be read right now.")
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
        message = text_message(title, text, filename)
        posted = await self.chat.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks
        )
        if message.files:  # cut: the whole text in the thread
            await self.chat.post_thread(message, channel, str(posted["ts"]))
