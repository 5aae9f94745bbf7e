"""Alert storms end to end: real Postgres, real HTTP, the Slack stand-in, an injected clock.

Issue #14: one authenticated Alertmanager payload of 1,000 alerts opened 1,000
incidents and posted 1,000 messages. Here an Alertmanager group is one
incident, each environment gets at most ``messages_per_minute`` (default 5) new
incident messages a minute and one digest for the rest, and a person is paged
once per step of each message, never per alert. Each test prints what it
measured (run with ``-s`` to see it; SECURITY.md quotes it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.inventory.config import Inventory
from bot.oncall.models import Incident, IncidentStatus
from bot.oncall.store import IncidentStore
from bot.slack.app import SlackBot
from tests.audit.test_oncall import (
    ALICE,
    CHANNEL,
    DAVE,
    WEDNESDAY,
    click,
    incident_messages,
    intake,
    inventory,
    post_alert,
    replica,
    started,
)
from tests.clock import FakeClock
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import Message, SlackStub
from tests.unit.oncall.test_alerts import ZERO_TIME

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["inventory", "slack_api"]

CAP = 5  # the default messages_per_minute


def group_payload(group: int, size: int, *, status: str = "firing") -> dict[str, Any]:
    """What Alertmanager posts for one group (``alertname=Storm<group>``) of ``size`` alerts."""
    name = f"Storm{group}"
    alerts = [
        {
            "status": status,
            "labels": {
                "alertname": name,
                "instance": f"node{index}:9100",
                "severity": "critical" if index % 3 == 0 else "warning",
            },
            "annotations": {"summary": f"{name} on node{index}"},
            "startsAt": "2026-11-04T09:59:00Z",
            "endsAt": ZERO_TIME if status == "firing" else "2026-11-04T10:30:00Z",
            "generatorURL": "",
            "fingerprint": f"{group:04d}{index:012d}",
        }
        for index in range(size)
    ]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "stackbot",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


async def settle(*bots: SlackBot) -> int:
    """Run every replica's due steps until none is left; the number of steps taken."""
    taken = 0
    for _ in range(200):
        await asyncio.gather(*(bot.drain() for bot in bots))
        done = await asyncio.gather(*(desk(bot).run_due() for bot in bots))
        await asyncio.gather(*(bot.drain() for bot in bots))
        if not any(done):
            return taken
        taken += sum(len(pages) for pages in done)
    raise AssertionError("steps kept falling due")


def desk(bot: SlackBot) -> Any:
    assert bot.incidents is not None
    return bot.incidents


def broadcasts(slack: SlackStub) -> int:
    """Thread replies also shown in the channel (the escalation's last call)."""
    return sum(
        1
        for call in slack.calls("chat.postMessage")
        if call.body.get("channel") == CHANNEL
        and call.body.get("reply_broadcast") in (True, "true", "1")
    )


def digest_message(slack: SlackStub) -> Message:
    (digest,) = [m for m in incident_messages(slack) if "alert storm" in m.text]
    return digest


async def everything(store: IncidentStore) -> tuple[list[Incident], list[Incident]]:
    """The open incidents of prod, and the digests among them."""
    unresolved = await store.open_incidents(["prod"])
    return [i for i in unresolved if not i.is_digest], [i for i in unresolved if i.is_digest]


async def escalate(bot: SlackBot, clock: FakeClock, slack: SlackStub) -> dict[str, int]:
    """Let every escalation step fall due (5, 10, 15 min, then an hour); count the pages."""
    for minutes in (5, 10, 15, 60):
        clock.set(WEDNESDAY + timedelta(minutes=minutes, seconds=1))
        await settle(bot)
    return {
        "alice": len(slack.messages(ALICE)),
        "dave": len(slack.messages(DAVE)),
        "broadcasts": broadcasts(slack),
    }


async def test_a_thousand_alerts_in_ten_groups_are_ten_incidents_and_few_messages(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    began = time.monotonic()
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, clock):
        store = desk(bot).oncall.store
        # Alertmanager sends each group as its own payload: ten at once, 1,000 alerts in all
        answers = await asyncio.gather(*(post_alert(url, group_payload(g, 100)) for g in range(10)))
        assert [status for status, _ in answers] == [200] * 10
        assert sum(answer["opened"] for _, answer in answers) == 10
        await settle(bot)
        incidents, digests = await everything(store)
        assert len(incidents) == 10 and len(digests) == 1
        assert all(i.alert_count == 100 and i.fingerprint.startswith("group:") for i in incidents)
        first_minute = len(incident_messages(slack_api))
        assert first_minute == CAP + 1 <= 12  # five incidents, and the digest for the others

        # a group's message counts and lists its alerts, bounded
        shown = next(m for m in incident_messages(slack_api) if "alert storm" not in m.text)
        assert "*100 alerts* in this group, 100 firing" in str(shown.blocks)
        assert "… and 90 more" in str(shown.blocks)
        digest = digest_message(slack_api)
        assert "+5 more incidents" in str(digest.blocks)
        folded = [i for i in incidents if i.digest_id == digests[0].id]
        assert len(folded) == 5 and all(i.message_ts is None for i in folded)
        assert all(f"`{i.short_id}`" in str(digest.blocks) for i in folded)

        # Alertmanager repeats a group: the incident is updated, nothing new is posted
        clock.advance(timedelta(seconds=30))
        status, answer = await post_alert(url, group_payload(0, 100))
        assert status == 200 and answer["opened"] == 0 and answer["repeated"] == 1
        await settle(bot)
        assert len(incident_messages(slack_api)) == first_minute

        pages = await escalate(bot, clock, slack_api)
        # each message's steps page once: 6 messages → ≤ 6 pages a person, never 1,000
        assert pages["alice"] <= 10 and pages["dave"] <= 10
        assert pages == {"alice": CAP + 1, "dave": CAP + 1, "broadcasts": CAP + 1}
        channel_total = len(incident_messages(slack_api)) + pages["broadcasts"]
        assert channel_total <= 12

        # half a group clears: still open; all of it: resolved
        half = group_payload(1, 100, status="resolved")
        half["alerts"] = half["alerts"][:50]
        status, answer = await post_alert(url, half)
        assert answer["resolved"] == 0
        (group1,) = [i for i in incidents if i.title == "Storm1"]
        listing = await store.listing(await store.get(group1.id))
        assert listing is not None and (listing.total, listing.open) == (100, 50)
        assert (await store.get(group1.id)).status is IncidentStatus.OPEN
        status, answer = await post_alert(url, group_payload(1, 100, status="resolved"))
        assert answer["resolved"] == 1
        assert not slack_api.violations
        elapsed = time.monotonic() - began
    print(
        f"\n[storm 10 groups] alerts=1000 incidents={len(incidents)} digests={len(digests)} "
        f"channel_messages_first_minute={first_minute} channel_messages_with_escalation="
        f"{channel_total} pages_alice={pages['alice']} pages_dave={pages['dave']} "
        f"seconds={elapsed:.1f}"
    )


async def test_one_payload_of_a_thousand_alerts_is_one_incident(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    """The payload issue #14 measured: one group of 1,000 alerts."""
    async with started(inventory, conninfo, slack_api, tmp_path) as (bot, url, clock):
        status, answer = await post_alert(url, group_payload(7, 1000))
        assert status == 200 and answer["opened"] == 1
        await settle(bot)
        (message,) = incident_messages(slack_api)
        assert "*1000 alerts* in this group, 1000 firing" in str(message.blocks)
        pages = await escalate(bot, clock, slack_api)
        assert pages == {"alice": 1, "dave": 1, "broadcasts": 1}
        assert not slack_api.violations


async def test_a_thousand_groups_get_the_cap_and_one_digest_across_two_replicas(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    began = time.monotonic()
    clock = FakeClock(WEDNESDAY)
    async with (
        replica(inventory, conninfo, slack_api, clock, tmp_path / "a.jsonl") as a,
        replica(inventory, conninfo, slack_api, clock, tmp_path / "b.jsonl") as b,
        intake(a) as url_a,
        intake(b) as url_b,
    ):
        # 1,000 groups of one alert, posted to both replicas, 20 requests at a time
        gate = asyncio.Semaphore(20)

        async def one(group: int) -> tuple[int, dict[str, Any]]:
            async with gate:
                return await post_alert(url_a if group % 2 else url_b, group_payload(group, 1))

        answers = await asyncio.gather(*(one(g) for g in range(1000)))
        assert {status for status, _ in answers} == {200}
        assert sum(answer["opened"] for _, answer in answers) == 1000
        posted = time.monotonic() - began
        await settle(a, b)
        store = desk(a).oncall.store
        incidents, digests = await everything(store)
        assert len(incidents) == 1000 and len(digests) == 1  # nothing lost
        messages = incident_messages(slack_api)
        assert len(messages) == CAP + 1  # the cap, and one digest, across both replicas
        assert sum(1 for i in incidents if i.message_ts) == CAP
        assert sum(1 for i in incidents if i.digest_id == digests[0].id) == 1000 - CAP
        digest = digest_message(slack_api)
        assert f"+{1000 - CAP} more incidents" in str(digest.blocks)
        assert f"… and {1000 - CAP - 10} more" in str(digest.blocks)
        edits = digest.edits
        assert edits <= 30  # once per pass of a replica, not once per incident

        # `stackbot incidents` lists every one
        listed = cli_incidents(tmp_path, conninfo)
        assert listed.returncode == 1, listed.stderr
        assert all(i.short_id in listed.stdout for i in incidents)

        pages = await escalate(a, clock, slack_api)
        assert pages == {"alice": CAP + 1, "dave": CAP + 1, "broadcasts": CAP + 1}

        # a minute later there is room again: a new incident has its own message
        clock.advance(timedelta(minutes=1))
        await post_alert(url_a, group_payload(5000, 1))
        await settle(a, b)
        assert len(incident_messages(slack_api)) == CAP + 2

        # "Acknowledge all" on the digest acknowledges its incidents; the next storm
        # gets a new digest (and a new page), not the acknowledged one
        await click(a, digest_message(slack_api), "Acknowledge all", ALICE)
        acknowledged = [
            i for i in await store.open_incidents(["prod"])
            if i.digest_id == digests[0].id and i.status is IncidentStatus.ACKNOWLEDGED
        ]  # fmt: skip
        assert len(acknowledged) == 1000 - CAP
        answers = await asyncio.gather(*(one(g) for g in range(6000, 6000 + CAP + 3)))
        await settle(a, b)
        _, digests_now = await everything(store)
        assert len(digests_now) == 2
        await asyncio.gather(a.drain(), b.drain())
        assert not slack_api.violations
        elapsed = time.monotonic() - began
    print(
        f"\n[storm 1000 groups] alerts=1000 incidents={len(incidents)} "
        f"channel_messages_first_minute={len(messages)} digest_edits={edits} "
        f"pages_alice={pages['alice']} pages_dave={pages['dave']} "
        f"broadcasts={pages['broadcasts']} post_seconds={posted:.1f} seconds={elapsed:.1f}"
    )


def cli_incidents(tmp_path: Path, conninfo: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "cli.yaml"
    inventory.write_text(
        "environments:\n  prod:\n    hosts: {web1: {address: 192.0.2.10}}\n"
        f"    slack_channel: {CHANNEL}\ndata_dir: {tmp_path / 'cli-state'}\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(inventory), "incidents", "prod"],
        env={**os.environ, "STACKBOT_DATABASE_URL": conninfo, "COLUMNS": "300"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
