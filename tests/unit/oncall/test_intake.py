"""``POST /alerts/{env}`` over real HTTP (aiohttp's test server) with a recording sink."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.oncall.intake import MAX_BODY, IntakeResult, add_intake_routes
from bot.oncall.models import Alert
from bot.stores.audit.errors import AuditUnavailable
from tests.unit.oncall.test_alerts import alertmanager_firing, alertmanager_resolved

TOKEN = "s3cret-alert-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class RecordingSink:
    """Records what it is given; answers one opened incident per firing alert."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, list[Alert]]] = []
        self.fail = fail

    async def __call__(self, environment: str, alerts: list[Alert]) -> IntakeResult:
        self.calls.append((environment, alerts))
        if self.fail is not None:
            raise self.fail
        firing = [alert for alert in alerts if alert.status == "firing"]
        return IntakeResult(
            opened=len(firing),
            repeated=0,
            resolved=0,
            ignored=len(alerts) - len(firing),
            incidents=[f"{n:08x}" for n in range(len(firing))],
        )


@asynccontextmanager
async def intake(sink: RecordingSink) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    add_intake_routes(app, token=TOKEN, environments=["prod", "staging"], sink=sink)
    async with TestClient(TestServer(app)) as client:
        yield client


async def post(
    sink: RecordingSink,
    body: object,
    *,
    env: str = "prod",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST ``body`` (JSON unless bytes/str) and return status, JSON answer and headers."""
    text = body if isinstance(body, bytes | str) else json.dumps(body)
    data = io.BytesIO(text.encode() if isinstance(text, str) else text)  # sent with a length
    async with intake(sink) as client:
        response = await client.post(
            f"/alerts/{env}",
            data=data,
            headers=AUTH if headers is None else headers,
        )
        answer = await response.json()
        return response.status, answer, dict(response.headers)


async def test_firing_alerts_reach_the_sink_and_the_counts_come_back() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(sink, alertmanager_firing())
    assert status == 200
    assert answer == {
        "ok": True,
        "opened": 2,
        "repeated": 0,
        "resolved": 0,
        "ignored": 0,
        "incidents": ["00000000", "00000001"],
    }
    [(environment, alerts)] = sink.calls
    assert environment == "prod"
    assert [alert.fingerprint for alert in alerts] == ["8c3e1a0b5d7f2e91", "1f2e3d4c5b6a7980"]


async def test_resolved_and_generic_forms_are_taken_in() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(sink, alertmanager_resolved(), env="staging")
    assert status == 200 and answer["ignored"] == 1
    status, answer, _ = await post(sink, {"title": "Backups did not run"})
    assert status == 200 and answer["opened"] == 1
    assert [env for env, _ in sink.calls] == ["staging", "prod"]
    assert sink.calls[1][1][0].source == "generic"


async def test_wrong_token_is_401_and_never_reaches_the_sink() -> None:
    sink = RecordingSink()
    status, answer, headers = await post(
        sink, alertmanager_firing(), headers={"Authorization": "Bearer not-the-token"}
    )
    assert status == 401
    assert answer == {"ok": False, "error": "wrong token"}
    assert headers["WWW-Authenticate"] == "Bearer"
    assert sink.calls == []


async def test_missing_header_is_401_saying_so() -> None:
    sink = RecordingSink()
    status, answer, headers = await post(sink, alertmanager_firing(), headers={})
    assert status == 401
    assert answer["ok"] is False and "missing Authorization header" in answer["error"]
    assert headers["WWW-Authenticate"] == "Bearer"
    assert sink.calls == []


async def test_not_a_bearer_token_is_401_without_echoing_it() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(
        sink, alertmanager_firing(), headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert status == 401 and "not a Bearer token" in answer["error"]
    assert TOKEN not in json.dumps(answer)
    assert sink.calls == []


async def test_token_is_checked_before_the_environment() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(sink, alertmanager_firing(), env="nope", headers={})
    assert status == 401 and "prod" not in answer["error"]


async def test_unknown_environment_is_404_naming_the_known_ones() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(sink, alertmanager_firing(), env="qa")
    assert status == 404
    assert answer == {"ok": False, "error": "unknown environment 'qa' (known: prod, staging)"}
    assert sink.calls == []


async def test_malformed_json_is_400_with_a_clear_message() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(sink, '{"version": "4", "alerts": [')
    assert status == 400
    assert answer["ok"] is False
    assert answer["error"].startswith("the body is not JSON: Expecting value (line 1 column")
    assert sink.calls == []


async def test_body_not_utf8_is_400() -> None:
    sink = RecordingSink()
    status, answer, _ = await post(sink, b'{"title": "\xff"}')
    assert status == 400 and answer["error"] == "the body is not UTF-8 text"
    assert sink.calls == []


async def test_one_bad_alert_among_good_ones_sends_nothing() -> None:
    payload = alertmanager_firing()
    payload["alerts"][1]["labels"]["replicas"] = 3
    sink = RecordingSink()
    status, answer, _ = await post(sink, payload)
    assert status == 400
    assert answer == {
        "ok": False,
        "error": "alertmanager payload: alerts[1].labels.replicas: must be a string, not a number",
    }
    assert sink.calls == []


async def test_wrong_version_is_400() -> None:
    payload = alertmanager_firing()
    payload["version"] = "3"
    sink = RecordingSink()
    status, answer, _ = await post(sink, payload)
    assert status == 400 and 'version: must be "4"' in answer["error"]
    assert sink.calls == []


async def test_body_over_one_mebibyte_is_413() -> None:
    sink = RecordingSink()
    body = json.dumps({"title": "big", "summary": "x" * MAX_BODY})
    status, answer, _ = await post(sink, body)  # with a Content-Length: refused unread
    assert status == 413 and answer["ok"] is False and "1 MiB" in answer["error"]
    assert sink.calls == []


async def test_body_over_one_mebibyte_without_a_length_is_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    sink = RecordingSink()
    async with intake(sink) as client:
        response = await client.post("/alerts/prod", data=chunks(), headers=AUTH)
        assert response.status == 413
        assert (await response.json())["ok"] is False
    assert sink.calls == []


async def test_audit_unavailable_is_503_asking_to_retry() -> None:
    sink = RecordingSink(fail=AuditUnavailable("database down"))
    status, answer, headers = await post(sink, alertmanager_firing())
    assert status == 503
    assert answer == {
        "ok": False,
        "error": "the incident database is unavailable; nothing was stored, retry later",
    }
    assert headers["Retry-After"] == "30"
    assert len(sink.calls) == 1


async def test_one_log_line_per_request_without_the_token_or_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = alertmanager_firing()
    payload["alerts"][0]["annotations"]["description"] = "postgres://app:hunter2@db/x"
    with caplog.at_level(logging.INFO, logger="stackbot.alerts"):
        await post(RecordingSink(), payload)
        await post(RecordingSink(), payload, headers={"Authorization": "Bearer guess-hunter3"})
    lines = [r.getMessage() for r in caplog.records if r.name == "stackbot.alerts"]
    assert len(lines) == 2
    assert "POST /alerts/prod from 127.0.0.1: 200 alerts=2 opened=2" in lines[0]
    assert lines[1].endswith(": 401 wrong token")
    text = "\n".join(lines)
    assert TOKEN not in text and "hunter" not in text


def test_an_empty_token_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        add_intake_routes(web.Application(), token="", environments=["prod"], sink=RecordingSink())
