"""`stackbot serve`: the Slack bot, in Socket Mode (default) or HTTP mode behind a load balancer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import psycopg
from aiohttp import ClientSession, web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.inventory.config.models import Inventory
from bot.model.errors import UsageError
from bot.oncall.intake import add_intake_routes
from bot.oncall.watcher import Watcher
from bot.operations import WATCHER
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.errors import AuditUnavailable
from bot.stores.audit.setup import data_dir, open_trail
from bot.stores.audit.store import AuditStore
from bot.stores.audit.trail import AuditTrail
from bot.stores.pending import PendingActions
from bot.transport import Transport

EVENTS_PATH = "/slack/events"  # bolt's usual path
ALERT_TOKEN_VARIABLE = "STACKBOT_ALERT_TOKEN"  # noqa: S105 (a variable name)
_log = logging.getLogger("stackbot")


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
    # One transport for the life of the process: every request, the incident desk and the
    # watcher share its SSH connections, which its reaper closes after ssh.idle_close unused.
    async with (
        open_trail(inventory, environ) as trail,
        Transport(inventory.ssh) as transport,
        delivery_claims(trail) as claims,
        ClientSession() as slack_session,
    ):
        bot = SlackBot(
            inventory,
            settings,
            trail=trail,
            lock_dir=data_dir(inventory, environ) / "locks",
            transport=transport,
        )
        if claims is not None:
            bot.deliveries.store = claims
        # one HTTP session for every Web API call (bolt's per-request clients share it too):
        # its connections are kept and reused, where by default each call opens and closes
        # one (a TLS handshake each to slack.com), on the loop the acks share
        bot.client.session = slack_session
        await bot.refresh_groups()  # so the first /stack is acked without waiting for Slack
        web_app = bot.app.server(port=port, path=EVENTS_PATH, host=host).web_app if http else None
        token = environ.get(ALERT_TOKEN_VARIABLE, "")
        if bot.incidents is not None and token:
            web_app = web_app or web.Application()
            add_intake_routes(
                web_app,
                token=token,
                environments=alert_environments(inventory),
                sink=bot.incidents.receive,
            )
            _log.info("alert intake on POST /alerts/{env}")
        elif not token:
            _log.info("alert intake off: %s is not set", ALERT_TOKEN_VARIABLE)
        background = _on_call_loops(bot, stop)
        runner = None
        handler = None
        try:
            if web_app is not None:
                runner = web.AppRunner(web_app)
                await runner.setup()
                try:
                    await web.TCPSite(runner, host, port).start()
                except OSError as exc:
                    raise UsageError(
                        f"cannot listen on {host}:{port}: "
                        f"{os.strerror(exc.errno) if exc.errno else exc} "
                        "(choose another with --port/--host)"
                    ) from exc
                _log.info("listening on http://%s:%d", host, port)
            if not http:
                assert settings.app_token is not None
                handler = AsyncSocketModeHandler(bot.app, settings.app_token.get_secret_value())
                await handler.connect_async()  # type: ignore[no-untyped-call]
            if ready is not None:
                ready.set()
            await stop.wait()
        finally:
            stop.set()
            if handler is not None:
                await handler.close_async()  # type: ignore[no-untyped-call]
            if runner is not None:
                await runner.cleanup()
            await asyncio.gather(*background, return_exceptions=True)
            await bot.drain()


CLAIM_CONNECTIONS = 10  # a burst's deliveries are claimed side by side


@asynccontextmanager
async def delivery_claims(trail: AuditTrail) -> AsyncIterator[AuditStore | None]:
    """The delivery claims' own connections to the audit database. The ack does not wait
    for a claim, but every bit of a delivery's work does (``bot.slack.deliveries``); on
    the trail's pool (four connections) a claim would queue behind the audit rows and
    stored plans a burst of requests writes, and each request's work behind it. None
    without a database (claims stay in memory)."""
    if trail.store is None:
        yield None
        return
    async with AuditStore(trail.store.conninfo, label=trail.store.label) as store:
        await store.pool.resize(2, CLAIM_CONNECTIONS)
        yield store


def alert_environments(inventory: Inventory) -> list[str]:
    """Environments alerts may be sent to: those with a channel to post incidents in."""
    return [name for name, env in inventory.environments.items() if env.slack_channel]


SWEEP_EVERY = 60.0  # seconds between sweeps of stored actions past their time


async def sweep_pending(pending: PendingActions, stop: asyncio.Event, every: float) -> None:
    """Mark stored actions past their expiry ``expired`` and claims abandoned mid-run
    (a crash, ``kill -9``) ``failed``, every ``every`` seconds until ``stop``: nothing
    stays claimed for ever and the audit database says what became of each. A database
    that does not answer is tried again next time."""
    while not stop.is_set():
        try:
            ended = await pending.expire_old()
        except (AuditUnavailable, psycopg.Error) as exc:
            _log.warning("stored actions not swept: %s", exc)
        else:
            if ended:
                _log.info("stored actions ended: %d (expired or abandoned)", len(ended))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def _on_call_loops(bot: SlackBot, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The stored actions' sweep; the cure watch's loop; the escalation loop, and the
    watcher when an environment asks for one."""
    sweeps = (
        [asyncio.ensure_future(sweep_pending(bot.pending, stop, SWEEP_EVERY))]
        if bot.pending is not None
        else []
    )
    return sweeps + _incident_loops(bot, stop)


def _incident_loops(bot: SlackBot, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    desk = bot.incidents
    if desk is None:
        if alert_environments(bot.inventory):
            _log.warning("on-call is off: the database cannot be reached")
        return []
    # every cure is watched, with or without on-call (its checks share the one transport)
    loops = [asyncio.ensure_future(desk.cures.run(desk, stop))]
    if not alert_environments(bot.inventory):
        return loops  # no environment has a channel for incidents: nothing to escalate
    loops.append(asyncio.ensure_future(desk.oncall.run(desk, stop)))
    operations = bot.operations
    watcher = Watcher(desk.oncall, desk.receive, lambda env: operations.diagnose(WATCHER, env))
    if watcher.watched():
        loops.append(asyncio.ensure_future(watcher.run(stop)))
    return loops
