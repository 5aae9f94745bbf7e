"""The typed shapes of on-call: alerts as they arrive, incidents as they are stored."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.model.findings import Severity

Source = Literal["alertmanager", "generic", "watcher", "stackbot"]  # stackbot: a storm's digest
TITLE_LIMIT = 200
SUMMARY_LIMIT = 2000
DETAIL_LIMIT = 200  # one alert of a group, as listed in its incident


class AlertGroup(BaseModel):
    """The Alertmanager group an alert came in (its payload's ``groupKey``).

    A group is one incident: its alerts are counted and listed in it, and it is
    resolved when all of them are.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str = Field(min_length=1, max_length=200)  # "group:" + a digest of groupKey
    title: str = Field(min_length=1, max_length=TITLE_LIMIT)
    summary: str = Field("", max_length=SUMMARY_LIMIT)
    labels: dict[str, str] = Field(default_factory=dict)  # the group's common labels


class Alert(BaseModel):
    """One alert, whatever form it came in: what the incident store is given.

    ``fingerprint`` identifies the alert across repeats (Alertmanager's own
    fingerprint, the generic form's ``fingerprint``, or a finding's id), so
    the same alert firing again never opens a second incident.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str = Field(min_length=1, max_length=200)
    status: Literal["firing", "resolved"] = "firing"
    title: str = Field(min_length=1, max_length=TITLE_LIMIT)
    severity: Severity = Severity.WARNING
    summary: str = Field("", max_length=SUMMARY_LIMIT)
    source: Source
    labels: dict[str, str] = Field(default_factory=dict)
    url: str | None = None  # where the alert came from (Alertmanager's generatorURL)
    started_at: datetime | None = None
    group: AlertGroup | None = None  # Alertmanager's group: one incident for all its alerts
    detail: str = Field("", max_length=DETAIL_LIMIT)  # how its group's listing shows it


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Incident(BaseModel):
    """One row of ``incidents``."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    environment: str
    fingerprint: str
    source: Source
    title: str
    severity: Severity
    summary: str
    labels: dict[str, str]
    url: str | None
    status: IncidentStatus
    opened_at: datetime
    last_seen_at: datetime
    alert_count: int
    oncall_user: str | None
    channel: str
    message_ts: str | None
    escalation_step: int  # steps done: 0 = not announced yet, 1 = announced, 2 = first page …
    next_page_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    digest_id: uuid.UUID | None = None  # listed in this storm digest instead of a message
    reopened_at: datetime | None = None  # its cure broke: escalation counts from here

    @property
    def escalates_from(self) -> datetime:
        """When its escalation clock started: the opening, or the last reopening."""
        return self.reopened_at or self.opened_at

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    @property
    def is_digest(self) -> bool:
        """A storm's digest: the incidents beyond an environment's message cap, listed."""
        return self.source == "stackbot"

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        if self.acknowledged_at is None:
            return None
        return self.acknowledged_at - self.opened_at


class Listed(BaseModel):
    """One line of an incident's listing: an alert of its group, or an incident of a digest."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    title: str
    open: bool  # firing (an alert) or not resolved (an incident)
    ref: str = ""  # an incident's short id; "" for an alert


class Listing(BaseModel):
    """What an incident holds, bounded: counts of everything, the first few items."""

    model_config = ConfigDict(frozen=True)

    total: int
    open: int
    items: list[Listed]


class Override(BaseModel):
    """Someone holds the pager for a while instead of the rotation's person."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    environment: str
    user_id: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime


WatchStatus = Literal["watching", "held", "broke"]


class CureWatch(BaseModel):
    """One row of ``cure_watches``: a fix being watched until it has held for a while.

    ``touched``: the containers the fix changed; ``thread_ts``: the thread its notes go
    to (the incident's, or the report's when the fix came from a report of its own).
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    environment: str
    host: str
    stack: str | None
    action: str
    params: dict[str, Any]
    finding_id: str | None
    touched: list[str]
    incident_id: uuid.UUID | None
    fixed_by: str
    channel: str | None
    thread_ts: str | None
    started_at: datetime
    ends_at: datetime
    checks_total: int
    checks_done: int
    next_check_at: datetime | None
    status: WatchStatus
    finished_at: datetime | None
    evidence: list[dict[str, str]]

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    @property
    def settle(self) -> timedelta:
        return self.ends_at - self.started_at

    def check_at(self, number: int) -> datetime:
        """When check ``number`` (1 … ``checks_total``) is due: evenly over the window."""
        return self.started_at + self.settle * number / self.checks_total
