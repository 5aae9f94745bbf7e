"""``OnCall.step_due`` and ``OnCall.who``: when each escalation step is due, who is on call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from bot.inventory.config import Inventory, parse_inventory
from bot.model.findings import Severity
from bot.oncall.models import Incident, IncidentStatus, Override
from bot.oncall.service import OnCall
from bot.oncall.store import IncidentStore
from tests.clock import FakeClock

HOSTS = {"web1": {"address": "203.0.113.10"}}
OPENED = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
ROTATION = {"users": ["UALICE", "UBOB"], "start": "2026-11-02"}  # a Monday


class FakeOverrides:
    """The one store method ``who`` uses: the overrides of an environment at a moment."""

    def __init__(self, overrides: list[Override] | None = None) -> None:
        self.given = overrides or []
        self.asked: list[tuple[str, datetime]] = []

    async def overrides(self, environment: str, at: datetime) -> list[Override]:
        self.asked.append((environment, at))
        return self.given


def inventory(tmp_path: Path) -> Inventory:
    raw: dict[str, Any] = {
        "environments": {
            "prod": {
                "hosts": HOSTS,
                "slack_channel": "CPROD",
                "oncall": {
                    "rotation": ROTATION,
                    "escalation": [
                        {"after": "2m", "page": "primary"},
                        {"after": "10m", "page": "secondary"},
                        {"after": "1h", "page": "channel"},
                    ],
                },
            },
            "staging": {
                "hosts": HOSTS,
                "slack_channel": "CSTAGING",
                "oncall": {"rotation": ROTATION},  # the default escalation
            },
            "dev": {"hosts": HOSTS, "slack_channel": "CDEV"},  # no on-call
        }
    }
    return parse_inventory(raw, source="test", base_dir=tmp_path)


def service(tmp_path: Path, store: FakeOverrides | None = None) -> OnCall:
    return OnCall(
        inventory(tmp_path),
        store=cast(IncidentStore, store or FakeOverrides()),
        clock=FakeClock(datetime(2026, 11, 4, 12, 0, tzinfo=UTC)),
    )


def incident(environment: str) -> Incident:
    return Incident(
        id=uuid.uuid4(), environment=environment, fingerprint="f", source="generic",
        title="down", severity=Severity.CRITICAL, summary="", labels={}, url=None,
        status=IncidentStatus.OPEN, opened_at=OPENED, last_seen_at=OPENED, alert_count=1,
        oncall_user=None, channel="CPROD", message_ts=None, escalation_step=0,
        next_page_at=OPENED, acknowledged_by=None, acknowledged_at=None, resolved_by=None,
        resolved_at=None,
    )  # fmt: skip


def test_steps_follow_the_configured_escalation(tmp_path: Path) -> None:
    oncall = service(tmp_path)
    prod = incident("prod")
    assert [oncall.step_due(prod, step) for step in range(6)] == [
        OPENED,
        OPENED + timedelta(minutes=2),
        OPENED + timedelta(minutes=10),
        OPENED + timedelta(hours=1),
        None,
        None,
    ]
    assert [step.page for step in oncall.escalation("prod")] == ["primary", "secondary", "channel"]


def test_the_default_escalation_is_five_ten_fifteen_minutes(tmp_path: Path) -> None:
    oncall = service(tmp_path)
    staging = incident("staging")
    assert [oncall.step_due(staging, step) for step in range(5)] == [
        OPENED,
        OPENED + timedelta(minutes=5),
        OPENED + timedelta(minutes=10),
        OPENED + timedelta(minutes=15),
        None,
    ]


@pytest.mark.parametrize("env", ["dev", "gone"])
def test_without_oncall_only_the_announcement_is_due(tmp_path: Path, env: str) -> None:
    oncall = service(tmp_path)
    lone = incident(env)
    assert oncall.escalation(env) == ()
    assert oncall.step_due(lone, 0) == OPENED
    assert oncall.step_due(lone, 1) is None
    assert oncall.step_due(lone, 2) is None


@pytest.mark.parametrize("env", ["dev", "gone"])
async def test_who_is_none_without_a_rotation(tmp_path: Path, env: str) -> None:
    store = FakeOverrides()
    oncall = service(tmp_path, store)
    assert await oncall.who(env) is None
    assert store.asked == []  # no rotation: the store is not even asked


async def test_who_follows_the_rotation_at_the_clock_or_a_given_time(tmp_path: Path) -> None:
    store = FakeOverrides()
    oncall = service(tmp_path, store)
    now = await oncall.who("prod")
    assert now is not None and now.primary == "UALICE" and now.secondary == "UBOB"
    later = await oncall.who("prod", datetime(2026, 11, 10, 12, 0, tzinfo=UTC))
    assert later is not None and later.primary == "UBOB"
    assert store.asked == [
        ("prod", datetime(2026, 11, 4, 12, 0, tzinfo=UTC)),
        ("prod", datetime(2026, 11, 10, 12, 0, tzinfo=UTC)),
    ]


async def test_who_honours_an_override_from_the_store(tmp_path: Path) -> None:
    at = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    cover = Override(
        id=uuid.uuid4(), environment="prod", user_id="UCAROL", starts_at=at - timedelta(hours=1),
        ends_at=at + timedelta(hours=3), created_by="UALICE", created_at=at - timedelta(hours=1),
    )  # fmt: skip
    now = await service(tmp_path, FakeOverrides([cover])).who("prod")
    assert now is not None
    assert now.primary == "UCAROL" and now.scheduled == "UALICE" and now.override == cover


def test_the_message_cap_is_five_a_minute_unless_configured(tmp_path: Path) -> None:
    oncall = service(tmp_path)
    assert oncall.messages_per_minute("prod") == 5
    assert oncall.messages_per_minute("dev") == 5  # no on-call: the same default
    assert oncall.messages_per_minute("gone") == 5
    raw: dict[str, Any] = {
        "environments": {
            "prod": {
                "hosts": HOSTS, "slack_channel": "CPROD",
                "oncall": {"rotation": ROTATION, "messages_per_minute": 20},
            }
        }
    }  # fmt: skip
    configured = OnCall(
        parse_inventory(raw, source="test", base_dir=tmp_path),
        store=cast(IncidentStore, FakeOverrides()),
        clock=FakeClock(OPENED),
    )
    assert configured.messages_per_minute("prod") == 20
    for bad in (0, 101):
        raw["environments"]["prod"]["oncall"]["messages_per_minute"] = bad
        with pytest.raises(Exception, match="messages_per_minute"):
            parse_inventory(raw, source="test", base_dir=tmp_path)
