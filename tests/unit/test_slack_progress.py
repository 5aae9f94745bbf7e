"""Progress updates are coalesced: many updates, few messages, the latest text wins."""

from __future__ import annotations

import asyncio

from bot.slack.progress import Coalescer
from bot.slack.settings import SlackSettings


async def test_many_updates_become_few_messages_with_the_latest_text() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    coalescer = Coalescer(send, interval=0.2)
    for i in range(20):
        coalescer.update(f"{i} of 20 checks done")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    assert 1 <= len(sent) <= 3
    assert sent[-1] == "19 of 20 checks done"


async def test_flush_drops_what_is_scheduled() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    coalescer = Coalescer(send, interval=10)
    coalescer.update("first")
    await asyncio.sleep(0.05)
    coalescer.update("second")
    await coalescer.flush()
    await asyncio.sleep(0.05)
    assert sent == ["first"]


def test_settings_name_what_is_missing() -> None:
    import pytest

    from bot.model.errors import ConfigError

    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        SlackSettings.from_environ(
            {"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y"}, socket_mode=True
        )
    http = SlackSettings.from_environ(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
        },
        socket_mode=False,
    )
    assert http.api_url == "http://127.0.0.1:9/api/" and http.app_token is None
    assert "xoxb-1" not in repr(http)
