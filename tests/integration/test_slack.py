"""`/stack` in the lab: signed requests in, the Slack stand-in out, the real engine in between."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.inventory.config import Inventory, load_inventory
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import RowFilter
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.lab.lab import Lab
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, Message, SlackStub
from tests.slackstub.signing import block_actions_body, signed_headers, slash_command_body

pytestmark = pytest.mark.lab
__all__ = ["slack_api"]

SECRET = "signing-secret-for-tests"
OPERATOR, VIEWER = "UOPERATOR", "UVIEWER"
APPROVER, SECOND_APPROVER = "UAPPROVER", "UAPPROVER2"
CHANNEL = "COPS"
BACKEND, INTERNAL = "indexo_backend_staging", "indexo-staging_internal"


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Inventory:
    access = {
        "viewer": [VIEWER],
        "operator": [OPERATOR, "S0OPSTEAM"],
        "approver": [APPROVER, SECOND_APPROVER],
    }
    path = write_inventory(
        tmp_path / "inv.yaml",
        lab,
        {
            "lab": {"hosts": {"h1": lab_host(lab, "h1")}, "access": access},
            "guarded": {
                "hosts": {"h1": lab_host(lab, "h1")},
                "access": access,
                "approval_required": True,
            },
        },
    )
    return load_inventory(path)


@asynccontextmanager
async def running(inventory: Inventory, slack_api: SlackStub) -> AsyncIterator[SlackBot]:
    """A bot wired to the stand-in and an audit trail, drained and checked at the end."""
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN),
        signing_secret=SecretStr(SECRET),
        api_url=slack_api.api_url,
    )
    assert inventory.data_dir is not None
    async with open_trail(inventory) as trail:
        slack_bot = SlackBot(
            inventory, settings, trail=trail, lock_dir=inventory.data_dir / "locks",
            progress_interval=0.05,
        )  # fmt: skip
        yield slack_bot
        await slack_bot.drain()
        assert slack_bot.failures == []


async def send(
    bot: SlackBot, body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> Any:
    headers = signed_headers(body, secret, timestamp)
    request = AsyncBoltRequest(
        body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
    )
    return await bot.app.async_dispatch(request)


def button(slack_api: SlackStub, message: Message, code: str) -> tuple[str, str]:
    """(action_id, value) of the first fix button of the finding ``code``: the report
    reads as sentences, its thread names each finding's code and id."""
    ids = [  # the evidence goes to the report's thread, or to the incident's it is in
        match[2]
        for reply in slack_api.messages(message.channel)
        if reply.thread_ts in (message.ts, message.thread_ts) and reply.ts != message.ts
        for match in re.finditer(r"`([a-z_]+\.[a-z_]+)` · id `([0-9a-f]{8})`", str(reply.blocks))
        if match[1] == code
    ]
    for fid in ids:
        for block in message.blocks:
            if block.get("type") == "actions" and str(block.get("block_id", "")).startswith(
                f"fixes:{fid}"
            ):
                element = block["elements"][0]
                return str(element["action_id"]), str(element["value"])
    raise AssertionError(f"no button for {code} (ids {ids}) in {message.blocks}")


async def test_stack_diagnose_then_the_fix_button_in_s1(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    ensure_scenario(lab, "S1")
    async with running(inventory, slack_api) as bot:
        await _diagnose_and_click(lab, bot, slack_api)


async def _diagnose_and_click(lab: Lab, bot: SlackBot, slack_api: SlackStub) -> None:
    response = await send(
        bot, slash_command_body("diagnose lab", user_id=OPERATOR, channel_id=CHANNEL)
    )
    assert response.status == 200
    assert bot.tasks  # acked before the work: the diagnosis runs in the background
    await bot.drain()
    (report,) = [m for m in slack_api.messages(CHANNEL) if m.thread_ts is None]
    assert report.edits >= 1  # the progress message became the report
    assert "network.split" in str(
        [m.blocks for m in slack_api.messages(CHANNEL) if m.thread_ts == report.ts]
    )  # the code and evidence in the thread; the report itself reads as sentences
    assert not slack_api.violations
    action_id, value = button(slack_api, report, "network.split")
    assert len(value) <= 2000 and "indexo" not in value  # an id, no power in the value

    click = block_actions_body(
        action_id, value, user_id=OPERATOR, channel_id=CHANNEL, message_ts=report.ts,
        message={"type": "message", "ts": report.ts, "text": report.text, "blocks": report.blocks},
    )  # fmt: skip
    assert (await send(bot, click)).status == 200
    await bot.drain()
    networks = lab.docker("h1").containers.get(BACKEND).attrs["NetworkSettings"]["Networks"]
    assert INTERNAL in networks
    (edited,) = [m for m in slack_api.messages(CHANNEL) if m.ts == report.ts]
    assert f"fixed by <@{OPERATOR}>" in str(edited.blocks)
    replies = [m for m in slack_api.messages(CHANNEL) if m.thread_ts == report.ts]
    assert any("post-check" in (m.text + str(m.blocks)).lower() for m in replies), replies

    again = await send(bot, click)  # the same delivery again: acknowledged, nothing runs
    assert again.status == 200
    await bot.drain()
    assert not any("already claimed" in m.text for m in slack_api.ephemerals(OPERATOR))
    second = block_actions_body(  # a second click: a new delivery, refused by the claim
        action_id, value, user_id=OPERATOR, channel_id=CHANNEL, message_ts=report.ts,
        message={"type": "message", "ts": report.ts, "text": report.text, "blocks": report.blocks},
    )  # fmt: skip
    assert (await send(bot, second)).status == 200
    await bot.drain()
    assert any("already claimed" in m.text for m in slack_api.ephemerals(OPERATOR))

    assert bot.trail is not None and bot.trail.store is not None
    rows = await bot.trail.store.rows(RowFilter(action="network.connect"))
    kinds = [r.kind for r in rows]
    assert kinds[:4] == ["requested", "authorised", "planned", "confirmed"]
    assert "finished" in kinds and "post_checked" in kinds
    assert {r.surface for r in rows} == {"slack"} and {r.actor for r in rows} == {OPERATOR}


async def test_bad_requests_and_who_may_do_what(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    async with running(inventory, slack_api) as bot:
        await _bad_requests(bot, slack_api)


async def _bad_requests(bot: SlackBot, slack_api: SlackStub) -> None:
    body = slash_command_body("diagnose lab", user_id=OPERATOR, channel_id=CHANNEL)
    assert (await send(bot, body, secret="wrong")).status == 401
    assert (await send(bot, body, timestamp=1_000_000_000)).status == 401

    unknown = await send(bot, slash_command_body("diagnoze lab", user_id=OPERATOR))
    assert unknown.status == 200 and "/stack diagnose" in unknown.body

    stranger = await send(bot, slash_command_body("diagnose lab", user_id="USTRANGER"))
    assert stranger.status == 200 and "role" in stranger.body
    # the refusal's audit row is written in the background once the delivery's claim is
    # won (a replay writes none); nothing else starts for a user without a role
    await bot.drain()
    assert not slack_api.calls("chat.postMessage") and not slack_api.ephemerals("USTRANGER")
    assert bot.trail is not None and bot.trail.store is not None
    rows = await bot.trail.store.rows(RowFilter(action="diagnose"))
    assert [r.kind for r in rows if r.actor == "USTRANGER"] == ["denied"]


async def test_destructive_fix_needs_someone_else_to_approve(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    ensure_scenario(lab, "S4")
    async with running(inventory, slack_api) as bot:
        await _approval_flow(lab, bot, slack_api)


async def _approval_flow(lab: Lab, bot: SlackBot, slack_api: SlackStub) -> None:
    await send(bot, slash_command_body("diagnose guarded", user_id=OPERATOR, channel_id=CHANNEL))
    await bot.drain()
    (report,) = [m for m in slack_api.messages(CHANNEL) if m.thread_ts is None]
    action_id, value = button(slack_api, report, "container.down")
    confirm = [
        e for b in report.blocks if b.get("type") == "actions" for e in b["elements"]
        if e.get("value") == value
    ]  # fmt: skip
    assert confirm and confirm[0].get("style") == "danger" and "confirm" in confirm[0]

    viewer = block_actions_body(
        action_id, value, user_id=VIEWER, channel_id=CHANNEL, message_ts=report.ts
    )
    await send(bot, viewer)
    await bot.drain()
    assert any("operator" in m.text for m in slack_api.ephemerals(VIEWER))

    click = block_actions_body(
        action_id, value, user_id=APPROVER, channel_id=CHANNEL, message_ts=report.ts
    )
    await send(bot, click)
    await bot.drain()
    assert lab.docker("h1").containers.get("hanna_backend_1").status == "exited"  # not yet
    asks = [m for m in slack_api.messages(CHANNEL) if "Approval needed" in m.text]
    assert asks

    own = block_actions_body(f"approve:{value}", value, user_id=APPROVER, channel_id=CHANNEL)
    await send(bot, own)
    await bot.drain()
    assert lab.docker("h1").containers.get("hanna_backend_1").status == "exited"
    assert slack_api.ephemerals(APPROVER)  # told why: nobody approves their own request

    by_operator = block_actions_body(
        f"approve:{value}", value, user_id=OPERATOR, channel_id=CHANNEL
    )
    await send(bot, by_operator)
    await bot.drain()
    assert any("approver" in m.text for m in slack_api.ephemerals(OPERATOR))
    assert lab.docker("h1").containers.get("hanna_backend_1").status == "exited"

    second = block_actions_body(
        f"approve:{value}", value, user_id=SECOND_APPROVER, channel_id=CHANNEL
    )
    await send(bot, second)
    await bot.drain()
    assert lab.docker("h1").containers.get("hanna_backend_1").status == "running"


async def test_reports_audit_and_help_follow_the_role(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    ensure_scenario(lab, "S1")
    async with running(inventory, slack_api) as bot:
        stranger = await send(bot, slash_command_body("help", user_id="USTRANGER"))
        assert "no role" in stranger.body and "/stack diagnose" not in stranger.body
        viewer = await send(bot, slash_command_body("help", user_id=VIEWER))
        assert "/stack diagnose ENV [STACK]" in viewer.body and "`lab`" in viewer.body
        assert "apply fixes" not in viewer.body
        slack_api.usergroups["S0OPSTEAM"] = ["UGROUPIE"]
        await bot.refresh_groups()  # as the background refresh would
        member = await send(bot, slash_command_body("help", user_id="UGROUPIE"))
        assert "apply fixes" in member.body  # operator through the user group
        envs = await send(bot, slash_command_body("envs", user_id=VIEWER))
        assert "`guarded`" in envs.body and "`lab`" in envs.body

        for text in ("volumes lab", "disk lab", "audit lab 5"):
            await send(bot, slash_command_body(text, user_id=VIEWER, channel_id=CHANNEL))
        await bot.drain()
        posted = " ".join(m.text + str(m.blocks) for m in slack_api.messages(CHANNEL))
        assert "multivendor_postgres_data" in posted  # the volumes table
        assert "docker root" in posted  # the disk table
        assert "audit · lab · last 5" in posted
        assert not slack_api.violations


async def test_clicks_race_and_expire_but_nothing_runs_twice(
    lab: Lab, inventory: Inventory, slack_api: SlackStub
) -> None:
    ensure_scenario(lab, "S1")
    slack_api.rate_limit("chat.postMessage", times=2, retry_after=1)  # 429s: still delivered
    async with running(inventory, slack_api) as bot, running(inventory, slack_api) as replica:
        await send(bot, slash_command_body("diagnose lab", user_id=OPERATOR, channel_id=CHANNEL))
        await bot.drain()
        (report,) = [m for m in slack_api.messages(CHANNEL) if m.thread_ts is None]
        action_id, value = button(slack_api, report, "network.split")
        click = block_actions_body(
            action_id, value, user_id=OPERATOR, channel_id=CHANNEL, message_ts=report.ts
        )
        # a double click (two deliveries), a third click at a second replica, and the
        # first delivery again there (a replay: acknowledged, never run), all at once
        clicks = [click] + [
            block_actions_body(
                action_id, value, user_id=OPERATOR, channel_id=CHANNEL, message_ts=report.ts
            )
            for _ in range(2)
        ]
        assert len(set(clicks)) == 3
        await asyncio.gather(
            send(bot, clicks[0]), send(bot, clicks[1]), send(replica, clicks[2]),
            send(replica, clicks[0]),
        )  # fmt: skip
        await asyncio.gather(bot.drain(), replica.drain())
        connects = [r for r in await _rows(bot, "network.connect") if r.kind == "started"]
        assert len(connects) == 1
        refusals = [m for m in slack_api.ephemerals(OPERATOR) if "already claimed" in m.text]
        assert len(refusals) == 2

        assert bot.pending is not None
        plan = (await bot.pending.get(value)).plan
        stale = await bot.pending.create(
            environment="lab", action="network.connect", plan=plan, requester=OPERATOR,
            params={"host": "h1", "container": BACKEND, "network": INTERNAL},
            ttl=timedelta(milliseconds=1),
        )  # fmt: skip
        await asyncio.sleep(0.05)
        expired = block_actions_body(action_id, str(stale.id), user_id=OPERATOR, channel_id=CHANNEL)
        await send(bot, expired)
        await bot.drain()
        assert any("expired" in m.text for m in slack_api.ephemerals(OPERATOR))
    assert len(slack_api.calls("chat.postMessage")) > 2  # the 429s were retried
    assert all(c.status == 200 for c in slack_api.calls("chat.postMessage")[-1:])


async def _rows(bot: SlackBot, action: str) -> list[Any]:
    assert bot.trail is not None and bot.trail.store is not None
    return list(await bot.trail.store.rows(RowFilter(action=action)))
