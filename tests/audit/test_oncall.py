"""On-call end to end, with an injected clock: real Postgres, real HTTP, the Slack stand-in.

Alerts come in over HTTP (aiohttp's server on loopback), incidents and timers
live in a real Postgres, clicks are requests signed as Slack signs them, and
every message goes to the Slack stand-in. The only host is on loopback with
no known_hosts entry, so a diagnosis on acknowledgement is real (the SSH
transport refuses the host and the report says so); the lab test shows real
findings.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.inventory.config import Inventory, parse_inventory
from bot.oncall.alerts import parse_payload
from bot.oncall.intake import add_intake_routes
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore, RowFilter
from bot.stores.audit.trail import AuditTrail
from tests.clock import FakeClock
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, Message, SlackStub
from tests.slackstub.signing import block_actions_body, signed_headers, slash_command_body
from tests.unit.oncall.test_alerts import alertmanager_firing

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["slack_api"]

SECRET = "oncall-signing-secret"
TOKEN = "alert-token-for-tests-0123456789"
ALICE, BOB, CAROL, DAVE, VIEWER, STRANGER = (
    "UALICE", "UBOB", "UCAROL", "UDAVE", "UVIEWER", "USTRANGER",
)  # fmt: skip
CHANNEL = "CPROD"
# Wednesday of Alice's week (the rotation starts Monday 2026-11-02, 09:00 Berlin = 08:00 UTC)
WEDNESDAY = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)


def refused_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return parse_inventory(
        {
            "environments": {
                "prod": {
                    "hosts": {
                        "web1": {
                            "address": "127.0.0.1",
                            "port": refused_port(),
                            "user": "deploy",
                            "connect_timeout": 3,
                        }
                    },
                    "slack_channel": CHANNEL,
                    "access": {"viewer": [VIEWER], "operator": [ALICE, BOB, CAROL, DAVE]},
                    "oncall": {
                        "rotation": {
                            "users": [ALICE, BOB, CAROL],
                            "start": "2026-11-02",
                            "handoff": {"weekday": "monday", "time": "09:00"},
                            "timezone": "Europe/Berlin",
                            "secondary": DAVE,
                        },
                        "escalation": [
                            {"after": "5m", "page": "primary"},
                            {"after": "10m", "page": "secondary"},
                            {"after": "15m", "page": "channel"},
                        ],
                    },
                },
                "quiet": {"hosts": {"h": {"address": "127.0.0.1"}}, "access": {"viewer": [VIEWER]}},
            },
            "data_dir": str(tmp_path / "state"),
        },
        source="test",
        base_dir=tmp_path,
    )


@asynccontextmanager
async def replica(
    inventory: Inventory, conninfo: str, slack: SlackStub, clock: Any, spool: Path
) -> AsyncIterator[SlackBot]:
    """One stackbot process: its own pool on the shared database, drained at the end."""
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET),
        api_url=slack.api_url,
    )  # fmt: skip
    async with AuditStore(conninfo, timeout=3) as store:
        trail = AuditTrail(store, Spool(spool))
        bot = SlackBot(
            inventory, settings, trail=trail, lock_dir=spool.parent / "locks", clock=clock,
            progress_interval=0.05,
        )  # fmt: skip
        try:
            yield bot
        finally:
            await bot.drain()
        assert bot.failures == []


@asynccontextmanager
async def intake(bot: SlackBot) -> AsyncIterator[str]:
    """The alert endpoint of ``bot`` on a loopback port; yields its base URL."""
    assert bot.incidents is not None
    app = web.Application()
    add_intake_routes(app, token=TOKEN, environments=["prod"], sink=bot.incidents.receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/alerts"))
    finally:
        await server.close()


@asynccontextmanager
async def started(
    inventory: Inventory, conninfo: str, slack: SlackStub, tmp_path: Path,
    at: datetime = WEDNESDAY,
) -> AsyncIterator[tuple[SlackBot, str, FakeClock]]:  # fmt: skip
    """One replica with its alert endpoint, on a clock the test moves."""
    clock = FakeClock(at)
    async with (
        replica(inventory, conninfo, slack, clock, tmp_path / "a.jsonl") as bot,
        intake(bot) as url,
    ):
        yield bot, url, clock


async def post_alert(
    url: str, payload: object, *, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": payload}
        async with session.post(f"{url}/prod", headers=headers, **kwargs) as response:
            return response.status, await response.json()


def one_alert(fingerprint: str = "8c3e1a0b5d7f2e91", status: str = "firing") -> dict[str, Any]:
    payload = alertmanager_firing()
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["fingerprint"] = fingerprint
    payload["alerts"][0]["status"] = payload["status"] = status
    payload["groupKey"] = f'{{}}:{{alertname="PostgresDown", fingerprint="{fingerprint}"}}'
    return payload


async def send(bot: SlackBot, body: bytes) -> Any:
    headers = signed_headers(body, SECRET)
    request = AsyncBoltRequest(
        body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
    )
    response = await bot.app.async_dispatch(request)
    assert response.status == 200
    await bot.drain()
    return response


def incident_messages(slack: SlackStub) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.thread_ts is None]


def thread(slack: SlackStub, parent: Message) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.thread_ts == parent.ts]


def buttons(message: Message) -> dict[str, str]:
    """Label → action_id of the message's buttons."""
    return {
        element["text"]["text"]: element["action_id"]
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    }


async def click(bot: SlackBot, message: Message, label: str, user: str) -> None:
    action_id = buttons(message)[label]
    value = action_id.split(":", 1)[1]
    await send(
        bot, block_actions_body(action_id, value, user_id=user, channel_id=CHANNEL,
                                message_ts=message.ts),
    )  # fmt: skip


async def incident_count(conninfo: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cur = await conn.execute("SELECT count(*) FROM incidents")
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def test_an_alert_opens_one_incident_mentioning_who_is_on_call_and_resolves_it(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, clock):
        status, answer = await post_alert(url, one_alert())
        assert status == 200 and answer["opened"] == 1
        await bot.drain()
        (message,) = incident_messages(slack_api)
        assert f"<@{ALICE}>" in str(message.blocks) and f"<@{ALICE}>" in message.text
        assert "Postgres is down on db" in str(message.blocks)
        assert set(buttons(message)) == {"Acknowledge", "Diagnose", "Resolve"}

        clock.advance(timedelta(minutes=1))
        status, answer = await post_alert(url, one_alert())  # Alertmanager repeats itself
        assert status == 200 and answer["opened"] == 0 and answer["repeated"] == 1
        await bot.drain()
        assert len(incident_messages(slack_api)) == 1
        assert await incident_count(conninfo) == 1

        clock.advance(timedelta(minutes=2))
        status, answer = await post_alert(url, one_alert(status="resolved"))
        assert status == 200 and answer["resolved"] == 1
        await bot.drain()
        (message,) = incident_messages(slack_api)
        assert message.edits >= 1 and "Resolved" in str(message.blocks)
        assert "alertmanager" in str(message.blocks) and "3 min" in str(message.blocks)
        assert buttons(message) == {}  # nothing left to click
        assert any("cleared" in m.text for m in thread(slack_api, message))

        # the same alert firing again later is a new incident
        clock.advance(timedelta(hours=1))
        status, answer = await post_alert(url, one_alert())
        assert answer["opened"] == 1
        await bot.drain()
        assert len(incident_messages(slack_api)) == 2
        assert not slack_api.violations


async def test_acknowledge_records_who_and_how_long_and_diagnoses_into_the_thread(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, clock):
        await post_alert(url, one_alert())
        await bot.drain()
        (message,) = incident_messages(slack_api)

        await click(bot, message, "Acknowledge", STRANGER)  # no role on prod
        assert "no role" in slack_api.ephemerals(STRANGER)[-1].text.lower()
        (message,) = incident_messages(slack_api)
        assert "Not acknowledged yet" in str(message.blocks)

        clock.advance(timedelta(minutes=2, seconds=5))
        as_seen = message  # what Bob's Slack still shows
        await click(bot, message, "Acknowledge", ALICE)
        (message,) = incident_messages(slack_api)
        assert f"*Acknowledged* by <@{ALICE}> after 2 min 5 s" in str(message.blocks)
        assert set(buttons(message)) == {"Diagnose", "Resolve"}
        replies = thread(slack_api, message)
        diagnosis = [r for r in replies if "🔴 prod — 1 critical" in str(r.blocks)]
        assert diagnosis, [r.blocks for r in replies]  # the diagnosis ran, into the thread
        # the only host has no known_hosts entry: the real SSH transport refuses it, and says so
        assert "web1" in str(diagnosis[0].blocks) and "unknown SSH host key" in diagnosis[0].text

        await click(bot, message, "Diagnose", VIEWER)  # anyone with a role may diagnose again
        reports = [r for r in thread(slack_api, message) if "🔴 prod — 1 critical" in str(r.blocks)]
        assert len(reports) == 2

        await click(bot, as_seen, "Acknowledge", BOB)  # a second click, someone else
        assert f"already acknowledged by <@{ALICE}>" in slack_api.ephemerals(BOB)[-1].text

        # acknowledged: escalation has stopped
        clock.advance(timedelta(hours=1))
        assert bot.incidents is not None
        assert await bot.incidents.run_due() == []
        assert [m for m in slack_api.messages() if m.channel in (ALICE, DAVE)] == []

        # /stack incidents lists it; Resolve closes it
        await send(bot, slash_command_body("incidents prod", user_id=VIEWER, channel_id=CHANNEL))
        listing = slack_api.ephemerals(VIEWER)[-1]
        assert "Postgres is down on db" in str(listing.blocks)
        assert f"acknowledged by <@{ALICE}>" in str(listing.blocks)
        await click(bot, message, "Resolve", STRANGER)  # no role: refused, still open
        assert "no role" in slack_api.ephemerals(STRANGER)[-1].text.lower()
        await click(bot, message, "Resolve", VIEWER)
        (message,) = incident_messages(slack_api)
        assert f"*Resolved* by <@{VIEWER}>" in str(message.blocks)
        await send(bot, slash_command_body("incidents", user_id=VIEWER, channel_id=CHANNEL))
        assert "No open incidents" in slack_api.ephemerals(VIEWER)[-1].text

        assert bot.trail is not None and bot.trail.store is not None
        rows = await bot.trail.store.rows(RowFilter(environment="prod"))
        kinds = [(r.kind, r.actor) for r in rows]
        assert ("incident_opened", "alertmanager") in kinds
        assert ("acknowledged", ALICE) in kinds and ("resolved", VIEWER) in kinds
        assert ("denied", STRANGER) in kinds
        ack = next(r for r in rows if r.kind == "acknowledged")
        assert ack.details["seconds_to_acknowledge"] == 125
        # the incident's id is the correlation id: `stackbot audit show <id>` tells its story
        story = await bot.trail.store.story(str(ack.details["incident"]))
        assert [r.kind for r in story] == ["incident_opened", "acknowledged", "resolved"]
        assert not slack_api.violations


async def test_no_acknowledgement_pages_primary_then_secondary_then_the_channel_on_time(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, clock):
        desk = bot.incidents
        assert desk is not None
        await post_alert(url, one_alert())
        await bot.drain()
        (message,) = incident_messages(slack_api)

        timeline: list[tuple[timedelta, list[str]]] = []
        for offset in (4 * 60 + 59, 5 * 60, 5 * 60 + 30, 9 * 60 + 59, 10 * 60, 15 * 60, 3600):
            clock.set(WEDNESDAY + timedelta(seconds=offset))
            pages = await desk.run_due()
            timeline.append((timedelta(seconds=offset), [p.page for p in pages]))
        assert timeline == [
            (timedelta(minutes=4, seconds=59), []),
            (timedelta(minutes=5), ["primary"]),
            (timedelta(minutes=5, seconds=30), []),
            (timedelta(minutes=9, seconds=59), []),
            (timedelta(minutes=10), ["secondary"]),
            (timedelta(minutes=15), ["channel"]),
            (timedelta(hours=1), []),
        ]
        (to_alice,) = slack_api.messages(ALICE)
        (to_dave,) = slack_api.messages(DAVE)
        assert "Postgres is down on db" in str(to_alice.blocks)
        assert "nobody has acknowledged" in str(to_dave.blocks)
        replies = thread(slack_api, message)
        assert [r.text.split(":")[0] for r in replies if r.text.startswith("Paged <@")] == [
            f"Paged <@{ALICE}> (the on-call person)", f"Paged <@{DAVE}> (the secondary)",
        ]  # fmt: skip
        channel_call = slack_api.last("chat.postMessage")
        assert "<!channel>" in str(channel_call.body.get("blocks"))
        assert channel_call.body.get("reply_broadcast") in (True, "true", "1")
        assert not slack_api.violations


async def test_the_rotation_handoff_and_an_override_pick_the_right_person(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    handoff = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin: Alice → Bob
    async with started(
        inventory, conninfo, slack_api, tmp_path, at=handoff - timedelta(seconds=30)
    ) as (bot, url, clock):
        desk = bot.incidents
        assert desk is not None
        await post_alert(url, one_alert("before-handoff"))
        await bot.drain()
        clock.set(handoff + timedelta(seconds=30))
        await post_alert(url, one_alert("after-handoff"))
        await bot.drain()
        first, second = incident_messages(slack_api)
        assert f"On call: <@{ALICE}>" in str(first.blocks)
        assert f"On call: <@{BOB}>" in str(second.blocks)
        # the first incident's page, due after the handoff, goes to who is on call then
        clock.set(handoff - timedelta(seconds=30) + timedelta(minutes=5))
        pages = await desk.run_due()
        assert [(p.page, p.target) for p in pages] == [("primary", BOB)]
        await bot.drain()
        first = next(m for m in incident_messages(slack_api) if m.ts == first.ts)
        assert f"On call: <@{BOB}>" in str(first.blocks)  # the message follows the pager

        # /stack oncall prod: Bob now, Carol next
        await send(bot, slash_command_body("oncall prod", user_id=VIEWER, channel_id=CHANNEL))
        shown = str(slack_api.ephemerals(VIEWER)[-1].blocks)
        assert f"<@{BOB}> until 2026-11-16 08:00 UTC" in shown and f"next: <@{CAROL}>" in shown

        # a viewer may not hand the pager over; Bob (operator) may, to Dave, for 2 hours
        refused = await send(
            bot, slash_command_body(f"oncall override prod <@{DAVE}|dave> 2h", user_id=VIEWER,
                                    channel_id=CHANNEL),
        )  # fmt: skip
        assert "operator" in refused.body
        await send(
            bot, slash_command_body(f"oncall override prod <@{STRANGER}> 2h", user_id=BOB,
                                    channel_id=CHANNEL),
        )  # fmt: skip
        assert "no role on prod" in slack_api.ephemerals(BOB)[-1].text
        await send(
            bot, slash_command_body(f"oncall override prod <@{DAVE}|dave> 2h", user_id=BOB,
                                    channel_id=CHANNEL),
        )  # fmt: skip
        said = [m.text for m in slack_api.messages(CHANNEL) if "handed the pager" in m.text]
        assert said == [f"<@{BOB}> handed the pager for `prod` to <@{DAVE}> for 2 h (until "
                        "2026-11-09 10:04 UTC)."]  # fmt: skip
        await post_alert(url, one_alert("during-override"))
        await bot.drain()
        assert f"On call: <@{DAVE}>" in str(incident_messages(slack_api)[-1].blocks)
        await send(bot, slash_command_body("oncall", user_id=VIEWER, channel_id=CHANNEL))
        shown = str(slack_api.ephemerals(VIEWER)[-1].blocks)
        assert f"<@{DAVE}> until 2026-11-09 10:04 UTC" in shown and f"<@{BOB}>" in shown

        clock.advance(timedelta(hours=2))
        await post_alert(url, one_alert("after-override"))
        await bot.drain()
        assert f"On call: <@{BOB}>" in str(incident_messages(slack_api)[-1].blocks)

        assert bot.trail is not None and bot.trail.store is not None
        rows = await bot.trail.store.rows(RowFilter(environment="prod"))
        (override,) = [r for r in rows if r.kind == "override"]
        assert override.actor == BOB and override.details["user"] == DAVE
        assert not slack_api.violations


async def test_a_restart_mid_escalation_pages_once_and_on_time_even_with_two_replicas(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock = FakeClock(WEDNESDAY)
    async with (
        replica(inventory, conninfo, slack_api, clock, tmp_path / "a.jsonl") as first,
        intake(first) as url,
    ):
        await post_alert(url, one_alert())
        await first.drain()
    assert len(incident_messages(slack_api)) == 1  # announced, then the process stopped

    # two new processes come up after the first page fell due: it goes out once
    clock.set(WEDNESDAY + timedelta(minutes=5, seconds=1))
    async with (
        replica(inventory, conninfo, slack_api, clock, tmp_path / "b.jsonl") as b,
        replica(inventory, conninfo, slack_api, clock, tmp_path / "c.jsonl") as c,
    ):
        assert b.incidents is not None and c.incidents is not None
        desks = (b.incidents, c.incidents)
        results = await asyncio.gather(*(desk.run_due() for desk in desks for _ in range(3)))
        assert sorted(len(r) for r in results) == [0, 0, 0, 0, 0, 1]
        assert len(slack_api.messages(ALICE)) == 1
        assert await b.incidents.oncall.store.next_due() == WEDNESDAY + timedelta(minutes=10)

    # the real loop, restarted shortly before the next step, sends it when it falls due
    due = WEDNESDAY + timedelta(minutes=10)
    running = RunningClock(due - timedelta(seconds=0.6))
    async with replica(inventory, conninfo, slack_api, running, tmp_path / "d.jsonl") as d:
        assert d.incidents is not None
        stop = asyncio.Event()
        loop = asyncio.ensure_future(d.incidents.oncall.run(d.incidents, stop))
        await slack_api.wait_for_async(
            "chat.postMessage", lambda call: call.body.get("channel") == DAVE, timeout=10
        )
        stop.set()
        await loop
        (incident,) = await d.incidents.oncall.store.open_incidents(["prod"])
        (paged,) = [
            e for e in await d.incidents.oncall.store.events(incident.id)
            if e["details"].get("page") == "secondary"
        ]  # fmt: skip
        assert due <= paged["at"] < due + timedelta(seconds=3)
    assert len(slack_api.messages(DAVE)) == 1 and len(slack_api.messages(ALICE)) == 1


class RunningClock:
    """Fake time that runs at real speed from ``start``."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.began = datetime.now(UTC)

    def now(self) -> datetime:
        return self.start + (datetime.now(UTC) - self.began)


async def test_wrong_token_or_malformed_payload_is_refused_and_nothing_is_stored(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, _):
        assert bot.incidents is not None
        assert await bot.incidents.oncall.store.open_incidents(["prod"]) == []  # schema in place
        status, body = await post_alert(url, one_alert(), token="wrong-token")
        assert status == 401 and body["ok"] is False and "token" in body["error"]
        status, body = await post_alert(url, one_alert(), token=None)
        assert status == 401 and "Authorization" in body["error"]
        status, body = await post_alert(url, None, raw=b"{not json")
        assert status == 400 and "JSON" in body["error"]
        broken = one_alert()
        broken["alerts"][0]["labels"] = {"alertname": 5}
        status, body = await post_alert(url, broken)
        assert status == 400 and "alerts[0].labels" in body["error"]
        status, body = await post_alert(url, {**one_alert(), "version": "3"})
        assert status == 400 and "version" in body["error"]
        await bot.drain()
        assert await incident_count(conninfo) == 0
        assert slack_api.calls("chat.postMessage") == []


async def test_the_paged_person_acknowledges_from_the_direct_message(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, clock):
        desk = bot.incidents
        assert desk is not None
        await post_alert(url, one_alert())
        await post_alert(url, one_alert())  # a repeat: the message counts it
        await bot.drain()
        (message,) = incident_messages(slack_api)
        assert "2 alerts" in str(message.blocks)
        clock.advance(timedelta(minutes=5))
        assert [p.page for p in await desk.run_due()] == ["primary"]
        (page,) = slack_api.messages(ALICE)
        assert "<!channel>" not in str(page.blocks)
        clock.advance(timedelta(seconds=20))
        action_id = buttons(page)["Acknowledge"]
        await send(
            bot, block_actions_body(action_id, action_id.split(":", 1)[1], user_id=ALICE,
                                    channel_id=ALICE, message_ts=page.ts),
        )  # fmt: skip
        (message,) = incident_messages(slack_api)
        assert f"*Acknowledged* by <@{ALICE}> after 5 min 20 s" in str(message.blocks)
        assert any("🔴 prod — 1 critical" in str(m.blocks) for m in thread(slack_api, message))
        clock.advance(timedelta(minutes=30))
        assert await desk.run_due() == []
        assert slack_api.messages(DAVE) == []


class FlakyPager:
    """The desk, but the first announcement fails (Slack answering an error, say)."""

    def __init__(self, desk: Any) -> None:
        self.desk = desk
        self.failures = 1

    async def announce(self, incident: Any, oncall: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("chat.postMessage failed")
        await self.desk.announce(incident, oncall)

    async def page(self, page: Any) -> None:
        await self.desk.page(page)

    async def closed(self, incident: Any) -> None:
        await self.desk.closed(incident)

    async def digested(self, digest: Any) -> None:
        await self.desk.digested(digest)


async def test_a_step_that_cannot_be_sent_is_tried_again_later_and_sent_once(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock = FakeClock(WEDNESDAY)
    async with replica(inventory, conninfo, slack_api, clock, tmp_path / "a.jsonl") as bot:
        desk = bot.incidents
        assert desk is not None
        flaky = FlakyPager(desk)
        await desk.oncall.ingest("prod", parse_payload(one_alert()))
        assert await desk.oncall.run_due(flaky) == []  # failed: given back, not lost
        assert incident_messages(slack_api) == []
        assert await desk.oncall.run_due(flaky) == []  # not hammered: retried in 30 s
        clock.advance(timedelta(seconds=30))
        assert [p.page for p in await desk.oncall.run_due(flaky)] == ["announce"]
        assert await desk.oncall.run_due(flaky) == []
        assert len(incident_messages(slack_api)) == 1
        # the escalation still counts from the opening, not from the retry
        assert await desk.oncall.store.next_due() == WEDNESDAY + timedelta(minutes=5)


async def test_two_replicas_share_one_incident_and_one_watch_per_period(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock = FakeClock(WEDNESDAY)
    async with (
        replica(inventory, conninfo, slack_api, clock, tmp_path / "b.jsonl") as b,
        replica(inventory, conninfo, slack_api, clock, tmp_path / "c.jsonl") as c,
    ):
        assert b.incidents is not None and c.incidents is not None
        desks = (b.incidents, c.incidents)
        # the same alert reaches both replicas at once, several times (Alertmanager HA pairs)
        alerts = parse_payload(one_alert())
        results = await asyncio.gather(
            *(desk.receive("prod", list(alerts)) for desk in desks for _ in range(4))
        )
        assert sorted(r.opened for r in results) == [0] * 7 + [1]
        await asyncio.gather(b.drain(), c.drain())
        await asyncio.gather(*(desk.run_due() for desk in desks))
        await asyncio.gather(b.drain(), c.drain())
        (message,) = incident_messages(slack_api)
        assert "8 alerts" in str(message.blocks)

        stores = [desk.oncall.store for desk in desks]
        every = timedelta(minutes=5)
        first = await asyncio.gather(
            *(s.claim_watch("prod", every, clock.now()) for s in stores * 3)
        )
        assert first.count(True) == 1  # one replica runs this period's watch
        clock.advance(timedelta(minutes=4))
        assert not any([await s.claim_watch("prod", every, clock.now()) for s in stores])
        clock.advance(timedelta(minutes=1))
        again = await asyncio.gather(
            *(s.claim_watch("prod", every, clock.now()) for s in stores * 3)
        )
        assert again.count(True) == 1
