"""The Slack app against the stand-in: a report too long for one message; the request path
(signed requests): malformed text, strangers, replays and retries."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.framework.session import HostSession
from bot.inventory.config import parse_inventory
from bot.inventory.config.models import ResolvedHost
from bot.model.docker_objects import ContainerSummary
from bot.model.findings import Severity, Subject, make_finding
from bot.slack import messages
from bot.slack.app import SlackBot
from bot.slack.deliveries import Deliveries, DeliveryKey, _Memory, delivery_key
from bot.slack.settings import SlackSettings
from bot.stores.audit.trail import AuditTrail
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import block_actions_body, signed_headers, slash_command_body
from tests.unit.diagnose.factories import lab_stack
from tests.unit.fakes import CallLog, FakeDocker, FakeHostSession
from tests.unit.test_render_slack import report_of

__all__ = ["slack_api"]


async def test_a_long_report_stays_within_limits_and_loses_nothing(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    inventory = parse_inventory(
        {"environments": {"prod": {"hosts": {"web1": {"address": "192.0.2.1"}}}}},
        source="test",
        base_dir=tmp_path,
    )
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr("s"), api_url=slack_api.api_url
    )
    bot = SlackBot(inventory, settings, trail=None, lock_dir=tmp_path / "locks")
    findings = [
        make_finding(
            "container.down",
            Severity.CRITICAL,
            f"service s{i} is down <!channel>",
            Subject(environment="prod", host="web1", project="shop", service=f"s{i}"),
            log="x " * 1500,
        )
        for i in range(80)
    ]
    report = report_of(findings)
    posted = await bot.client.chat_postMessage(channel="C1", text="Diagnosing prod…")
    ts = str(posted["ts"])
    await bot.diagnoses.post_report(report, "C1", ts, "U1", root=ts)

    assert not slack_api.violations
    main = next(m for m in slack_api.messages("C1") if m.thread_ts is None)
    assert len(main.blocks) <= 50 and main.edits == 1
    thread = [m for m in slack_api.messages("C1") if m.thread_ts == main.ts]
    shown = " ".join(str(m.blocks) for m in [main, *thread])
    assert all(f.id in shown or f"s{i} is down" in shown for i, f in enumerate(findings))
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert slack_api.files("C1")  # the long log lines, whole, as files


# --- the request path: signed requests in, the stand-in out ----------------------------

SECRET = "unit-signing-secret"
VIEWER, OTHER, STRANGER = "UVIEWER", "UOTHER", "USTRANGER"
STRANGER_TEXTS = (
    "",
    "help",
    "envs",
    "diagnose prod",
    "diagnose prdo",
    "diagnose hidden-payroll",
    "diagnose hidden-payrol",
    "audit prod ²",
    "audit prod 5",
    "volumes prod",
    "disk nowhere",
    "oncall",
    "oncall prod",
    "oncall override prod <@UVIEWER> 4h",
    "incidents",
    "frobnicate",
    "diagnoze prod",
    "helpp",
    "diagnose prod $(reboot)",
    "<!channel> `; rm -rf /`",
    "x" * 5000,
)


def make_bot(tmp_path: Path, api_url: str, *, trail: AuditTrail | None = None) -> SlackBot:
    """A bot whose viewer sees ``prod``; ``hidden-payroll`` is someone else's."""
    inventory = parse_inventory(
        {
            "environments": {
                "prod": {
                    "hosts": {"web1": {"address": "192.0.2.1"}},
                    "access": {"viewer": [VIEWER]},
                },
                "hidden-payroll": {
                    "hosts": {"pay1": {"address": "192.0.2.2"}},
                    "access": {"admin": [OTHER]},
                },
            }
        },
        source="test",
        base_dir=tmp_path,
    )
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET), api_url=api_url
    )
    return SlackBot(inventory, settings, trail=trail, lock_dir=tmp_path / "locks")


async def dispatch(
    bot: SlackBot, body: bytes, *, timestamp: int | None = None, retry: int | None = None
) -> BoltResponse:
    headers = signed_headers(body, SECRET, timestamp)
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    request = AsyncBoltRequest(
        body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
    )
    response = await bot.app.async_dispatch(request)
    await bot.drain()
    return response


async def test_a_superscript_count_gets_the_usage_not_a_500(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    for text in ("audit prod ²", "audit prod ١٢", "audit prod 1e3", "audit prod 0x10"):
        response = await dispatch(bot, slash_command_body(text, user_id=VIEWER))
        assert response.status == 200, text
        assert "is not a number from 1 to 100" in str(response.body), text
    assert bot.failures == [] and not slack_api.calls("chat.postMessage")


async def test_strangers_get_one_answer_whatever_they_type(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    bodies = set()
    for index, text in enumerate(STRANGER_TEXTS):
        body = slash_command_body(text, user_id=STRANGER, trigger_id=f"t{index}")
        response = await dispatch(bot, body)
        assert response.status == 200, text
        bodies.add(str(response.body))
    assert len(STRANGER_TEXTS) == 21 and len(bodies) == 1
    (answer,) = bodies
    assert json.loads(answer) == {"response_type": "ephemeral", "text": messages.NO_ROLE}
    for word in ("prod", "payroll", "diagnose", "UOTHER", "Did you mean"):
        assert word not in answer
    assert not slack_api.calls("chat.postMessage") and not slack_api.calls("chat.postEphemeral")
    assert bot.failures == []


async def test_suggestions_name_only_the_users_own_environments(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    near_own = await dispatch(bot, slash_command_body("diagnose prdo", user_id=VIEWER))
    assert "Did you mean `/stack diagnose prod`?" in str(near_own.body)
    near_hidden = await dispatch(bot, slash_command_body("diagnose hidden-payrol", user_id=VIEWER))
    assert "payroll" not in str(near_hidden.body)
    assert "There is no environment `hidden-payrol`." in str(near_hidden.body)
    owner = await dispatch(bot, slash_command_body("diagnose hidden-payrol", user_id=OTHER))
    assert "Did you mean `/stack diagnose hidden-payroll`?" in str(owner.body)


async def test_a_replayed_or_retried_command_runs_once(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)  # no audit database: the in-memory fallback
    body = slash_command_body("audit prod", user_id=VIEWER, trigger_id="t-once")
    now = int(time.time())
    first = await dispatch(bot, body, timestamp=now)
    replay = await dispatch(bot, body, timestamp=now)  # the same bytes, the same headers
    retry = await dispatch(bot, body, timestamp=now + 2, retry=1)  # re-signed by Slack
    assert [r.status for r in (first, replay, retry)] == [200, 200, 200]
    assert replay.body == retry.body == ""
    # `/stack audit` with no database tells the user so: once, not three times
    assert len(slack_api.ephemerals(VIEWER)) == 1

    other = slash_command_body("audit prod", user_id=VIEWER, trigger_id="t-another")
    assert (await dispatch(bot, other, timestamp=now)).status == 200
    assert len(slack_api.ephemerals(VIEWER)) == 2  # another delivery of the same text runs


async def test_a_replayed_click_is_acked_without_a_second_answer(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    click = block_actions_body("fix:p1", "p1", user_id=VIEWER)
    now = int(time.time())
    for _ in range(3):
        assert (await dispatch(bot, click, timestamp=now)).status == 200
    assert len(slack_api.ephemerals(VIEWER)) == 1  # "Fix buttons need the audit database."
    double = block_actions_body("fix:p1", "p1", user_id=VIEWER)  # a second click: its own
    await dispatch(bot, double, timestamp=now)  # action_ts, so a delivery of its own
    assert len(slack_api.ephemerals(VIEWER)) == 2


async def test_the_ack_does_not_wait_for_the_claim_and_a_copy_runs_nothing(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    deliveries = bot.deliveries
    claimed: set[str] = set()
    answer = asyncio.Event()

    async def late_claim(store: object, digest: str) -> bool:  # a shared database, slow
        await answer.wait()
        first = digest not in claimed
        claimed.add(digest)
        deliveries._memory.first(digest)  # as the real claim does
        return first

    deliveries.store = cast(Any, object())
    deliveries._claim = late_claim  # type: ignore[method-assign]
    body = slash_command_body("audit prod", user_id=VIEWER, trigger_id="t-late")
    now = int(time.time())

    async def ack_of(timestamp: int, retry: int | None = None) -> BoltResponse:
        headers = signed_headers(body, SECRET, timestamp)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry)}
        request = AsyncBoltRequest(
            body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
        )
        return await asyncio.wait_for(bot.app.async_dispatch(request), 1)

    first, retry = await ack_of(now), await ack_of(now + 2, retry=1)  # claims unanswered
    assert first.status == retry.status == 200 and first.body == retry.body == ""
    assert len(deliveries.claims) == 2 and not slack_api.calls("chat.postEphemeral")
    answer.set()
    await bot.drain()
    # `/stack audit` with no database tells the user so: the first delivery did, the retry not
    assert len(slack_api.ephemerals(VIEWER)) == 1 and bot.failures == []
    replay = await ack_of(now)  # known to this process now: acked at once, no claim, no run
    assert replay.body == "" and not deliveries.claims and not bot.tasks


async def test_a_claim_that_fails_is_decided_in_memory() -> None:
    deliveries = Deliveries(cast(Any, object()))

    async def broken(store: object, digest: str) -> bool:
        raise RuntimeError("a bug, not an outage")

    deliveries._claim = broken  # type: ignore[method-assign]
    key = DeliveryKey("d" * 64, "body")
    assert await deliveries.claim(key) is True
    assert await deliveries.claim(key) is False


def test_delivery_keys() -> None:
    form = slash_command_body("help")
    key = delivery_key({}, form.decode(), {"command": "/stack"})
    assert key is not None and key.kind == "body" and key.retry is None
    retried = delivery_key({"x-slack-retry-num": ["2"]}, form.decode(), {})
    assert retried is not None and retried.digest == key.digest and retried.retry == 2
    assert delivery_key({"x-slack-retry-num": ["²"]}, form.decode(), {}) == DeliveryKey(
        key.digest, "body", None
    )
    event = {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}}
    first = delivery_key({}, json.dumps(event), event)
    again = delivery_key({}, json.dumps({**event, "event_time": 2}), event)
    assert first is not None and again is not None and first.digest == again.digest
    assert first.kind == "event"
    assert delivery_key({}, "{}", {"type": "url_verification", "challenge": "c"}) is None
    assert delivery_key({}, "", {}) is None
    socket_mode = {"command": "/stack", "text": "help", "trigger_id": "t1"}
    keyed = delivery_key({}, "", socket_mode)
    assert keyed is not None and keyed == delivery_key({}, "", dict(reversed(socket_mode.items())))


def test_the_memory_forgets_the_oldest_and_the_expired() -> None:
    memory = _Memory(size=3, ttl=3600)
    assert [memory.first(k) for k in "abca"] == [True, True, True, False]
    assert [memory.first(k) for k in "dbab"] == [True, False, True, True]  # a, then b, go
    stale = _Memory(size=10, ttl=-1)  # everything has expired
    assert stale.first("a") and stale.first("a")


# --- reports from the registry: /stack logs, its long output as a file in the thread ---


class OneHost:
    """The transport seam: every host is the same fake, with a chatty backend."""

    def __init__(self, lines: int) -> None:
        self.lines = lines

    @asynccontextmanager
    async def session(self, host: ResolvedHost) -> AsyncIterator[HostSession]:
        containers = lab_stack()
        text = "\n".join(f"request {i} <!channel> took {i} ms" for i in range(self.lines))
        docker = FakeDocker(
            log=CallLog(),
            container_list=[
                ContainerSummary.model_validate({"Id": c.id, "Names": [f"/{c.name}"]})
                for c in containers
            ],
            details={c.id: c for c in containers},
            log_text={c.id: text for c in containers if c.compose_service == "backend"},
        )
        yield FakeHostSession(docker=docker, host=host)


async def test_stack_logs_posts_a_code_block_and_the_whole_text_as_a_file(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    bot.operations.transport = OneHost(lines=400)
    body = slash_command_body("logs prod backend --tail 300 --grep request", user_id=VIEWER)
    assert (await dispatch(bot, body)).status == 200
    assert bot.failures == [] and not slack_api.violations
    (posted,) = [m for m in slack_api.messages() if m.thread_ts is None]
    assert posted.text == "logs · prod" and "request 399" not in str(posted.blocks)  # cut
    assert "&lt;!channel&gt;" in str(posted.blocks) and "<!channel>" not in str(posted.blocks)
    (upload,) = slack_api.files()
    content = upload.content.decode()
    assert "request 399 " in content and "request 99 " not in content  # the tail, whole
    assert upload.thread_ts == posted.ts

    usage = await dispatch(bot, slash_command_body("logs prod", user_id=VIEWER))
    assert "/stack logs ENV SERVICE [--since SINCE]" in str(usage.body)
    help_text = await dispatch(bot, slash_command_body("help", user_id=VIEWER))
    assert "/stack ps ENV [--project PROJECT]" in str(help_text.body)


async def test_diagnose_again_is_authorised_again_and_refuses_what_it_does_not_know(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path, slack_api.api_url)
    for value in ("nowhere", "prod $(reboot)", "prod ../etc"):
        click = block_actions_body(f"diagnose_again:{value[:8]}", value, user_id=VIEWER)
        assert (await dispatch(bot, click)).status == 200
    assert [m.text for m in slack_api.ephemerals(VIEWER)] == [
        "That button no longer names an environment."
    ] * 3
    # someone without a role on the environment is refused, and nothing is diagnosed
    hidden = block_actions_body("diagnose_again:hidden", "hidden-payroll", user_id=VIEWER)
    await dispatch(bot, hidden)
    assert len(slack_api.ephemerals(VIEWER)) == 4
    assert not slack_api.calls("chat.postMessage") and bot.failures == []
