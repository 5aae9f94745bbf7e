"""Incidents as Block Kit: the channel message, pages, ``/stack oncall``, ``/stack incidents``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.inventory.config.models import Rotation
from bot.model.findings import Severity
from bot.oncall.models import Incident, IncidentStatus, Listed, Listing, Override
from bot.oncall.rotation import on_call
from bot.render.incident import (
    ACK,
    DIAGNOSE,
    RESOLVE,
    incident_message,
    incidents_message,
    oncall_message,
    page_message,
)
from bot.render.slack import MAX_BLOCKS, MAX_TEXT, SlackMessage, validate_blocks
from tests.slackstub.validation import message_errors

OPENED = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
INCIDENT_ID = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
HOSTILE = "<!channel> <@UEVIL> & <https://evil.example|click> > "


def incident(**changes: Any) -> Incident:
    data: dict[str, Any] = {
        "id": INCIDENT_ID,
        "environment": "prod",
        "fingerprint": "8c3e1a0b5d7f2e91",
        "source": "alertmanager",
        "title": "Postgres is down on db",
        "severity": Severity.CRITICAL,
        "summary": "pg_up has been 0 for 2 minutes on db:9187.",
        "labels": {"alertname": "PostgresDown"},
        "url": None,
        "status": IncidentStatus.OPEN,
        "opened_at": OPENED,
        "last_seen_at": OPENED,
        "alert_count": 1,
        "oncall_user": "UALICE",
        "channel": "CPROD",
        "message_ts": None,
        "escalation_step": 1,
        "next_page_at": OPENED + timedelta(minutes=5),
        "acknowledged_by": None,
        "acknowledged_at": None,
        "resolved_by": None,
        "resolved_at": None,
    }
    data.update(changes)
    return Incident(**data)


def acknowledged(**changes: Any) -> Incident:
    return incident(
        status=IncidentStatus.ACKNOWLEDGED,
        acknowledged_by="UALICE",
        acknowledged_at=OPENED + timedelta(minutes=2, seconds=5),
        next_page_at=None,
        **changes,
    )


def resolved(by: str, **changes: Any) -> Incident:
    return incident(
        status=IncidentStatus.RESOLVED,
        resolved_by=by,
        resolved_at=OPENED + timedelta(hours=1, minutes=3),
        next_page_at=None,
        **changes,
    )


def texts(message: SlackMessage) -> list[str]:
    """Every mrkdwn / plain text of the message's blocks."""
    found: list[str] = []

    def walk(obj: object) -> None:
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text") and isinstance(obj.get("text"), str):
                found.append(obj["text"])
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(message.blocks)
    return found


def all_text(message: SlackMessage) -> str:
    return "\n".join(texts(message))


def status_line(message: SlackMessage) -> str:
    (line,) = [
        t for t in texts(message) if "*Resolved*" in t or "*Acknowledged*" in t or "*Not ack" in t
    ]
    return line


def buttons(message: SlackMessage) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def assert_valid(message: SlackMessage) -> None:
    validate_blocks(message.blocks)
    assert message_errors({"text": message.text, "blocks": message.blocks}) == []
    for block in message.blocks:
        for text in texts(SlackMessage(text="", blocks=[block])):
            assert 0 < len(text) <= MAX_TEXT


def assert_no_live_mentions(message: SlackMessage, *, blocks_only: bool = False) -> None:
    shown = all_text(message) if blocks_only else all_text(message) + "\n" + message.text
    for live in ("<!channel>", "<!here>", "<!everyone>", "<@UEVIL>", "<https://evil"):
        assert live not in shown


# ---------------------------------------------------------------- the incident message


def test_an_open_incident_has_three_buttons_and_is_not_acknowledged() -> None:
    message = incident_message(incident())
    assert_valid(message)
    assert status_line(message) == ":rotating_light: *Not acknowledged yet*"
    assert [(b["text"]["text"], b.get("style")) for b in buttons(message)] == [
        ("Acknowledge", "primary"),
        ("Diagnose", None),
        ("Resolve", None),
    ]
    assert [b["action_id"] for b in buttons(message)] == [
        f"incident_ack:{INCIDENT_ID}",
        f"incident_diagnose:{INCIDENT_ID}",
        f"incident_resolve:{INCIDENT_ID}",
    ]
    assert (ACK, DIAGNOSE, RESOLVE) == ("incident_ack", "incident_diagnose", "incident_resolve")
    assert {b["value"] for b in buttons(message)} == {str(INCIDENT_ID)}
    (actions,) = [b for b in message.blocks if b["type"] == "actions"]
    assert actions["block_id"] == f"incident:{INCIDENT_ID}"
    shown = all_text(message)
    assert ":red_circle: *CRITICAL* · `prod` · *Postgres is down on db*" in shown
    assert "pg_up has been 0 for 2 minutes on db:9187." in shown
    assert "On call: <@UALICE>" in shown and "opened 2026-11-10 12:00 UTC" in shown
    assert f"incident `{str(INCIDENT_ID)[:8]}`" in shown
    assert message.text == "CRITICAL prod: Postgres is down on db · on call <@UALICE>"


def test_an_incident_without_rotation_and_with_repeats_says_so() -> None:
    message = incident_message(incident(oncall_user=None, alert_count=3, summary=""))
    assert_valid(message)
    shown = all_text(message)
    assert "On call: nobody (no rotation)" in shown
    assert "alertmanager · 3 alerts" in shown
    assert "pg_up" not in shown  # no summary section when there is no summary
    assert "on call" not in message.text


def test_an_acknowledged_incident_says_by_whom_and_after_how_long() -> None:
    message = incident_message(acknowledged())
    assert_valid(message)
    assert status_line(message) == ":eyes: *Acknowledged* by <@UALICE> after 2 min 5 s"
    assert [b["text"]["text"] for b in buttons(message)] == ["Diagnose", "Resolve"]
    assert [b["action_id"] for b in buttons(message)] == [
        f"incident_diagnose:{INCIDENT_ID}",
        f"incident_resolve:{INCIDENT_ID}",
    ]
    assert message.text.endswith("(acknowledged)")


@pytest.mark.parametrize(
    ("by", "who"),
    [
        ("UBOB", "<@UBOB>"),
        ("W0ENTERPRISE", "<@W0ENTERPRISE>"),
        ("alertmanager", "the alert (alertmanager)"),
        ("watcher", "the alert (watcher)"),
    ],
)
def test_a_resolved_incident_says_who_resolved_it_and_has_no_buttons(by: str, who: str) -> None:
    message = incident_message(resolved(by))
    assert_valid(message)
    assert status_line(message) == f":white_check_mark: *Resolved* by {who} after 1 h 3 min"
    assert buttons(message) == []
    assert all(b["type"] != "actions" for b in message.blocks)
    assert message.text.endswith("(resolved)")


def test_an_acknowledged_then_resolved_incident_shows_the_resolution() -> None:
    message = incident_message(
        resolved(
            "UBOB",
            acknowledged_by="UALICE",
            acknowledged_at=OPENED + timedelta(minutes=1),
        )
    )
    assert status_line(message).startswith(":white_check_mark: *Resolved* by <@UBOB>")
    assert buttons(message) == []


@pytest.mark.parametrize("make", [incident, acknowledged, lambda **c: resolved("UBOB", **c)])
def test_a_huge_hostile_alert_stays_within_limits_and_pings_nobody_in_blocks(make: Any) -> None:
    title = (HOSTILE * 10)[:200]
    summary = (HOSTILE * 100)[:2000]
    message = incident_message(make(title=title, summary=summary))
    assert_valid(message)
    assert_no_live_mentions(message, blocks_only=True)
    shown = all_text(message)
    assert "&lt;!channel&gt;" in shown and "&amp;" in shown
    # nothing cut in the middle of an entity
    for text in texts(message):
        assert "&l…" not in text and "&am…" not in text and "&lt…" not in text


def test_the_fallback_text_of_a_hostile_alert_pings_nobody() -> None:
    message = incident_message(incident(title=(HOSTILE * 10)[:200]))
    assert_no_live_mentions(message)


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize(
    ("step", "waited"),
    [("primary", False), ("secondary", True), ("channel", True)],
)
def test_pages_mention_the_channel_only_at_the_channel_step(step: str, waited: bool) -> None:
    message = page_message(incident(title=(HOSTILE * 10)[:200]), step=step)
    assert_valid(message)
    section = message.blocks[0]
    text = section["text"]["text"]
    assert text.startswith("<!channel> ") is (step == "channel")
    assert text.count("<!channel>") == (1 if step == "channel" else 0)
    assert all("<!channel>" not in t for t in texts(message)[1:])
    assert ("nobody has acknowledged it" in text) is waited
    assert "*CRITICAL* incident on `prod`" in text
    assert "opened 2026-11-10 12:00 UTC" in text
    assert text.endswith("See <#CPROD>.")
    assert "<@UEVIL>" not in text and "&lt;!channel&gt;" in text
    assert message.text == "Paged: critical incident on prod"
    assert "<!" not in message.text


@pytest.mark.parametrize("step", ["primary", "secondary"])
def test_a_page_to_a_person_can_be_acknowledged_from_the_message(step: str) -> None:
    message = page_message(incident(), step=step)
    assert [b["type"] for b in message.blocks] == ["section", "actions"]
    assert message.blocks[1]["block_id"] == f"page:{INCIDENT_ID}"
    (button,) = buttons(message)
    assert button["text"]["text"] == "Acknowledge" and button["style"] == "primary"
    assert button["action_id"] == f"incident_ack:{INCIDENT_ID}"
    assert button["value"] == str(INCIDENT_ID)


def test_the_channel_page_is_only_the_mention() -> None:
    message = page_message(incident(), step="channel")
    assert [b["type"] for b in message.blocks] == ["section"]


# ---------------------------------------------------------------- /stack oncall


def rotation(**changes: Any) -> Rotation:
    data: dict[str, Any] = {
        "users": ["UALICE", "UBOB", "UCAROL"],
        "start": "2026-11-02",  # a Monday
        "handoff": {"weekday": "monday", "time": "09:00"},
        "timezone": "UTC",
    }
    data.update(changes)
    return Rotation.model_validate(data)


NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)  # Alice's week, Bob next


def test_oncall_without_override() -> None:
    message = oncall_message([("prod", on_call(rotation(), NOW))])
    assert_valid(message)
    assert message.blocks[0]["text"]["text"] == (
        "*prod*: <@UALICE> until 2026-11-09 09:00 UTC · next: <@UBOB> from "
        "2026-11-09 09:00 UTC · secondary: <@UBOB>"
    )
    assert message.text == "Who is on call"


def test_oncall_with_an_override_names_who_set_it_and_the_rotation_person() -> None:
    cover = Override(
        id=uuid.uuid4(),
        environment="prod",
        user_id="UDAVE",
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=4),
        created_by="UCAROL",
        created_at=NOW - timedelta(hours=1),
    )
    now = on_call(rotation(), NOW, [cover])
    message = oncall_message([("prod", now)])
    assert_valid(message)
    text = message.blocks[0]["text"]["text"]
    assert text.startswith("*prod*: <@UDAVE> until 2026-11-04 16:00 UTC")
    assert "(override by <@UCAROL>; the rotation has <@UALICE>)" in text
    assert "next: <@UALICE> from 2026-11-04 16:00 UTC" in text  # the rotation resumes


def test_oncall_lists_every_environment_including_ones_without_rotation() -> None:
    single = on_call(rotation(users=["UALICE"]), NOW)
    message = oncall_message([("prod", None), ("staging", single)])
    assert_valid(message)
    lines = message.blocks[0]["text"]["text"].split("\n")
    assert lines[0] == "*prod*: no rotation configured"
    assert lines[1].startswith("*staging*: <@UALICE>") and lines[1].endswith(" · no secondary")


def test_oncall_with_nothing_to_show() -> None:
    message = oncall_message([])
    assert_valid(message)
    assert message.blocks[0]["text"]["text"] == "No environment you can see has a rotation."


def test_oncall_escapes_environment_names() -> None:
    message = oncall_message([("<!channel>", None)])
    assert_no_live_mentions(message, blocks_only=True)


# ---------------------------------------------------------------- /stack incidents

LATER = OPENED + timedelta(hours=2)


def test_no_open_incidents() -> None:
    message = incidents_message([], LATER)
    assert_valid(message)
    assert message.blocks[0]["text"]["text"] == ":white_check_mark: No open incidents."
    assert message.text == "No open incidents"


def test_a_few_incidents_most_severe_then_oldest_first() -> None:
    warning = incident(id=uuid.uuid4(), severity=Severity.WARNING, title="disk 85 %")
    old = incident(id=uuid.uuid4(), title="old critical", opened_at=OPENED - timedelta(days=1))
    new = acknowledged(id=uuid.uuid4(), title="new critical", opened_at=OPENED)
    message = incidents_message([warning, new, old], LATER)
    assert_valid(message)
    assert message.text == "3 open incident(s)"
    (section,) = message.blocks
    lines = section["text"]["text"].split("\n")
    assert [line.split("` ", 2)[2].split(" — ")[0] for line in lines] == [
        "old critical",
        "new critical",
        "disk 85 %",
    ]
    assert lines[0].startswith(f":red_circle: `{old.short_id}` `prod` old critical")
    assert lines[0].endswith("open 1 d 2 h, *not acknowledged*")
    assert lines[1].endswith("acknowledged by <@UALICE>")
    assert lines[2].startswith(":large_orange_circle:")


@pytest.mark.parametrize("title", ["disk full", (HOSTILE * 10)[:200]])
def test_five_hundred_incidents_fit_one_message(title: str) -> None:
    many = [
        incident(id=uuid.uuid4(), title=title, opened_at=OPENED - timedelta(minutes=n))
        for n in range(500)
    ]
    message = incidents_message(many, LATER)
    assert_valid(message)
    assert len(message.blocks) <= MAX_BLOCKS
    assert message.text == "500 open incident(s)"
    assert_no_live_mentions(message, blocks_only=True)
    assert listed(message) == 500  # every one fits, so the list itself is the count
    for block in message.blocks:
        assert len(json.dumps(block)) < 4 * MAX_TEXT


def listed(message: SlackMessage) -> int:
    return sum(t.count("\n") + 1 for t in texts(message) if "`prod`" in t)


def test_five_hundred_long_incidents_are_all_listed() -> None:
    many = [
        incident(id=uuid.uuid4(), title="x" * 200, opened_at=OPENED - timedelta(minutes=n))
        for n in range(500)
    ]
    message = incidents_message(many, LATER)
    assert_valid(message)
    assert len(message.blocks) <= MAX_BLOCKS
    assert listed(message) == 500
    assert all(t.endswith("*not acknowledged*") for t in texts(message))  # no line cut


def test_too_many_incidents_are_cut_and_counted() -> None:
    many = [
        incident(id=uuid.uuid4(), title="x" * 200, opened_at=OPENED - timedelta(minutes=n))
        for n in range(1000)
    ]
    message = incidents_message(many, LATER)
    assert_valid(message)
    assert len(message.blocks) <= MAX_BLOCKS
    assert 0 < listed(message) < 1000
    assert message.blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "… and more: 1000 open incidents in all"}],
    }


# --- storms: a group's alerts, the digest -------------------------------------------


def listing(total: int, open_: int, shown: int, *, refs: bool = False) -> Listing:
    items = [
        Listed(
            severity=Severity.CRITICAL if n % 2 else Severity.WARNING,
            title=f"{HOSTILE} alert {n}",
            open=n < open_,
            ref=f"{n:08x}" if refs else "",
        )
        for n in range(shown)
    ]
    return Listing(total=total, open=open_, items=items)


def test_a_group_lists_its_alerts_bounded_and_counts_them() -> None:
    message = incident_message(incident(alert_count=100), listing(100, 97, 10))
    shown = all_text(message)
    assert "*100 alerts* in this group, 97 firing:" in shown
    assert "… and 90 more" in shown and "alert 9" in shown
    assert "· 100 alerts ·" not in shown  # counted once, by the listing (not the repeats)
    assert [b["text"]["text"] for b in buttons(message)] == ["Acknowledge", "Diagnose", "Resolve"]
    assert_valid(message)
    assert_no_live_mentions(message)


def test_a_group_of_one_alert_shows_no_listing() -> None:
    assert all_text(incident_message(incident(), listing(1, 1, 1))) == all_text(
        incident_message(incident())
    )


def digest(**changes: Any) -> Incident:
    return incident(
        source="stackbot", fingerprint="storm", summary="", alert_count=40,
        title="Alert storm: more than 5 new incidents a minute", **changes,
    )  # fmt: skip


def test_the_digest_counts_and_lists_the_incidents_beyond_the_cap() -> None:
    message = incident_message(digest(), listing(37, 37, 10, refs=True))
    shown = all_text(message)
    assert "*+37 more incidents* since 2026-11-10 12:00 UTC" in shown
    assert "more than 5 new incidents a minute" in shown
    assert "`00000003`" in shown and "alert 3" in shown
    assert "… and 27 more: `/stack incidents prod` lists every one" in shown
    assert "alert storm digest" in shown and "On call: <@UALICE>" in shown
    labels = [b["text"]["text"] for b in buttons(message)]
    assert labels == ["Acknowledge all", "Diagnose", "Resolve all"]
    assert [b["action_id"].split(":")[0] for b in buttons(message)] == [ACK, DIAGNOSE, RESOLVE]
    assert message.text == "prod: +37 more incidents (alert storm)"
    assert_valid(message)
    assert_no_live_mentions(message)


def test_a_digest_whose_incidents_all_resolved_says_so() -> None:
    done = digest(
        status=IncidentStatus.RESOLVED, resolved_by="stackbot",
        resolved_at=OPENED + timedelta(minutes=20), next_page_at=None,
    )  # fmt: skip
    message = incident_message(done, listing(2, 0, 2, refs=True))
    assert "every incident it lists is resolved" in status_line(message)
    assert "(resolved)" in all_text(message) and buttons(message) == []
    by_hand = digest(
        status=IncidentStatus.RESOLVED, resolved_by="UBOB",
        resolved_at=OPENED + timedelta(minutes=20), next_page_at=None,
    )  # fmt: skip
    assert "<@UBOB>" in status_line(incident_message(by_hand, listing(2, 0, 2)))


def test_a_digest_without_its_listing_counts_what_joined() -> None:
    assert "*+40 more incidents*" in all_text(incident_message(digest()))
