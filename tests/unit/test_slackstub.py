"""The Slack stand-in: answers slack_sdk like Slack, validates blocks, rate-limits, signs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.model.diagnosis import DiagnosisReport
from bot.model.findings import Finding, Fix, Severity, Subject, make_finding
from bot.render.slack import SlackMessage, report_messages
from tests.slackstub import (
    DEFAULT_TOKEN,
    SlackStub,
    block_actions_body,
    sign,
    slash_command_body,
)
from tests.slackstub.fixtures import slack_api

__all__ = ["slack_api"]  # the fixture, used by name below

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}


def client(stub: SlackStub, token: str = DEFAULT_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=stub.api_url)


async def test_answers_slack_sdk_calls_and_keeps_channel_history(slack_api: SlackStub) -> None:
    web = client(slack_api)
    auth = await web.auth_test()
    assert (auth["user_id"], auth["team_id"], auth["bot_id"]) == ("UBOT", "T1", "B1")

    posted = await web.chat_postMessage(channel="C1", text="Diagnosing prod…", blocks=[SECTION])
    assert posted["channel"] == "C1" and posted["ts"]
    reply = await web.chat_postMessage(channel="C1", text="in thread", thread_ts=posted["ts"])
    await web.chat_update(channel="C1", ts=posted["ts"], text="report", blocks=[SECTION])
    await web.chat_postEphemeral(channel="C1", user="U2", text="only you")
    await web.reactions_add(channel="C1", timestamp=posted["ts"], name="eyes")
    other = await web.chat_postMessage(channel="C2", text="elsewhere")
    await web.chat_delete(channel="C2", ts=other["ts"])

    history = slack_api.messages("C1")
    assert [(m.text, m.thread_ts, m.edits) for m in history] == [
        ("report", None, 1),
        ("in thread", posted["ts"], 0),
    ]
    assert history[0].reactions == ["eyes"] and reply["ts"] != posted["ts"]
    assert slack_api.messages("C2") == []
    assert [m.text for m in slack_api.ephemerals("U2")] == ["only you"]

    last = slack_api.last("chat.update")
    assert last.body["blocks"] == [SECTION] and last.headers["Authorization"].endswith(
        DEFAULT_TOKEN
    )
    assert [c.method for c in slack_api.calls()][:3] == [
        "auth.test",
        "chat.postMessage",
        "chat.postMessage",
    ]
    assert slack_api.violations == []


async def test_lookups_views_and_file_uploads(slack_api: SlackStub) -> None:
    web = client(slack_api)
    slack_api.usergroups["S1"] = ["U1", "U2"]
    slack_api.users["U9"] = {"id": "U9", "name": "ops-lead"}
    assert (await web.users_info(user="U1"))["user"]["id"] == "U1"
    assert (await web.users_info(user="U9"))["user"]["name"] == "ops-lead"
    assert (await web.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as missing:
        await web.usergroups_users_list(usergroup="S404")
    assert missing.value.response["error"] == "no_such_subteam"
    assert (await web.conversations_info(channel="C1"))["channel"]["id"] == "C1"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Plan"}, "blocks": [SECTION]}
    opened = await web.views_open(trigger_id="1.2.3", view=view)
    assert opened["view"]["id"].startswith("V")

    posted = await web.chat_postMessage(channel="C1", text="report")
    content = "line\n" * 3000
    await web.files_upload_v2(
        channel="C1", thread_ts=posted["ts"], filename="log.txt", content=content, title="log"
    )
    (uploaded,) = slack_api.files("C1")
    assert uploaded.content.decode() == content
    assert (uploaded.filename, uploaded.thread_ts) == ("log.txt", posted["ts"])


async def test_rejects_bad_token_and_unknown_methods(slack_api: SlackStub) -> None:
    with pytest.raises(SlackApiError) as bad:
        await client(slack_api, token="xoxb-wrong").chat_postMessage(channel="C1", text="x")
    assert bad.value.response["error"] == "invalid_auth"
    assert slack_api.messages() == []
    with pytest.raises(SlackApiError) as unknown:
        await client(slack_api).api_call("chat.nonsense")
    assert unknown.value.response["error"] == "unknown_method"


async def test_rejects_invalid_blocks_and_records_the_violation(slack_api: SlackStub) -> None:
    web = client(slack_api)
    with pytest.raises(SlackApiError) as too_many:
        await web.chat_postMessage(channel="C1", text="x", blocks=[SECTION] * 51)
    assert too_many.value.response["error"] == "invalid_blocks"
    long_field = {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}
    with pytest.raises(SlackApiError):
        await web.chat_postEphemeral(channel="C1", user="U1", text="x", blocks=[long_field])
    assert [v.method for v in slack_api.violations] == ["chat.postMessage", "chat.postEphemeral"]
    assert "50" in slack_api.violations[0].errors[0]
    assert slack_api.messages() == [] and slack_api.ephemerals() == []
    await web.chat_postMessage(channel="C1", text="x", blocks=[SECTION] * 50)
    assert len(slack_api.messages("C1")) == 1 and len(slack_api.violations) == 2


def long_report(n: int) -> DiagnosisReport:
    findings: list[Finding] = [
        make_finding(
            "container.restarting",
            Severity.WARNING,
            f"app_{i} restarts <!channel>",
            Subject(environment="prod", host="web1", container=f"app_{i}"),
            fixes=(Fix(action="container.recreate", destructive=True, summary="recreate"),),
            log="boom " * 400,
        )
        for i in range(n)
    ]
    return DiagnosisReport(
        environment="prod",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration=1.0,
        verdict="warning",
        counts={"critical": 0, "warning": n, "info": 0},
        hosts=[],
        findings=findings,
    )


async def test_a_rendered_long_report_is_accepted_whole(slack_api: SlackStub) -> None:
    """The renderer and the stand-in agree: 80 findings post with no violation."""
    web = client(slack_api)
    report = report_messages(long_report(80), button_value=lambda f, x: f"pa-{f.id}")
    main = await web.chat_postMessage(channel="C1", text=report.text, blocks=report.blocks)
    messages: list[SlackMessage] = [report, *report.thread]
    for reply in report.thread:
        await web.chat_postMessage(
            channel="C1", thread_ts=main["ts"], text=reply.text, blocks=reply.blocks
        )
    for message in messages:
        for filename, content in message.files:
            await web.files_upload_v2(
                channel="C1", thread_ts=main["ts"], filename=filename, content=content
            )
    assert slack_api.violations == []
    shown = json.dumps([m.blocks for m in slack_api.messages("C1")])
    assert shown.count('"finding:') == 80
    assert "<!channel>" not in shown
    assert len(slack_api.files("C1")) == 80


async def test_429_then_success_with_the_retry_handler(slack_api: SlackStub) -> None:
    plain = client(slack_api)
    slack_api.rate_limit("chat.postMessage", times=1)
    with pytest.raises(SlackApiError) as limited:
        await plain.chat_postMessage(channel="C1", text="dropped")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"

    web = client(slack_api)
    web.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    slack_api.rate_limit("chat.postMessage", times=1)
    for n in range(3):
        await web.chat_postMessage(channel="C1", text=f"message {n}")
    assert [m.text for m in slack_api.messages("C1")] == [f"message {n}" for n in range(3)]
    statuses = [c.status for c in slack_api.calls("chat.postMessage")]
    assert statuses == [429, 429, 200, 200, 200]


def test_wait_for_sees_calls_made_by_another_thread(slack_api: SlackStub) -> None:
    def later() -> None:
        time.sleep(0.2)
        asyncio.run(client(slack_api).chat_postMessage(channel="C1", text="late"))

    worker = threading.Thread(target=later)
    worker.start()
    call = slack_api.wait_for("chat.postMessage", lambda c: c.body.get("text") == "late")
    worker.join()
    assert call.body["channel"] == "C1"
    with pytest.raises(AssertionError, match="within"):
        slack_api.wait_for("chat.update", timeout=0.1)


async def test_wait_for_async(slack_api: SlackStub) -> None:
    web = client(slack_api)
    await web.chat_postMessage(channel="C1", text="x")
    assert (await slack_api.wait_for_async("chat.postMessage")).body["text"] == "x"
    with pytest.raises(AssertionError):
        await slack_api.wait_for_async("chat.delete", timeout=0.1)


def test_response_url_posts_are_recorded(slack_api: SlackStub) -> None:
    request = urllib.request.Request(  # noqa: S310 (a loopback URL built by the stub)
        slack_api.response_url("r7"),
        data=json.dumps({"text": "done", "replace_original": False}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
    call = slack_api.last("response_url")
    assert call.body["text"] == "done" and call.body["_response_url"] == "r7"


def test_sign_matches_slack_sdk_signature_verifier() -> None:
    verifier = SignatureVerifier(SECRET)
    body = slash_command_body("diagnose prod", user_id="U7")
    headers = sign(body, SECRET)
    ts = headers["X-Slack-Request-Timestamp"]
    assert verifier.is_valid(body, ts, headers["X-Slack-Signature"])
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid(body + b"x", ts, headers["X-Slack-Signature"])
    assert not verifier.is_valid_request(body, sign(body, "another-secret"))
    stale = sign(body, SECRET, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


def test_request_bodies_look_like_slacks() -> None:
    command = parse_qs(slash_command_body("diagnose prod", user_id="U7").decode())
    assert command["command"] == ["/stack"] and command["text"] == ["diagnose prod"]
    assert command["user_id"] == ["U7"] and command["trigger_id"] and command["response_url"]
    click = parse_qs(block_actions_body("fix:abc:0", "pa-1", user_id="U3").decode())
    payload = json.loads(click["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U3" and payload["channel"]["id"] == "C1"
    assert payload["team"]["id"] == "T1" and payload["trigger_id"] and payload["response_url"]
    (action,) = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("fix:abc:0", "pa-1", "button")
    assert payload["container"]["message_ts"] == payload["message"]["ts"]
