"""`stackbot serve`: the Slack bot, in Socket Mode (default) or HTTP mode behind a load balancer."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.audit.setup import data_dir, open_trail
from bot.config.models import Inventory
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings

EVENTS_PATH = "/slack/events"  # bolt's usual path


async def serve(
    inventory: Inventory,
    *,
    http: bool,
    host: str = "0.0.0.0",  # noqa: S104 - HTTP mode listens for Slack behind a load balancer
    port: int = 3000,
    environ: Mapping[str, str] = os.environ,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until cancelled. ``ready`` is set once requests are accepted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SlackSettings.from_environ(environ, socket_mode=not http)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop promptly (also as PID 1 in a container)
        loop.add_signal_handler(signum, stop.set)
    async with open_trail(inventory, environ) as trail:
        bot = SlackBot(
            inventory, settings, trail=trail, lock_dir=data_dir(inventory, environ) / "locks"
        )
        await bot.refresh_groups()  # so the first /stack is acked without waiting for Slack
        try:
            if http:
                runner = web.AppRunner(
                    bot.app.server(port=port, path=EVENTS_PATH, host=host).web_app
                )
                await runner.setup()
                await web.TCPSite(runner, host, port).start()
                logging.getLogger("stackbot").info(
                    "listening on http://%s:%d%s", host, port, EVENTS_PATH
                )
                if ready is not None:
                    ready.set()
                try:
                    await stop.wait()
                finally:
                    await runner.cleanup()
            else:
                assert settings.app_token is not None
                handler = AsyncSocketModeHandler(bot.app, settings.app_token.get_secret_value())
                await handler.connect_async()  # type: ignore[no-untyped-call]
                if ready is not None:
                    ready.set()
                try:
                    await stop.wait()
                finally:
                    await handler.close_async()  # type: ignore[no-untyped-call]
        finally:
            await bot.drain()
