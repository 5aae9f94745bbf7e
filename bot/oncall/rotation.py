"""Who is on call at a moment: the rotation's week, unless an override holds the pager.

Pure: the caller gives the time (an injected clock in tests) and the overrides
(stored in Postgres by ``bot.oncall.store``). Weeks are counted in local dates
of the rotation's time zone, so a daylight-saving change moves nobody's shift.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from bot.inventory.config.models import WEEKDAYS, Rotation
from bot.oncall.models import Override


class OnCallNow(BaseModel):
    """The answer for one environment at ``at``."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    primary: str  # who gets paged now (the override's user while one holds)
    secondary: str | None
    scheduled: str  # the rotation's person this week
    override: Override | None
    shift_started_at: datetime
    handoff_at: datetime  # when the rotation next hands over
    until: datetime  # when ``primary`` stops: the override's end, else the handoff
    next_primary: str  # who is on call from ``until`` (the rotation's person then)


def _handoff(rotation: Rotation, day: date) -> datetime:
    return datetime.combine(day, rotation.handoff.time, tzinfo=rotation.zone)


def current_shift_start(rotation: Rotation, at: datetime) -> date:
    """The date of the most recent handoff at or before ``at``."""
    local = at.astimezone(rotation.zone)
    back = (local.weekday() - WEEKDAYS.index(rotation.handoff.weekday)) % 7
    day = local.date() - timedelta(days=back)
    if _handoff(rotation, day) > at:
        day -= timedelta(days=7)
    return day


def active_override(overrides: Iterable[Override], at: datetime) -> Override | None:
    """The most recently created override covering ``at``."""
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    return max(covering, key=lambda o: o.created_at) if covering else None


def on_call(rotation: Rotation, at: datetime, overrides: Iterable[Override] = ()) -> OnCallNow:
    if at.tzinfo is None:
        raise ValueError("on_call needs an aware datetime")
    start = current_shift_start(rotation, at)
    week = (start - rotation.start).days // 7
    users = rotation.users
    scheduled, following = users[week % len(users)], users[(week + 1) % len(users)]
    override = active_override(overrides, at)
    primary = override.user_id if override is not None else scheduled
    # the configured secondary, else the next person; never the primary themselves
    candidates = (
        (rotation.secondary, following, scheduled) if len(users) > 1 else (rotation.secondary,)
    )
    secondary = next((c for c in candidates if c is not None and c != primary), None)
    handoff_at = _handoff(rotation, start + timedelta(days=7))
    until, next_primary = handoff_at, following
    if override is not None:
        until = override.ends_at
        next_primary = on_call(rotation, until).scheduled if until != handoff_at else following
    return OnCallNow(
        at=at,
        primary=primary,
        secondary=secondary,
        scheduled=scheduled,
        override=override,
        shift_started_at=_handoff(rotation, start),
        handoff_at=handoff_at,
        until=until,
        next_primary=next_primary,
    )
