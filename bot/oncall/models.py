"""The typed shapes of on-call: alerts as they arrive, incidents as they are stored."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.findings import Severity

Source = Literal["alertmanager", "generic", "watcher"]
TITLE_LIMIT = 200
SUMMARY_LIMIT = 2000


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

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        if self.acknowledged_at is None:
            return None
        return self.acknowledged_at - self.opened_at


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
