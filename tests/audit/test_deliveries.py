"""Exactly once per delivery, across replicas: two bots on one real Postgres, 1,000 deliveries.

Deliveries are requests signed as Slack signs them, mixing first deliveries,
exact replays (the same bytes and headers again), Slack retries (the same body,
re-signed later, with ``X-Slack-Retry-Num``) and double clicks (a second click on
the same button: a delivery of its own, which the pending action's single-use
claim refuses). Each lands on one of two replicas at random, 25 at a time.
``/stack audit prod`` needs no host; a click runs a real fix whose host refuses
the connection at once (a loopback port nothing listens on), after the four
durable audit rows that say it was requested.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.framework.action import Plan, Step
from bot.inventory.config import Inventory, parse_inventory
from bot.slack.app import SlackBot
from bot.slack.deliveries import Deliveries, DeliveryKey
from bot.slack.settings import SlackSettings
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore, RowFilter
from bot.stores.audit.trail import AuditTrail
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import block_actions_body, signed_headers, slash_command_body

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["slack_api"]

SECRET = "deliveries-signing-secret"
VIEWER, ALICE, BOB = "UVIEWER", "UALICE", "UBOB"
OPS = "COPS"
DELIVERIES = 1_000
COMMANDS = 400  # first deliveries of `/stack audit prod`, each in a channel of its own
BUTTONS = 40  # pending actions, clicked one to three times each
PLAN = Plan(
    action="container.restart",
    target={"container": "shop_db"},
    destructive=False,
    steps=(Step(description="restart shop_db", call="POST /containers/shop_db/restart"),),
)


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    host = {"address": "127.0.0.1", "port": refused_port(), "connect_timeout": 2}
    return parse_inventory(
        {
            "environments": {
                "prod": {
                    "hosts": {"web1": host},
                    "access": {"viewer": [VIEWER], "operator": [ALICE, BOB]},
                }
            },
            "data_dir": str(tmp_path / "state"),
        },
        source="test",
        base_dir=tmp_path,
    )


@asynccontextmanager
async def replica(
    inventory: Inventory, conninfo: str, slack: SlackStub, spool: Path
) -> AsyncIterator[SlackBot]:
    """One stackbot process: its own pool on the shared database, drained at the end."""
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET),
        api_url=slack.api_url,
    )  # fmt: skip
    async with AuditStore(conninfo, timeout=5) as store:
        trail = AuditTrail(store, Spool(spool))
        bot = SlackBot(inventory, settings, trail=trail, lock_dir=spool.parent / "locks")
        try:
            yield bot
        finally:
            await bot.drain()


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    what: str  # "command:N" or "click:PENDING_ID"


def signed(body: bytes, timestamp: int, retry: int | None = None) -> dict[str, str]:
    headers = signed_headers(body, SECRET, timestamp)
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


async def send(bot: SlackBot, delivery: Delivery) -> BoltResponse:
    request = AsyncBoltRequest(
        body=delivery.body.decode(),
        headers={k.lower(): [v] for k, v in delivery.headers.items()},
    )
    return await bot.app.async_dispatch(request)


def schedule(
    rng: random.Random, pending_ids: list[str], now: int
) -> tuple[list[Delivery], Counter[str]]:
    """The deliveries in the order they arrive, and what each distinct one is."""
    firsts: list[Delivery] = []
    for n in range(COMMANDS):
        body = slash_command_body(
            "audit prod 3", user_id=VIEWER, channel_id=f"C{n:04d}", trigger_id=f"cmd-{n}"
        )
        firsts.append(Delivery(body, signed(body, now), f"command:{n}"))
    clicks = 0
    for pending_id in pending_ids:
        for _ in range(rng.randint(1, 3)):  # a double (or triple) click: new deliveries
            clicks += 1
            body = block_actions_body(
                f"fix:{pending_id}", pending_id, user_id=rng.choice([ALICE, BOB]),
                channel_id=OPS, trigger_id=f"click-{clicks}",
            )  # fmt: skip
            firsts.append(Delivery(body, signed(body, now), f"click:{pending_id}"))
    kinds: Counter[str] = Counter(d.what.split(":")[0] for d in firsts)
    copies = []
    for _ in range(DELIVERIES - len(firsts)):
        of = rng.choice(firsts)
        if rng.random() < 0.5:
            copies.append(of)  # an exact replay: the same bytes, the same headers
            kinds["replay"] += 1
        else:  # a Slack retry: the same body, signed again a little later
            headers = signed(of.body, now + rng.randint(1, 60), retry=rng.randint(1, 3))
            copies.append(Delivery(of.body, headers, of.what))
            kinds["retry"] += 1
    arrivals = firsts + copies
    rng.shuffle(arrivals)
    return arrivals, kinds


async def test_a_thousand_deliveries_on_two_replicas_run_each_command_once(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    rng = random.Random(14)  # issue #14; any seed must do
    started = time.monotonic()
    async with (
        replica(inventory, conninfo, slack_api, tmp_path / "a" / "spool.jsonl") as a,
        replica(inventory, conninfo, slack_api, tmp_path / "b" / "spool.jsonl") as b,
    ):
        assert a.pending is not None
        pending_ids = []
        for _ in range(BUTTONS):  # each behind a report message of its own, as in real life
            report = await a.client.chat_postMessage(channel=OPS, text="prod · report")
            pending = await a.pending.create(
                environment="prod", action="container.restart", plan=PLAN, requester=ALICE,
                params={"host": "web1", "container": "shop_db"}, host="web1", channel=OPS,
                message_ts=str(report["ts"]),
            )  # fmt: skip
            pending_ids.append(str(pending.id))
        arrivals, kinds = schedule(rng, pending_ids, int(time.time()))
        assert len(arrivals) == DELIVERIES
        responses: list[BoltResponse] = []
        for start in range(0, DELIVERIES, 25):
            batch = arrivals[start : start + 25]
            responses += await asyncio.gather(*(send(rng.choice([a, b]), d) for d in batch))
        await asyncio.gather(a.drain(), b.drain())

        assert [r.status for r in responses] == [200] * DELIVERIES
        distinct = len({d.body for d in arrivals})
        assert distinct == kinds["command"] + kinds["click"]

        # every command ran once: one audit listing in each command's own channel
        per_channel = Counter(m.channel for m in slack_api.messages() if m.channel != OPS)
        assert len(per_channel) == COMMANDS and set(per_channel.values()) == {1}

        # every button's fix was requested once, however often and wherever it was clicked
        assert a.trail is not None and a.trail.store is not None
        rows = await a.trail.store.rows(RowFilter(environment="prod"))
        requested = Counter(r.details.get("pending") for r in rows if r.kind == "requested")
        assert requested == Counter({pending_id: 1 for pending_id in pending_ids})

        # each later click (a delivery of its own) was told once; no replay or retry was
        refusals = slack_api.ephemerals(ALICE) + slack_api.ephemerals(BOB)
        assert len(refusals) == kinds["click"] - BUTTONS, [m.text for m in refusals]
        assert all("claimed" in m.text or "done" in m.text for m in refusals), refusals

        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            cur = await conn.execute("SELECT count(*) FROM slack_deliveries")
            assert await cur.fetchone() == (distinct,)
        assert a.failures == [] and b.failures == []
        assert not slack_api.violations
    print(
        f"\n{DELIVERIES} deliveries ({kinds['command']} commands, {kinds['click']} clicks on "
        f"{BUTTONS} buttons, {kinds['replay']} replays, {kinds['retry']} retries): "
        f"{sum(per_channel.values())} command runs, {sum(requested.values())} fixes requested, "
        f"{time.monotonic() - started:.1f} s"
    )


async def test_one_key_claimed_at_once_by_many_replicas_is_won_once(conninfo: str) -> None:
    key = DeliveryKey(uuid.uuid4().hex * 2, "event", retry=1)
    stores = [AuditStore(conninfo, timeout=5) for _ in range(4)]
    for store in stores:
        await store.open()
    try:
        claims = [Deliveries(store) for store in stores]
        won = await asyncio.gather(*(c.first(key) for c in claims for _ in range(10)))
        assert won.count(True) == 1
        # old claims are swept now and then; a fresh one stays
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO slack_deliveries (key, seen_at) VALUES ('old', now() - interval '2h')"
            )
        await claims[0]._sweep(stores[0])
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            cur = await conn.execute("SELECT key FROM slack_deliveries ORDER BY key")
            assert await cur.fetchall() == [(key.digest,)]
    finally:
        for store in stores:
            await store.close()


async def test_without_the_database_this_process_still_drops_its_replays() -> None:
    down = AuditStore(f"host=127.0.0.1 port={refused_port()} dbname=x user=x", timeout=0.5)
    await down.open()
    try:
        claims = Deliveries(down)
        key = DeliveryKey("k" * 64, "body")
        assert await claims.first(key) is True  # the database is down: this process decides
        assert await claims.first(key) is False
    finally:
        await down.close()
