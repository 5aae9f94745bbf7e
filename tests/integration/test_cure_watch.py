"""The loop closed in the lab: alert → acknowledge → fix → the cure is watched → the incident
resolves itself when the cure holds, or opens again (and pages) when it breaks.

Real engine over real SSH, real Postgres, the Slack stand-in. The clock runs at real
speed from a fixed Wednesday, and the test jumps it over the settle window (10 minutes,
the default) check by check: page-to-cure is real machine time, cure-to-resolved the
window. Every message of the story must be in the incident's thread (its root as
``thread_ts``), never in a thread of a reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.inventory.config import Inventory, load_inventory
from bot.model.findings import Severity
from bot.oncall.models import Alert, IncidentStatus
from bot.slack.app import SlackBot
from bot.slack.incidents import IncidentDesk
from bot.slack.settings import SlackSettings
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import RowFilter
from tests.integration.inventories import lab_host, write_inventory
from tests.integration.test_slack import SECRET, button, send
from tests.lab.lab import Lab
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, Message, SlackStub
from tests.slackstub.signing import block_actions_body

pytestmark = pytest.mark.lab
__all__ = ["slack_api"]

ALICE, BOB = "UALICE", "UBOB"  # Alice is on call this week; Bob applies the fix
CHANNEL = "CLABOPS"
BACKEND, INTERNAL = "indexo_backend_staging", "indexo-staging_internal"
WEDNESDAY = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
CHECK = timedelta(minutes=10) / 4  # the default window and checks


class RunningClock:
    """Real time from a fixed moment, plus the jumps the test makes (``advance``)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0) + self._offset

    def advance(self, by: timedelta) -> None:
        self._offset += by


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Inventory:
    path = write_inventory(
        tmp_path / "inv.yaml",
        lab,
        {
            "lab": {
                "hosts": {"h1": lab_host(lab, "h1")},
                "access": {"operator": [ALICE, BOB]},
                "slack_channel": CHANNEL,
                # the cure watch's defaults: 4 checks over 10 minutes
                "oncall": {"rotation": {"users": [ALICE, BOB], "start": "2026-11-02"}},
            }
        },
    )
    return load_inventory(path)


@asynccontextmanager
async def running(
    inventory: Inventory, slack: SlackStub, clock: RunningClock
) -> AsyncIterator[tuple[SlackBot, IncidentDesk]]:
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET),
        api_url=slack.api_url,
    )  # fmt: skip
    assert inventory.data_dir is not None
    async with open_trail(inventory) as trail:
        bot = SlackBot(
            inventory, settings, trail=trail, lock_dir=inventory.data_dir / "locks",
            progress_interval=0.05, clock=clock,
        )  # fmt: skip
        assert bot.incidents is not None
        yield bot, bot.incidents
        await bot.drain()
        assert bot.failures == []


def channel_messages(slack: SlackStub) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.ephemeral_to is None]


def labels(message: Message) -> dict[str, dict[str, Any]]:
    return {
        e["text"]["text"]: e
        for b in message.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
    }


async def click(bot: SlackBot, element: dict[str, Any], user: str, message: Message) -> None:
    shown = {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks}
    if message.thread_ts:
        shown["thread_ts"] = message.thread_ts
    body = block_actions_body(
        element["action_id"], element["value"], user_id=user, channel_id=CHANNEL,
        message_ts=message.ts, message=shown,
    )  # fmt: skip
    assert (await send(bot, body)).status == 200
    await bot.drain()


async def page_ack_and_fix(
    lab: Lab, bot: SlackBot, desk: IncidentDesk, slack: SlackStub
) -> tuple[Message, float]:
    """An alert pages Alice, she acknowledges, Bob clicks the fix in the incident's thread.
    Returns the incident's message and the real seconds from the alert to the cure."""
    alert = Alert(
        fingerprint="indexo-backend-db", source="alertmanager", severity=Severity.CRITICAL,
        title="indexo backend cannot reach its database",
    )  # fmt: skip
    paged_at = time.monotonic()
    assert (await desk.receive("lab", [alert])).opened == 1
    await bot.drain()
    (incident,) = [m for m in channel_messages(slack) if m.thread_ts is None]
    assert f"On call: <@{ALICE}>" in str(incident.blocks)

    await click(bot, labels(incident)["Acknowledge"], ALICE, incident)
    story = [m for m in channel_messages(slack) if m.thread_ts == incident.ts]
    (report,) = [
        m for m in story
        if any(str(b.get("block_id", "")).startswith("fixes:") for b in m.blocks)
    ]  # fmt: skip
    action_id, value = button(slack, report, "network.split")
    await click(bot, {"action_id": action_id, "value": value}, BOB, report)
    cured = time.monotonic() - paged_at
    networks = lab.docker("h1").containers.get(BACKEND).attrs["NetworkSettings"]["Networks"]
    assert INTERNAL in networks
    return incident, cured


def assert_one_thread(slack: SlackStub, incident: Message) -> list[Message]:
    """Every reply in the channel is in the incident's thread; returns them."""
    replies = [m for m in channel_messages(slack) if m.thread_ts is not None]
    assert replies and {m.thread_ts for m in replies} == {incident.ts}, [
        (m.thread_ts, m.text[:60]) for m in replies
    ]
    return replies


async def story_rows(bot: SlackBot, incident_id: str) -> list[Any]:
    assert bot.trail is not None and bot.trail.store is not None
    rows = await bot.trail.store.rows(RowFilter(environment="lab", limit=1000))
    return [r for r in rows if str(r.correlation_id) == incident_id]


async def test_the_cure_holds_and_the_incident_resolves_itself(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    lab.scenario("S1")  # fresh: this test fixes the stack
    clock = RunningClock(WEDNESDAY)
    try:
        async with running(inventory, slack_api, clock) as (bot, desk):
            incident, cured = await page_ack_and_fix(lab, bot, desk, slack_api)
            (row,) = await desk.oncall.store.open_incidents(["lab"])
            watch = await desk.cures.store.latest(row.id)
            assert watch is not None and watch.status == "watching"
            assert watch.checks_total == 4 and watch.settle == timedelta(minutes=10)
            assert BACKEND in watch.touched and watch.fixed_by == BOB

            # the report in the thread was updated in place: fixed, what is left, Diagnose again
            story = [m for m in channel_messages(slack_api) if m.thread_ts == incident.ts]
            (report,) = [m for m in story if any(b.get("block_id") == "again" for b in m.blocks)]
            assert report.edits >= 2  # progress → report → after the fix
            assert f"fixed by <@{BOB}>" in str(report.blocks)
            assert "left" in report.blocks[0]["text"]["text"] or "healthy" in report.text
            # the result: what is left now, Resolve one click away, in the incident's thread
            (result,) = [m for m in story if "network.connect" in m.text and "Resolve" in str(
                m.blocks)]  # fmt: skip
            assert "*Now*:" in str(result.blocks)
            assert set(labels(result)) == {"Resolve incident", "Diagnose again"}
            assert any("Watching the cure for 10 min" in m.text for m in story)
            (top,) = [m for m in channel_messages(slack_api) if m.ts == incident.ts]
            assert "Watching the cure" in str(top.blocks) and "held 0 of 4" in str(top.blocks)

            # Diagnose again, from the result: a new report in the same thread
            before = len(story)
            await click(bot, labels(result)["Diagnose again"], BOB, result)
            story = [m for m in channel_messages(slack_api) if m.thread_ts == incident.ts]
            assert len(story) > before and story[before].edits >= 1

            # the watch's own loop, on the clock: four checks, one every 2.5 minutes
            stop = asyncio.Event()
            loop = asyncio.create_task(desk.cures.run(desk, stop))
            for number in range(1, 5):
                clock.advance(CHECK)
                desk.cures.wake.set()
                if number < 4:
                    shown = f"held {number} of 4"
                    await wait_until(
                        lambda shown=shown: shown in str(top_of(slack_api, incident).blocks)
                    )
            await wait_until(  # the closing note is the last thing the watch says
                lambda: any(m.text.startswith("Resolved:") for m in channel_messages(slack_api))
            )
            stop.set()
            await asyncio.wait_for(loop, 5)  # stops promptly
            await bot.drain()

            watch = await desk.cures.store.get(watch.id)
            assert watch is not None and watch.status == "held" and watch.checks_done == 4
            resolved = await desk.oncall.store.get(row.id)
            assert resolved.status is IncidentStatus.RESOLVED
            assert resolved.resolved_by == "cure-watch"
            (top,) = [m for m in channel_messages(slack_api) if m.ts == incident.ts]
            assert "the cure held" in str(top.blocks) and "Acknowledge" not in str(top.blocks)
            replies = assert_one_thread(slack_api, incident)
            (closing,) = [m for m in replies if m.text.startswith("Resolved: the cure held")]
            assert "for 10 min (4 checks)" in closing.text
            assert "Page to cure" in str(closing.blocks) and "cure to resolved 10 min" in str(
                closing.blocks
            )

            rows = await story_rows(bot, str(row.id))
            kinds = [r.kind for r in rows]
            assert kinds[:2] == ["incident_opened", "acknowledged"]
            assert kinds.count("watch_held") == 4 and kinds[-1] == "resolved"
            assert "watch_started" in kinds
            (started,) = [r for r in rows if r.kind == "watch_started"]
            (closed,) = [r for r in rows if r.kind == "resolved"]
            page_to_cure = started.details["page_to_cure_seconds"]
            cure_to_resolved = closed.details["cure_to_resolved_seconds"]
            assert 0 < page_to_cure < 120 and 600 <= cure_to_resolved < 660
            print(  # the measurement, for the record (pytest -s)
                f"\npage-to-cure {page_to_cure:.2f} s (real: {cured:.2f} s from the alert to "
                f"the cure); cure-to-resolved {cure_to_resolved:.1f} s (the settle window)"
            )
            assert not slack_api.violations
    finally:
        lab.last_scenario = None  # the stack was changed: the next test rebuilds it


def top_of(slack: SlackStub, incident: Message) -> Message:
    (top,) = [m for m in channel_messages(slack) if m.ts == incident.ts]
    return top


async def wait_until(condition: Any, tries: int = 2400) -> None:
    """Until ``condition()`` holds (the watch's loop runs on its own)."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the watch's loop did not get there")


async def test_the_cure_breaks_mid_window_the_incident_reopens_and_pages(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    lab.scenario("S1")
    clock = RunningClock(WEDNESDAY)
    try:
        async with running(inventory, slack_api, clock) as (bot, desk):
            incident, _ = await page_ack_and_fix(lab, bot, desk, slack_api)
            (row,) = await desk.oncall.store.open_incidents(["lab"])
            assert row.status is IncidentStatus.ACKNOWLEDGED

            clock.advance(CHECK)
            (first,) = await desk.cures.run_due(desk)
            assert first.outcome == "holding"

            # the app loses its database's network again, five minutes into the window
            lab.docker("h1").networks.get(INTERNAL).disconnect(BACKEND)
            clock.advance(CHECK)
            (second,) = await desk.cures.run_due(desk)
            await bot.drain()
            assert second.outcome == "broke" and second.reopened
            assert [f.code for f in second.broken] == ["network.split"]

            reopened = await desk.oncall.store.get(row.id)
            assert reopened.status is IncidentStatus.OPEN and reopened.acknowledged_by is None
            (top,) = [m for m in channel_messages(slack_api) if m.ts == incident.ts]
            assert "Acknowledge" in labels(top) and "The cure broke" in str(top.blocks)
            # the new evidence, in the thread and broadcast; Bob and Alice named
            replies = assert_one_thread(slack_api, incident)
            (broke,) = [m for m in replies if m.text.startswith("The cure broke")]
            said = str(broke.blocks)
            assert "network.split" in said and second.broken[0].id in said
            assert f"<@{BOB}> (applied the fix)" in said and f"<@{ALICE}> (on call)" in said
            assert slack_api.last("chat.postMessage").status == 200
            broadcast = [
                c for c in slack_api.calls("chat.postMessage")
                if c.body.get("reply_broadcast") in (True, "true", "1")
            ]  # fmt: skip
            assert broadcast and broadcast[-1].body.get("thread_ts") == incident.ts
            # Bob is told directly; Alice is paged again at once (the escalation restarted)
            assert any("did not hold" in m.text + str(m.blocks) for m in slack_api.messages(BOB))
            assert any("Paged" in m.text or "incident" in m.text for m in slack_api.messages(ALICE))
            assert any(
                m.text.startswith(f"Paged <@{ALICE}>") and "the cure broke" in m.text
                for m in replies
            )
            kinds = [r.kind for r in await story_rows(bot, str(row.id))]
            assert kinds[-3:] == ["watch_broke", "reopened", "paged"], kinds

            # no more checks: the watch is over
            clock.advance(CHECK * 2)
            assert await desk.cures.run_due(desk) == []
            assert not slack_api.violations
    finally:
        lab.last_scenario = None
