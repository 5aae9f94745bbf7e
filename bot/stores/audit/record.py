"""One audit row, its canonical JSON, and the hash that chains it to the row before.

``row_hash = sha256(prev_hash ‖ canonical_json(row))`` where the row is every
column except the two hashes (``seq`` and ``recorded_at`` included), as JSON
with sorted keys, no spaces, UTF-8, timestamps in UTC with microseconds. The
first row's ``prev_hash`` is ``GENESIS`` (64 zeros).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.redaction.redact import REDACTED, JSONData, is_secret_key, redact_data, redact_text

GENESIS = "0" * 64
Kind = Literal[
    "requested",
    "authorised",
    "denied",
    "planned",
    "confirmed",
    "approved",
    "started",
    "finished",
    "post_checked",
    "diagnosed",
    # on-call (bot/slack/incidents.py)
    "incident_opened",
    "paged",
    "acknowledged",
    "resolved",
    "override",
    # the stability watch after a cure (bot/oncall/cure_watch.py)
    "watch_started",
    "watch_held",
    "watch_broke",
    "reopened",
]
Surface = Literal["cli", "slack", "alert"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuditRecord(BaseModel):
    """What happened, before the database gives it a place (``seq``) in the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    correlation_id: uuid.UUID
    at: datetime = Field(default_factory=utc_now)
    kind: Kind
    actor: str
    surface: Surface
    environment: str | None = None
    host: str | None = None
    stack: str | None = None
    target: dict[str, str] = Field(default_factory=dict)
    action: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("audit timestamps carry a time zone")
        return value.astimezone(UTC)


class AuditRow(AuditRecord):
    """A row as stored: its place in the chain and its hashes."""

    seq: int
    recorded_at: datetime
    prev_hash: str
    row_hash: str

    @field_validator("recorded_at")
    @classmethod
    def _recorded_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def content(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"prev_hash", "row_hash"})


def _clean(text: str) -> str:
    # Postgres text and jsonb refuse NUL characters.
    return redact_text(text).replace("\x00", "\ufffd")


def _clean_data(data: JSONData) -> JSONData:
    if isinstance(data, str):
        return data.replace("\x00", "\ufffd")
    if isinstance(data, list):
        return [_clean_data(item) for item in data]
    if isinstance(data, dict):
        # Unlike output to a terminal, any key that looks secret masks its value here.
        return {
            k.replace("\x00", "\ufffd"): REDACTED
            if isinstance(v, str) and v and is_secret_key(k)
            else _clean_data(v)
            for k, v in data.items()
        }
    if isinstance(data, float) and data != data:  # NaN: not JSON
        return None
    return data


def redact_record(record: AuditRecord, known_secrets: tuple[str, ...] = ()) -> AuditRecord:
    """Every string of the record through ``bot.redaction.redact`` (and NUL-free), before it is
    hashed."""
    details = json.loads(json.dumps(record.details, default=str))
    target = {k: redact_text(v, known_secrets) for k, v in record.target.items()}
    optional = {
        name: _clean(redact_text(value, known_secrets)) if value is not None else None
        for name, value in (
            ("environment", record.environment),
            ("host", record.host),
            ("stack", record.stack),
            ("action", record.action),
        )
    }
    return record.model_copy(
        update={
            "actor": _clean(redact_text(record.actor, known_secrets)),
            "target": {k: _clean(v) for k, v in target.items()},
            "details": _clean_data(redact_data(details, known_secrets)),
            **optional,
        }
    )


def canonical_json(content: dict[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 as is, no NaN: equal content, equal text."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def row_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


def chain_row(record: AuditRecord, *, seq: int, recorded_at: datetime, prev_hash: str) -> AuditRow:
    """The row ``record`` becomes at place ``seq`` after the row whose hash is ``prev_hash``."""
    unhashed = AuditRow(
        **record.model_dump(), seq=seq, recorded_at=recorded_at, prev_hash=prev_hash, row_hash=""
    )
    return unhashed.model_copy(update={"row_hash": row_hash(prev_hash, unhashed.content())})
