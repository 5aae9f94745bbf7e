"""On-call in the lab: the watcher opens an incident from a real finding, the on-call person
acknowledges it, the diagnosis in the thread shows the real findings and its fix button
fixes the real stack, and the next watch resolves the incident. Slack is the stand-in; the
clock is injected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.inventory.config import Inventory, load_inventory
from bot.oncall.watcher import Watcher
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.setup import open_trail
from tests.clock import FakeClock
from tests.integration.inventories import lab_host, write_inventory
from tests.integration.test_slack import SECRET, button, send
from tests.lab.lab import Lab
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, Message, SlackStub
from tests.slackstub.signing import block_actions_body

pytestmark = pytest.mark.lab
__all__ = ["slack_api"]

ALICE, BOB = "UALICE", "UBOB"
CHANNEL = "CLABOPS"
BACKEND, INTERNAL = "indexo_backend_staging", "indexo-staging_internal"
WEDNESDAY = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)


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
                "oncall": {
                    "rotation": {"users": [ALICE, BOB], "start": "2026-11-02"},
                    "watch": {"every": "5m"},
                },
            }
        },
    )
    return load_inventory(path)


@asynccontextmanager
async def running(
    inventory: Inventory, slack: SlackStub, clock: FakeClock
) -> AsyncIterator[SlackBot]:
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
        yield bot
        await bot.drain()
        assert bot.failures == []


def top_level(slack: SlackStub) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.thread_ts is None]


async def test_watch_acknowledge_diagnose_fix_and_the_incident_resolves_in_s1(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    lab.scenario("S1")  # fresh: this test fixes the stack
    clock = FakeClock(WEDNESDAY)
    try:
        async with running(inventory, slack_api, clock) as bot:
            desk = bot.incidents
            assert desk is not None
            watcher = Watcher(desk.oncall, desk.receive)

            opened = await watcher.watch_once("lab")
            assert opened is not None and opened.opened >= 1
            await bot.drain()
            (incident,) = [m for m in top_level(slack_api) if "network.split" in m.text]
            assert f"On call: <@{ALICE}>" in str(incident.blocks)
            assert await watcher.watch_once("lab") is None  # not due again for 5 minutes

            # the on-call person acknowledges: the diagnosis lands in the thread
            clock.advance(timedelta(seconds=40))
            ack = next(
                e for b in incident.blocks if b.get("type") == "actions"
                for e in b["elements"] if e["text"]["text"] == "Acknowledge"
            )  # fmt: skip
            await send(
                bot, block_actions_body(ack["action_id"], ack["value"], user_id=ALICE,
                                        channel_id=CHANNEL, message_ts=incident.ts),
            )  # fmt: skip
            await bot.drain()
            (incident,) = [m for m in top_level(slack_api) if m.ts == incident.ts]
            assert f"*Acknowledged* by <@{ALICE}> after 40 s" in str(incident.blocks)
            replies = [m for m in slack_api.messages(CHANNEL) if m.thread_ts == incident.ts]
            said = str([m.blocks for m in replies])  # the report and its evidence
            assert "network.split" in said and BACKEND in said and INTERNAL in said
            (report,) = [
                m for m in replies
                if any(str(b.get("block_id", "")).startswith("fixes:") for b in m.blocks)
            ]  # fmt: skip

            # its fix button, clicked in the thread, connects the network on the real engine
            action_id, value = button(slack_api, report, "network.split")
            in_thread = {
                "type": "message",
                "ts": report.ts,
                "thread_ts": incident.ts,
                "text": report.text,
                "blocks": report.blocks,
            }
            await send(
                bot, block_actions_body(action_id, value, user_id=ALICE, channel_id=CHANNEL,
                                        message_ts=report.ts, message=in_thread),
            )  # fmt: skip
            await bot.drain()
            networks = lab.docker("h1").containers.get(BACKEND).attrs["NetworkSettings"]
            assert INTERNAL in networks["Networks"]
            # the result went to the incident's thread root, never into a thread of the reply
            assert not [m for m in slack_api.messages(CHANNEL) if m.thread_ts == report.ts]
            story = [m for m in slack_api.messages(CHANNEL) if m.thread_ts == incident.ts]
            assert any("network.connect" in m.text + str(m.blocks) for m in story[-3:]), story

            # the next watch no longer finds it: the incident resolves by itself
            clock.advance(timedelta(minutes=5))
            cleared = await watcher.watch_once("lab")
            assert cleared is not None and cleared.resolved >= 1
            await bot.drain()
            (incident,) = [m for m in top_level(slack_api) if m.ts == incident.ts]
            assert "*Resolved* by the alert (watcher)" in str(incident.blocks)
            assert not slack_api.violations
    finally:
        lab.last_scenario = None  # the stack was changed: the next test rebuilds it
