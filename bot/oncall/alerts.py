"""Alert payloads as they arrive over HTTP, turned into ``Alert`` (docs/ALERTS.md).

Two forms are read:

- the Prometheus Alertmanager webhook, version ``"4"`` (``parse_alertmanager``):
  its alerts carry their group (the payload's ``groupKey``), which becomes one
  incident;
- a small generic JSON form for anything else (``parse_generic``): one object,
  or ``{"alerts": [objects]}``.

``parse_payload`` picks the form. Every alert of a payload parses or none does:
the first problem found is reported (with any others) as an
``AlertPayloadError`` naming the field, e.g. ``alerts[2].labels.team: must be a
string``. Titles, summaries, label values, fingerprints and URLs are redacted
(``bot.redaction.redact``) before an ``Alert`` is built, so no secret in an annotation
ever reaches the incident store, Slack or the logs. Text too long for
``Alert`` (titles, summaries) or for a label value (``LABEL_VALUE_LIMIT``) is
cut, ending in "…", rather than refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from pydantic_core import ErrorDetails

from bot.model.errors import StackbotError
from bot.model.findings import Severity
from bot.oncall.models import DETAIL_LIMIT, SUMMARY_LIMIT, TITLE_LIMIT, Alert, AlertGroup
from bot.redaction.redact import redact_env, redact_text, redact_url

ALERTMANAGER_VERSION = "4"
FINGERPRINT_LIMIT = 200
_MAX_PROBLEMS = 5  # listed in one error message; the rest are counted
_ELLIPSIS = "…"
LABEL_VALUE_LIMIT = 1000  # characters; longer label values are cut (with "…")
_REDACT_MARGIN = 1000  # characters beyond a limit that are still redacted before the cut
_LAST_TOKEN = re.compile(r"\S*\Z")

# Alertmanager's ``severity`` label is free text: these are the usual spellings.
_SEVERITY_WORDS: Mapping[str, Severity] = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "error": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "info": Severity.INFO,
    "none": Severity.INFO,
}
# Keys only an Alertmanager alert has (the generic form shares labels/fingerprint).
_ALERTMANAGER_ALERT_KEYS = frozenset({"startsAt", "endsAt", "generatorURL", "annotations"})


class AlertPayloadError(StackbotError):
    """A payload that cannot be taken in; ``problems`` holds one line per bad field."""

    code = "alerts.malformed"

    def __init__(self, form: str, problems: list[str]) -> None:
        shown = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
        super().__init__(f"{form}: {text}")
        self.form = form
        self.problems = problems


# --- Alertmanager webhook, version 4 -----------------------------------------


class _AlertmanagerAlert(BaseModel):
    # Field names are Alertmanager's own (camelCase); it adds fields over time.
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, StrictStr]
    annotations: dict[str, StrictStr] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: StrictStr = ""
    fingerprint: StrictStr = Field("", max_length=FINGERPRINT_LIMIT)


class _AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: StrictStr
    groupKey: StrictStr = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"] | None = None
    receiver: StrictStr = ""
    groupLabels: dict[str, StrictStr] = Field(default_factory=dict)
    commonLabels: dict[str, StrictStr] = Field(default_factory=dict)
    commonAnnotations: dict[str, StrictStr] = Field(default_factory=dict)
    externalURL: StrictStr = ""
    alerts: list[_AlertmanagerAlert] = Field(min_length=1)


def parse_alertmanager(data: Mapping[str, Any]) -> list[Alert]:
    """The alerts of an Alertmanager webhook payload (version ``"4"``).

    Raises ``AlertPayloadError`` when the version is not ``"4"`` or any alert
    does not validate; no alert is returned unless all of them parse.
    """
    form = "alertmanager payload"
    if "version" in data and data["version"] != ALERTMANAGER_VERSION:
        got = _truncate(json.dumps(data["version"], default=str), 20)
        raise AlertPayloadError(
            form, [f'version: must be "4" (the webhook version stackbot reads), not {got}']
        )
    payload = _validate(_AlertmanagerPayload, data, form)
    alerts = [
        _build(form, f"alerts[{index}]", _from_alertmanager, alert)
        for index, alert in enumerate(payload.alerts)
    ]
    if not payload.groupKey.strip():
        return alerts  # not grouped (hand-made): each alert is an incident of its own
    group = _group_of(payload, alerts)
    return [alert.model_copy(update={"group": group}) for alert in alerts]


def _group_of(payload: _AlertmanagerPayload, alerts: list[Alert]) -> AlertGroup:
    """The payload's group: named by its alerts' one title, the common summary or its labels."""
    titles = {alert.title for alert in alerts}
    common = _clean(payload.commonAnnotations.get("summary", ""), TITLE_LIMIT)
    named = ", ".join(v for v in _clean_labels(payload.groupLabels).values() if v.strip())
    title = (
        titles.pop() if len(titles) == 1 else common or _truncate(named, TITLE_LIMIT) or "alerts"
    )
    summary = (
        alerts[0].summary
        if len(alerts) == 1
        else _clean(payload.commonAnnotations.get("description", ""), SUMMARY_LIMIT)
    )
    return AlertGroup(
        fingerprint="group:" + _digest(payload.groupKey),
        title=title,
        summary=summary,
        labels=_clean_labels(payload.commonLabels),
    )


def _from_alertmanager(alert: _AlertmanagerAlert) -> Alert:
    labels = _clean_labels(alert.labels)
    summary_note = alert.annotations.get("summary", "")
    description = alert.annotations.get("description", "")
    alertname = _truncate(labels.get("alertname", "").strip(), TITLE_LIMIT)
    title = _clean(summary_note, TITLE_LIMIT) or alertname or "alert"
    fingerprint = redact_text(alert.fingerprint.strip()) or _digest(sorted(labels.items()))
    return Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        status=alert.status,
        title=title,
        severity=severity_of(alert.labels.get("severity")),
        summary=_clean(description, SUMMARY_LIMIT) or _clean(summary_note, SUMMARY_LIMIT),
        labels=labels,
        url=redact_url(alert.generatorURL) if alert.generatorURL else None,
        started_at=_started_at(alert.startsAt),
        detail=_detail(title, labels),
    )


def _detail(title: str, labels: Mapping[str, str]) -> str:
    """How a group's listing shows the alert: its title, and its instance when it has one."""
    instance = labels.get("instance", "").strip()
    shown = f"{title} ({instance})" if instance and instance not in title else title
    return _truncate(shown, DETAIL_LIMIT)


def severity_of(label: str | None) -> Severity:
    """Alertmanager's ``severity`` label as a ``Severity``; missing or unknown is a warning."""
    if label is None:
        return Severity.WARNING
    return _SEVERITY_WORDS.get(label.strip().lower(), Severity.WARNING)


def _started_at(value: datetime | None) -> datetime | None:
    if value is None or value.year == 1:  # Go's zero time: "0001-01-01T00:00:00Z"
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- The generic form ---------------------------------------------------------


class _GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo must not silently do nothing

    title: StrictStr
    severity: Literal["critical", "warning", "info"] = "warning"
    status: Literal["firing", "resolved"] = "firing"
    fingerprint: StrictStr | None = Field(None, min_length=1, max_length=FINGERPRINT_LIMIT)
    summary: StrictStr = ""
    labels: dict[str, StrictStr] = Field(default_factory=dict)
    url: StrictStr | None = None


class _GenericBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[_GenericAlert] = Field(min_length=1)


def parse_generic(data: Mapping[str, Any]) -> list[Alert]:
    """The alerts of the generic form: one alert object, or ``{"alerts": [objects]}``.

    Object keys: ``title`` (required), ``severity`` (critical|warning|info,
    default warning), ``status`` (firing|resolved, default firing),
    ``fingerprint`` (default: the first 16 hex digits of the title's SHA-256),
    ``summary``, ``labels`` (string → string), ``url``. Unknown keys are errors.
    """
    form = "generic payload"
    if "alerts" in data:
        alerts = _validate(_GenericBatch, data, form).alerts
        places = [f"alerts[{index}]" for index in range(len(alerts))]
    else:
        alerts = [_validate(_GenericAlert, data, form)]
        places = [""]
    return [
        _build(form, place, _from_generic, alert)
        for place, alert in zip(places, alerts, strict=True)
    ]


def _from_generic(alert: _GenericAlert) -> Alert:
    title = _clean(alert.title, TITLE_LIMIT)
    if not title:
        raise _FieldProblem("title", "must not be empty")
    fingerprint = redact_text(alert.fingerprint.strip()) if alert.fingerprint else ""
    return Alert(
        source="generic",
        fingerprint=fingerprint or _digest(title),
        status=alert.status,
        title=title,
        severity=Severity(alert.severity),
        summary=_clean(alert.summary, SUMMARY_LIMIT),
        labels=_clean_labels(alert.labels),
        url=redact_url(alert.url) if alert.url else None,
    )


# --- Either form ----------------------------------------------------------------


def parse_payload(data: object) -> list[Alert]:
    """The alerts of a decoded JSON body, in whichever form it is.

    An object with ``version``, or whose alerts carry Alertmanager's keys
    (``startsAt``, ``endsAt``, ``generatorURL``, ``annotations``), is read as an
    Alertmanager webhook; anything else as the generic form. A body that is not
    an object, or that holds no alert, is an ``AlertPayloadError``.
    """
    if not isinstance(data, Mapping):
        raise AlertPayloadError(
            "payload", [f"must be a JSON object, not {_json_type(data)} (see docs/ALERTS.md)"]
        )
    if _looks_like_alertmanager(data):
        return parse_alertmanager(data)
    return parse_generic(data)


def _looks_like_alertmanager(data: Mapping[str, Any]) -> bool:
    if "version" in data:
        return True
    alerts = data.get("alerts")
    return isinstance(alerts, list) and any(
        isinstance(alert, Mapping) and not _ALERTMANAGER_ALERT_KEYS.isdisjoint(alert)
        for alert in alerts
    )


# --- Helpers ----------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)


class _FieldProblem(Exception):
    """A field that validated but cannot be used; turned into an ``AlertPayloadError``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _validate(model: type[M], data: Mapping[str, Any], form: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error, batch=model is _GenericBatch) for error in exc.errors()]
        raise AlertPayloadError(form, problems) from None


def _build(form: str, place: str, convert: Callable[[T], Alert], item: T) -> Alert:
    """``convert(item)``, with any problem reported at ``place`` (``alerts[2]`` or "")."""
    try:
        return convert(item)
    except _FieldProblem as exc:
        raise AlertPayloadError(form, [f"{_join(place, exc.field)}: {exc.problem}"]) from None
    except ValidationError as exc:  # the model's own limits (not expected after truncation)
        problems = [_problem(error, prefix=place) for error in exc.errors()]
        raise AlertPayloadError(form, problems) from None


_EXPECTED = {"string_type": "a string", "dict_type": "an object", "list_type": "a list"}


def _problem(error: ErrorDetails, *, prefix: str = "", batch: bool = False) -> str:
    loc = error["loc"]
    where = _join(prefix, _location(loc)) or "payload"
    kind = error["type"]
    if kind == "missing":
        what = "is required"
    elif kind == "extra_forbidden" and batch and len(loc) == 1:
        what = 'unknown key (a list of alerts is {"alerts": [...]} and nothing else)'
    elif kind == "extra_forbidden":
        what = "unknown key (allowed: " + ", ".join(_GenericAlert.model_fields) + ")"
    elif kind in _EXPECTED:
        what = f"must be {_EXPECTED[kind]}, not {_json_type(error['input'])}"
    elif kind in ("model_type", "model_attributes_type"):
        what = f"must be an object, not {_json_type(error['input'])}"
    elif kind == "too_short" and loc and loc[-1] == "alerts":
        what = "is empty: there is no alert to take in"
    else:
        message = error["msg"]
        what = message[:1].lower() + message[1:]
    return f"{where}: {what}"


def _location(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(_truncate(part, 40))}]"
    return text


def _join(prefix: str, field: str) -> str:
    if not prefix or not field:
        return prefix or field
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _digest(value: object) -> str:
    """The first 16 hex digits of the SHA-256 of ``value`` (as JSON when not a string)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _clean(text: str, limit: int) -> str:
    """``text`` stripped, redacted, and cut to ``limit`` characters (ending in "…" if cut)."""
    head, cut = _precut(text.strip(), limit)
    return _finish(redact_text(head).strip(), limit, cut=cut)


def _clean_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """``labels`` redacted (``redact_env``), each value cut to ``LABEL_VALUE_LIMIT``."""
    heads = {key: _precut(value, LABEL_VALUE_LIMIT) for key, value in labels.items()}
    redacted = redact_env({key: head for key, (head, _) in heads.items()})
    return {
        key: _finish(redacted[key], LABEL_VALUE_LIMIT, cut=cut) for key, (_, cut) in heads.items()
    }


def _precut(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit + _REDACT_MARGIN`` characters of ``text`` to redact, and whether cut.

    Redacting only a bounded head keeps ``redact_text`` fast (it is slow on very
    long unbroken runs). The token the cut falls in is dropped, so no half of a
    secret (which the patterns might no longer recognise) survives.
    """
    bound = limit + _REDACT_MARGIN
    if len(text) <= bound:
        return text, False
    return _LAST_TOKEN.sub("", text[:bound]), True


def _finish(text: str, limit: int, *, cut: bool) -> str:
    if cut and len(text) < limit:
        return text + _ELLIPSIS
    return _truncate(text, limit)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS
