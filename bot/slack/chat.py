"""Sending to Slack: the Web API client and the few ways the app posts with it.

Nothing here renders: messages come from ``bot.render.slack``, already within
Slack's limits.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.slack import SlackMessage, ephemeral_error
from bot.slack.settings import SlackSettings


def web_client(settings: SlackSettings) -> AsyncWebClient:
    """The Web API client: ``SLACK_API_URL`` as its base, retries for 429 and 5xx."""
    client = AsyncWebClient(token=settings.bot_token.get_secret_value(), base_url=settings.api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=5))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


class Chat:
    """Posting through ``client``: answers only one user sees, channel lines, thread replies."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def tell(self, channel: str, user: str, text: str) -> None:
        """An error or refusal only ``user`` sees (redacted and escaped)."""
        message = ephemeral_error(text)
        await self.client.chat_postEphemeral(
            channel=channel, user=user, text=message.text, blocks=message.blocks
        )

    async def ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)

    async def say(self, channel: str, text: str) -> None:
        await self.client.chat_postMessage(channel=channel, text=text)

    async def thread(
        self, channel: str, ts: str | None, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """A reply in the thread of ``ts`` (in the channel itself when ``ts`` is None)."""
        await self.client.chat_postMessage(channel=channel, thread_ts=ts, text=text, blocks=blocks)

    async def post_thread(self, message: SlackMessage, channel: str, ts: str) -> None:
        """What ``message`` puts in its thread: the replies, then the files."""
        for reply in message.thread:
            await self.client.chat_postMessage(
                channel=channel, thread_ts=ts, text=reply.text, blocks=reply.blocks
            )
        for filename, content in message.files:
            await self.client.files_upload_v2(
                channel=channel, thread_ts=ts, filename=filename, content=content
            )
