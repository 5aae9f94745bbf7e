"""``/stack diagnose``: the report in the channel (or an incident's thread), edited in as
the hosts finish; its fixes as buttons; "Diagnose again" after a fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.framework.engine import environment_hosts
from bot.inventory.access import COMMAND_PERMISSIONS
from bot.inventory.config.models import Inventory
from bot.model.diagnosis import DiagnosisReport
from bot.model.outcome import HostOutcome
from bot.operations import Operations, Requester
from bot.render.slack import progress_message, report_messages
from bot.slack.access import SlackAccess
from bot.slack.chat import Chat
from bot.slack.commands import Diagnose
from bot.slack.kept import KeptReport, KeptReports
from bot.slack.payloads import click_parts, thread_root
from bot.slack.progress import Coalescer
from bot.slack.workflows.offers import Offers

STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # a stack name a button may carry


class Diagnoses:
    def __init__(
        self,
        inventory: Inventory,
        operations: Operations,
        chat: Chat,
        access: SlackAccess,
        offers: Offers,
        kept: KeptReports,
        *,
        progress_interval: float,
    ) -> None:
        self.inventory = inventory
        self.operations = operations
        self.chat = chat
        self.access = access
        self.offers = offers
        self.kept = kept
        self._interval = progress_interval

    @property
    def client(self) -> AsyncWebClient:
        return self.chat.client

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
        await self.post_report(report, channel, ts, user, root=root)

    async def post_report(
        self, report: DiagnosisReport, channel: str, ts: str, user: str, *, root: str
    ) -> None:
        """``report`` over the message ``ts`` (its fixes as buttons), the rest in ``root``'s
        thread."""
        button_value = await self.offers.button_values(report, user, channel, ts)
        message = report_messages(report, button_value=button_value, requested_by=user)
        await self.client.chat_update(
            channel=channel, ts=ts, text=message.text, blocks=message.blocks
        )
        await self.chat.post_thread(message, channel, root)

    async def again(self, body: Mapping[str, Any]) -> None:
        """ "Diagnose again" (after a fix): the environment's diagnosis, into the same thread."""
        user, channel, value = click_parts(body)
        env, _, stack = value.partition(" ")
        if env not in self.inventory.environments or (stack and not STACK.fullmatch(stack)):
            await self.chat.tell(channel, user, "That button no longer names an environment.")
            return
        needed = COMMAND_PERMISSIONS["diagnose"]
        if not await self.access.may(user, channel, env, "diagnose", needed):
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
