"""The cure watch on a real Postgres, a clock the test moves and the Slack stand-in.

The environment is read by a fake check (the lab test, tests/integration/
test_cure_watch.py, reads a real one): what it finds is what the test says. Shown
here: a cure that holds resolves its incident (unless its alert still fires), one that
breaks reopens it and its escalation starts again, a fix without an incident opens one
when it breaks, a host that cannot be read decides nothing, two replicas run a check
once, and the loop stops promptly in the middle of a check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.inventory.config import Inventory, parse_inventory
from bot.model.diagnosis import DiagnosisReport, HostStatus
from bot.model.findings import Finding, Severity, Subject, make_finding
from bot.oncall.alerts import parse_payload
from bot.oncall.cure_watch import LEASE, UNREAD_RETRY, Cure, CureWatcher
from bot.oncall.models import Alert, CureWatch, Incident, IncidentStatus
from bot.slack.app import SlackBot
from bot.slack.incidents import IncidentDesk
from bot.slack.settings import SlackSettings
from bot.stores.audit.spool import Spool
from bot.stores.audit.store import AuditStore, RowFilter
from bot.stores.audit.trail import AuditTrail
from tests.clock import FakeClock
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, Message, SlackStub
from tests.unit.oncall.test_alerts import alertmanager_firing

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["slack_api"]

ALICE, BOB, CAROL = "UALICE", "UBOB", "UCAROL"
CHANNEL = "CPROD"
WEDNESDAY = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
APP, NETWORK = "shop_app_1", "shop_db"
SPLIT = make_finding(
    "network.split", Severity.CRITICAL, "shop_app_1 cannot reach db",
    Subject(environment="prod", host="web1", project="shop", container=APP, network=NETWORK),
)  # fmt: skip
RESTARTING = make_finding(
    "container.restarting", Severity.CRITICAL, "shop_app_1 keeps restarting",
    Subject(environment="prod", host="web1", project="shop", container=APP),
)  # fmt: skip
ELSEWHERE = make_finding(
    "container.down", Severity.CRITICAL, "shop_worker_1 is down",
    Subject(environment="prod", host="web1", project="shop", container="shop_worker_1"),
)  # fmt: skip


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return parse_inventory(
        {
            "environments": {
                "prod": {
                    "hosts": {"web1": {"address": "127.0.0.1", "port": 1, "user": "deploy"}},
                    "slack_channel": CHANNEL,
                    "access": {"operator": [ALICE, BOB, CAROL]},
                    "oncall": {
                        "rotation": {"users": [ALICE, BOB], "start": "2026-11-02"},
                        "escalation": [
                            {"after": "5m", "page": "primary"},
                            {"after": "10m", "page": "channel"},
                        ],
                        "cure_watch": {"settle": "4m", "checks": 2},
                    },
                },
            },
            "data_dir": str(tmp_path / "state"),
        },
        source="test",
        base_dir=tmp_path,
    )


class Environment:
    """What the fake check finds (and whether it could read the host)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.reached = True
        self.reads = 0
        self.gate: asyncio.Event | None = None  # when set: a check waits for it
        self.entered = asyncio.Event()

    async def check(self, watch: CureWatch) -> DiagnosisReport:
        self.reads += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return DiagnosisReport(
            environment=watch.environment, started_at=WEDNESDAY, duration=0.1,
            verdict="critical" if self.findings else "healthy", counts={},
            hosts=[HostStatus(host="web1", label="web1", reached=self.reached, duration=0.1)],
            findings=list(self.findings),
        )  # fmt: skip


@asynccontextmanager
async def desk_on(
    inventory: Inventory, conninfo: str, slack: SlackStub, tmp_path: Path, clock: FakeClock,
    environment: Environment, spool: str = "a.jsonl",
) -> AsyncIterator[tuple[SlackBot, IncidentDesk]]:  # fmt: skip
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr("s"), api_url=slack.api_url
    )
    async with AuditStore(conninfo, timeout=3) as store:
        trail = AuditTrail(store, Spool(tmp_path / spool))
        bot = SlackBot(
            inventory, settings, trail=trail, lock_dir=tmp_path / "locks", clock=clock,
            progress_interval=0.05,
        )  # fmt: skip
        desk = bot.incidents
        assert desk is not None
        desk.cures = CureWatcher(
            desk.oncall, desk.cures.store, bot.operations, trail=trail, sink=desk.receive,
            check=environment.check,
        )  # fmt: skip
        try:
            yield bot, desk
        finally:
            await bot.drain()
        assert bot.failures == []


async def acknowledged_incident(
    bot: SlackBot, desk: IncidentDesk, alerts: list[Alert] | None = None
) -> Incident:
    alerts = alerts or [Alert(fingerprint="shop-down", source="generic", title="shop is down")]
    await desk.receive("prod", alerts)
    await bot.drain()
    (incident,) = await desk.oncall.store.open_incidents(["prod"])
    return await desk.oncall.store.acknowledge(incident.id, ALICE, desk.oncall.clock.now())


def cure(incident: Incident | None, thread_ts: str | None) -> Cure:
    return Cure(
        environment="prod", host="web1", action="network.connect",
        params={"host": "web1", "container": APP, "network": NETWORK}, fixed_by=BOB,
        finding_id=SPLIT.id, stack="shop", touched=(APP,),
        incident_id=incident.id if incident else None, channel=CHANNEL, thread_ts=thread_ts,
    )  # fmt: skip


def replies(slack: SlackStub) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.thread_ts and m.ephemeral_to is None]


async def kinds(bot: SlackBot, correlation: Any) -> list[str]:
    assert bot.trail is not None and bot.trail.store is not None
    rows = await bot.trail.store.rows(RowFilter(environment="prod", limit=500))
    return [r.kind for r in rows if r.correlation_id == correlation]


async def test_a_cure_that_holds_resolves_its_incident_with_its_times(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk):
        incident = await acknowledged_incident(bot, desk)
        clock.advance(timedelta(seconds=90))  # page to cure
        watch = await desk.cures.start(cure(incident, incident.message_ts), desk)
        assert (watch.settle, watch.checks_total) == (timedelta(minutes=4), 2)
        assert await desk.cures.run_due(desk) == []  # nothing due yet
        env.findings = [ELSEWHERE]  # another container's problem: not this cure's

        clock.advance(timedelta(minutes=2))
        (first,) = await desk.cures.run_due(desk)
        assert first.outcome == "holding" and first.watch.checks_done == 1
        top = slack_api.messages(CHANNEL)[0]
        assert "held 1 of 2 checks" in str(top.blocks)

        clock.advance(timedelta(minutes=2))
        (last,) = await desk.cures.run_due(desk)
        assert last.outcome == "held" and last.resolved
        assert last.page_to_cure == timedelta(seconds=90)
        assert last.cure_to_resolved == timedelta(minutes=4)
        resolved = await desk.oncall.store.get(incident.id)
        assert resolved.status is IncidentStatus.RESOLVED and resolved.resolved_by == "cure-watch"
        top = slack_api.messages(CHANNEL)[0]
        assert "the cure held" in str(top.blocks) and "Acknowledge" not in str(top.blocks)
        notes = replies(slack_api)
        assert {m.thread_ts for m in notes} == {incident.message_ts}
        assert notes[0].text == "Watching the cure for 4 min"
        closing = notes[-1]
        assert closing.text == "Resolved: the cure held for 4 min (2 checks)"
        assert "Page to cure 1 min 30 s · cure to resolved 4 min" in str(closing.blocks)
        assert await kinds(bot, incident.id) == [
            "incident_opened", "watch_started", "watch_held", "watch_held", "resolved",
        ]  # fmt: skip
        assert env.reads == 2
        assert not slack_api.violations


async def test_the_incident_stays_open_while_its_alert_still_fires(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk):
        group = parse_payload(alertmanager_firing())  # one group of two alerts, firing
        incident = await acknowledged_incident(bot, desk, group)
        await desk.cures.start(cure(incident, incident.message_ts), desk)
        for _ in range(2):
            clock.advance(timedelta(minutes=2))
            (verdict,) = await desk.cures.run_due(desk)
        assert verdict.outcome == "held" and not verdict.resolved
        assert verdict.kept_open == "its alert still fires"
        still = await desk.oncall.store.get(incident.id)
        assert still.status is IncidentStatus.ACKNOWLEDGED
        assert "stays open: its alert still fires" in str(replies(slack_api)[-1].blocks)


async def test_a_cure_that_breaks_reopens_the_incident_and_escalation_starts_again(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk):
        incident = await acknowledged_incident(bot, desk)
        clock.advance(timedelta(minutes=20))  # long after its first escalation would be due
        await desk.cures.start(cure(incident, incident.message_ts), desk)
        clock.advance(timedelta(minutes=2))
        env.findings = [RESTARTING]  # a touched container, critical
        (verdict,) = await desk.cures.run_due(desk)
        assert verdict.outcome == "broke" and verdict.reopened
        assert [f.code for f in verdict.broken] == ["container.restarting"]
        await bot.drain()  # the first page goes out at once

        again = await desk.oncall.store.get(incident.id)
        assert again.status is IncidentStatus.OPEN and again.reopened_at == clock.now()
        assert again.escalation_step == 2  # announced, and the on-call person paged again
        assert again.next_page_at == clock.now() + timedelta(minutes=10)  # then the channel
        assert any("did not hold" in str(m.blocks) for m in slack_api.messages(BOB))
        assert any("Acknowledge" in str(m.blocks) for m in slack_api.messages(ALICE))
        notes = replies(slack_api)
        assert {m.thread_ts for m in notes} == {incident.message_ts}
        broke = next(m for m in notes if m.text.startswith("The cure broke"))
        assert RESTARTING.id in str(broke.blocks) and "open again" in str(broke.blocks)
        assert (await kinds(bot, incident.id))[-3:] == ["watch_broke", "reopened", "paged"]

        # acknowledged again, the later steps do not page
        await desk.oncall.store.acknowledge(incident.id, ALICE, clock.now())
        clock.advance(timedelta(minutes=30))
        assert await desk.run_due() == []
        assert await desk.cures.run_due(desk) == []  # the watch is over


async def test_a_fix_without_an_incident_that_breaks_opens_one(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk):
        report = await bot.client.chat_postMessage(channel=CHANNEL, text="the report")
        watch = await desk.cures.start(cure(None, str(report["ts"])), desk)
        env.findings = [SPLIT]  # what the fix cleared, back
        clock.advance(timedelta(minutes=2))
        (verdict,) = await desk.cures.run_due(desk)
        await bot.drain()
        assert verdict.outcome == "broke" and not verdict.reopened
        (opened,) = verdict.linked
        assert opened.fingerprint == f"finding:{SPLIT.id}" and opened.status is IncidentStatus.OPEN
        assert f"incident `{opened.short_id}`" in str(replies(slack_api)[-1].blocks)
        assert any("network.split" in m.text for m in slack_api.messages(CHANNEL)
                   if m.thread_ts is None and m.ts != str(report["ts"]))  # fmt: skip
        assert await kinds(bot, watch.id) == ["watch_started", "watch_broke"]


async def test_a_check_that_cannot_read_the_host_decides_nothing(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk):
        incident = await acknowledged_incident(bot, desk)
        watch = await desk.cures.start(cure(incident, incident.message_ts), desk)
        env.reached, env.findings = False, [SPLIT]
        clock.advance(timedelta(minutes=2))
        (verdict,) = await desk.cures.run_due(desk)
        assert verdict.outcome == "unread"
        now = await desk.cures.store.get(watch.id)
        assert now is not None and now.status == "watching" and now.checks_done == 0
        assert now.next_check_at == clock.now() + UNREAD_RETRY


async def test_two_replicas_run_a_check_once(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with (
        desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk),
        desk_on(inventory, conninfo, slack_api, tmp_path, clock, env, "b.jsonl") as (_, other),
    ):
        incident = await acknowledged_incident(bot, desk)
        await desk.cures.start(cure(incident, incident.message_ts), desk)
        clock.advance(timedelta(minutes=2))
        both = await asyncio.gather(desk.cures.run_due(desk), other.cures.run_due(other))
        assert sorted(len(v) for v in both) == [0, 1] and env.reads == 1


async def test_the_loop_stops_promptly_in_the_middle_of_a_check(
    inventory: Inventory, conninfo: str, slack_api: SlackStub, tmp_path: Path
) -> None:
    clock, env = FakeClock(WEDNESDAY), Environment()
    async with desk_on(inventory, conninfo, slack_api, tmp_path, clock, env) as (bot, desk):
        incident = await acknowledged_incident(bot, desk)
        watch = await desk.cures.start(cure(incident, incident.message_ts), desk)
        env.gate = asyncio.Event()  # the check hangs (a slow host)
        clock.advance(timedelta(minutes=2))
        stop = asyncio.Event()
        loop = asyncio.create_task(desk.cures.run(desk, stop))
        await asyncio.wait_for(env.entered.wait(), 10)
        stop.set()
        await asyncio.wait_for(loop, 2)  # cancelled cleanly, not waited for
        leased = await desk.cures.store.get(watch.id)
        assert leased is not None and leased.status == "watching" and leased.checks_done == 0
        assert leased.next_check_at == clock.now() + LEASE  # runs again after the lease
