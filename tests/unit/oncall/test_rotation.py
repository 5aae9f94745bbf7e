"""Who is on call: the rotation across handoffs, time zones and daylight saving, overrides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.inventory.config.models import OnCallConfig, Rotation
from bot.oncall.models import Override
from bot.oncall.rotation import on_call

ALICE, BOB, CAROL, DAVE = "UALICE", "UBOB", "UCAROL", "UDAVE"


def rotation(**changes: Any) -> Rotation:
    data: dict[str, Any] = {
        "users": [ALICE, BOB, CAROL],
        "start": "2026-11-02",  # a Monday
        "handoff": {"weekday": "monday", "time": "09:00"},
        "timezone": "Europe/Berlin",
    }
    data.update(changes)
    return Rotation.model_validate(data)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def override(user: str, start: str, end: str, created: str | None = None) -> Override:
    return Override(
        id=uuid.uuid4(), environment="prod", user_id=user, starts_at=at(start), ends_at=at(end),
        created_by=ALICE, created_at=at(created or start),
    )  # fmt: skip


def test_the_week_turns_over_at_the_handoff_in_local_time() -> None:
    r = rotation()
    # 09:00 in Berlin in November is 08:00 UTC
    assert on_call(r, at("2026-11-09T07:59:59+00:00")).primary == ALICE
    crossed = on_call(r, at("2026-11-09T08:00:00+00:00"))
    assert crossed.primary == BOB and crossed.secondary == CAROL
    assert crossed.shift_started_at == at("2026-11-09T08:00:00+00:00")
    assert crossed.handoff_at == at("2026-11-16T08:00:00+00:00")
    assert crossed.next_primary == CAROL
    # the third week ends and the rotation starts over
    assert on_call(r, at("2026-11-23T08:00:00+00:00")).primary == ALICE
    # before its start, the rotation runs backwards
    assert on_call(r, at("2026-11-01T12:00:00+00:00")).primary == CAROL


def test_daylight_saving_moves_nobody() -> None:
    r = rotation(start="2027-03-22")  # Berlin moves to summer time on 2027-03-28
    assert on_call(r, at("2027-03-29T06:59:00+00:00")).primary == ALICE  # 08:59 CEST
    assert on_call(r, at("2027-03-29T07:00:00+00:00")).primary == BOB  # 09:00 CEST


def test_the_secondary_is_configured_or_the_next_person() -> None:
    now = at("2026-11-04T12:00:00+00:00")
    assert on_call(rotation(), now).secondary == BOB
    assert on_call(rotation(secondary=DAVE), now).secondary == DAVE
    assert on_call(rotation(users=[ALICE]), now).secondary is None


def test_an_override_holds_the_pager_until_it_ends() -> None:
    r = rotation()
    cover = override(DAVE, "2026-11-04T10:00:00+00:00", "2026-11-04T14:00:00+00:00")
    during = on_call(r, at("2026-11-04T12:00:00+00:00"), [cover])
    assert during.primary == DAVE and during.scheduled == ALICE and during.override == cover
    assert during.until == cover.ends_at
    assert on_call(r, at("2026-11-04T14:00:00+00:00"), [cover]).primary == ALICE
    assert on_call(r, at("2026-11-04T09:59:59+00:00"), [cover]).primary == ALICE
    # the newest of two overlapping overrides wins
    later = override(
        CAROL, "2026-11-04T11:00:00+00:00", "2026-11-04T13:00:00+00:00",
        created="2026-11-04T11:00:00+00:00",
    )  # fmt: skip
    assert on_call(r, at("2026-11-04T12:00:00+00:00"), [cover, later]).primary == CAROL
    # an override that outlives the week holds across the handoff; then the rotation resumes
    long = override(DAVE, "2026-11-08T00:00:00+00:00", "2026-11-12T00:00:00+00:00")
    now = on_call(r, at("2026-11-08T12:00:00+00:00"), [long])
    assert (now.primary, now.until, now.next_primary) == (DAVE, long.ends_at, BOB)
    assert on_call(r, at("2026-11-10T12:00:00+00:00"), [long]).primary == DAVE
    assert on_call(r, at("2026-11-12T00:00:00+00:00"), [long]).primary == BOB


def test_an_override_by_the_next_person_leaves_the_scheduled_one_as_secondary() -> None:
    cover = override(BOB, "2026-11-04T10:00:00+00:00", "2026-11-04T14:00:00+00:00")
    now = on_call(rotation(), at("2026-11-04T12:00:00+00:00"), [cover])
    assert now.primary == BOB and now.secondary == ALICE
    # handing the pager to the configured secondary leaves a secondary: the next person
    to_dave = override(DAVE, "2026-11-04T10:00:00+00:00", "2026-11-04T14:00:00+00:00")
    now = on_call(rotation(secondary=DAVE), at("2026-11-04T12:00:00+00:00"), [to_dave])
    assert now.primary == DAVE and now.secondary == BOB


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": "2026-11-03"}, "2026-11-03 is a tuesday, not the handoff weekday (monday)"),
        ({"timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"users": []}, "at least 1 item"),
        ({"users": ["S0GROUP"]}, "rotation users are people"),
        ({"users": ["bob"]}, "not a Slack user or group id"),
        ({"handoff": {"weekday": "funday"}}, "monday"),
        ({"handoff": {"time": "25:00"}}, "time"),
    ],
)
def test_a_wrong_rotation_names_the_problem(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        rotation(**changes)
    assert message in str(info.value)


def test_escalation_steps_parse_durations_and_must_come_in_order() -> None:
    base = {"rotation": rotation().model_dump(mode="json")}
    config = OnCallConfig.model_validate(
        {
            **base,
            "escalation": [
                {"after": "90s", "page": "primary"},
                {"after": "1h30m", "page": "channel"},
            ],
        }
    )
    assert [s.after for s in config.escalation] == [timedelta(seconds=90), timedelta(minutes=90)]
    assert [s.page for s in OnCallConfig.model_validate(base).escalation] == [
        "primary", "secondary", "channel",
    ]  # fmt: skip
    with pytest.raises(ValidationError, match="in order"):
        OnCallConfig.model_validate(
            {
                **base,
                "escalation": [
                    {"after": "10m", "page": "primary"},
                    {"after": "5m", "page": "channel"},
                ],
            }
        )
    with pytest.raises(ValidationError, match="not a duration"):
        OnCallConfig.model_validate({**base, "escalation": [{"after": "soon", "page": "primary"}]})
    with pytest.raises(ValidationError, match="longer than zero"):
        OnCallConfig.model_validate({**base, "watch": {"every": "0m"}})
