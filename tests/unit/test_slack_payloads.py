"""What a click says about where it happened: the thread its message is in."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from bot.slack.payloads import click_parts, thread_root
from tests.slackstub.signing import block_actions_body


def payload(**fields: object) -> dict[str, object]:
    body = block_actions_body("fix:abc:0", "pending-id", **fields)
    parsed: dict[str, object] = json.loads(parse_qs(body.decode())["payload"][0])
    return parsed


def test_a_click_on_a_reply_names_its_threads_root() -> None:
    reply = {"type": "message", "ts": "2.000", "thread_ts": "1.000", "blocks": []}
    body = payload(user_id="U1", channel_id="C1", message_ts="2.000", message=reply)
    assert click_parts(body) == ("U1", "C1", "pending-id")
    assert thread_root(body) == "1.000"


def test_a_click_on_a_top_level_message_has_no_root() -> None:
    top = {"type": "message", "ts": "2.000", "blocks": []}
    assert thread_root(payload(message=top)) is None
    assert thread_root({"container": {"thread_ts": "9.000"}}) == "9.000"
