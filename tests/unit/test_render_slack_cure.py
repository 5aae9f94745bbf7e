"""The cure watch's words in Slack: the incident's line and the thread notes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.model.findings import Severity, Subject, make_finding
from bot.oncall.models import CureWatch, Incident, IncidentStatus
from bot.render.slack import validate_blocks
from bot.render.slack.cure import (
    took,
    watch_broke_message,
    watch_held_message,
    watch_line,
    watch_page_message,
    watch_started_message,
)

START = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)


def watch(**changes: Any) -> CureWatch:
    data: dict[str, Any] = {
        "id": uuid.uuid4(), "environment": "prod", "host": "web1", "stack": "shop",
        "action": "network.connect", "params": {}, "finding_id": "0a1b2c3d",
        "touched": ["shop_app_1"], "incident_id": uuid.uuid4(), "fixed_by": "UBOB",
        "channel": "CPROD", "thread_ts": "1.000001", "started_at": START,
        "ends_at": START + timedelta(minutes=10), "checks_total": 4, "checks_done": 0,
        "next_check_at": START + timedelta(minutes=2, seconds=30), "status": "watching",
        "finished_at": None, "evidence": [],
    }  # fmt: skip
    data.update(changes)
    return CureWatch.model_validate(data)


def test_checks_are_spread_evenly_over_the_window() -> None:
    w = watch()
    assert [w.check_at(n) - START for n in range(1, 5)] == [
        timedelta(minutes=2, seconds=30) * n for n in range(1, 5)
    ]


def test_durations_read_as_people_say_them() -> None:
    assert took(timedelta(seconds=0.84)) == "0.8 s"
    assert took(600) == "10 min" and took(None) == "?"


def test_the_incident_line_follows_the_watch() -> None:
    assert watch_line(watch(checks_done=2)) == (
        ":telescope: *Watching the cure* (`network.connect` by <@UBOB>): held 2 of 4 checks, "
        "until 10:10 UTC"
    )
    assert watch_line(watch(status="held", checks_done=4)).startswith(
        ":white_check_mark: *The cure held* for 10 min"
    )
    broke = watch(
        status="broke", finished_at=START + timedelta(minutes=5),
        evidence=[{"code": "network.split", "id": "0a1b2c3d"}],
    )  # fmt: skip
    assert watch_line(broke) == (
        ":x: *The cure broke* 5 min after `network.connect` by <@UBOB>: `network.split`"
    )


def test_the_started_and_closing_notes() -> None:
    started = watch_started_message(watch())
    assert started.text == "Watching the cure for 10 min"
    assert "4 checks of web1" in str(started.blocks) and "resolves itself" in str(started.blocks)
    closing = watch_held_message(
        watch(status="held", checks_done=4), resolved=True, kept_open=None,
        page_to_cure=timedelta(seconds=0.8), cure_to_resolved=timedelta(minutes=10),
    )  # fmt: skip
    assert closing.text == "Resolved: the cure held for 10 min (4 checks)"
    assert "Page to cure 0.8 s · cure to resolved 10 min · page to resolved 10 min" in str(
        closing.blocks
    )
    kept = watch_held_message(
        watch(status="held", checks_done=4), resolved=False, kept_open="its alert still fires",
        page_to_cure=None, cure_to_resolved=None,
    )  # fmt: skip
    assert "stays open: its alert still fires" in str(kept.blocks)
    for message in (started, closing, kept):
        validate_blocks(message.blocks)


def test_a_broken_cure_names_the_evidence_and_who_is_told() -> None:
    split = make_finding(
        "network.split", Severity.CRITICAL, "app <!channel> cannot reach db",
        Subject(host="web1", container="shop_app_1"),
    )  # fmt: skip
    broke = watch(status="broke", finished_at=START + timedelta(minutes=3))
    incident = Incident(
        id=broke.incident_id, environment="prod", fingerprint="f", source="alertmanager",
        title="t", severity=Severity.CRITICAL, summary="", labels={}, url=None,
        status=IncidentStatus.OPEN, opened_at=START, last_seen_at=START, alert_count=1,
        oncall_user="UALICE", channel="CPROD", message_ts="1.000001", escalation_step=1,
        next_page_at=None, acknowledged_by=None, acknowledged_at=None, resolved_by=None,
        resolved_at=None,
    )  # fmt: skip
    message = watch_broke_message(broke, [split], incident=incident, reopened=True, linked=[])
    said = str(message.blocks)
    assert "3 min after" in said and split.id in said and "`network.split`" in said
    assert "<@UBOB> (applied the fix) and <@UALICE> (on call)" in said
    assert "open again" in said and "<!channel>" not in said  # text from a host is escaped
    page = watch_page_message(broke, [split], channel="CPROD", role="you applied")
    assert "did not hold" in page.blocks[0]["text"]["text"] and "<#CPROD>" in str(page.blocks)
    validate_blocks(message.blocks)
