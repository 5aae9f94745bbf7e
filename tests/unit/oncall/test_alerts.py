"""Alert payloads (Alertmanager v4, the generic form) into ``Alert``: fields, errors, redaction."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.model.findings import Severity
from bot.oncall.alerts import (
    LABEL_VALUE_LIMIT,
    AlertPayloadError,
    parse_alertmanager,
    parse_generic,
    parse_payload,
    severity_of,
)
from bot.oncall.models import SUMMARY_LIMIT, TITLE_LIMIT

ZERO_TIME = "0001-01-01T00:00:00Z"


def alertmanager_firing() -> dict[str, Any]:
    """What Alertmanager 0.27 posts for a group of two firing alerts."""
    return {
        "receiver": "stackbot",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "PostgresDown",
                    "instance": "db:9187",
                    "job": "postgres",
                    "severity": "critical",
                },
                "annotations": {
                    "summary": "Postgres is down on db",
                    "description": "pg_up has been 0 for 2 minutes on db:9187.",
                },
                "startsAt": "2024-05-01T12:00:00.123456789Z",
                "endsAt": ZERO_TIME,
                "generatorURL": "http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0&g0.tab=1",
                "fingerprint": "8c3e1a0b5d7f2e91",
            },
            {
                "status": "firing",
                "labels": {"alertname": "DiskAlmostFull", "instance": "web1", "severity": "warn"},
                "annotations": {},
                "startsAt": "2024-05-01T12:01:30+02:00",
                "endsAt": ZERO_TIME,
                "generatorURL": "",
                "fingerprint": "1f2e3d4c5b6a7980",
            },
        ],
        "groupLabels": {"alertname": "PostgresDown"},
        "commonLabels": {"job": "postgres"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="PostgresDown"}',
        "truncatedAlerts": 0,
    }


def alertmanager_resolved() -> dict[str, Any]:
    payload = alertmanager_firing()
    payload["status"] = "resolved"
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["status"] = "resolved"
    payload["alerts"][0]["endsAt"] = "2024-05-01T12:10:00Z"
    return payload


def problem_of(data: object) -> str:
    with pytest.raises(AlertPayloadError) as caught:
        parse_payload(data)
    assert caught.value.code == "alerts.malformed"
    return str(caught.value)


# --- Alertmanager -----------------------------------------------------------------


def test_alertmanager_firing_group_of_two() -> None:
    first, second = parse_payload(alertmanager_firing())
    assert first.source == "alertmanager"
    assert first.fingerprint == "8c3e1a0b5d7f2e91"
    assert first.status == "firing"
    assert first.title == "Postgres is down on db"
    assert first.summary == "pg_up has been 0 for 2 minutes on db:9187."
    assert first.severity is Severity.CRITICAL
    assert first.labels["alertname"] == "PostgresDown"
    assert first.url == "http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0&g0.tab=1"
    assert first.started_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)

    assert second.title == "DiskAlmostFull"  # no summary annotation: the alert's name
    assert second.summary == ""
    assert second.severity is Severity.WARNING
    assert second.url is None
    assert second.started_at == datetime(2024, 5, 1, 10, 1, 30, tzinfo=UTC)


def test_alertmanager_resolved() -> None:
    [alert] = parse_alertmanager(alertmanager_resolved())
    assert alert.status == "resolved"
    assert alert.fingerprint == "8c3e1a0b5d7f2e91"


def test_missing_fingerprint_is_a_digest_of_the_sorted_labels() -> None:
    payload = alertmanager_firing()
    del payload["alerts"][0]["fingerprint"]
    again = copy.deepcopy(payload)
    again["alerts"][0]["labels"] = dict(reversed(list(again["alerts"][0]["labels"].items())))
    first = parse_payload(payload)[0]
    assert len(first.fingerprint) == 16
    assert first.fingerprint == parse_payload(again)[0].fingerprint  # label order does not matter
    other = copy.deepcopy(payload)
    other["alerts"][0]["labels"]["instance"] = "db2:9187"
    assert parse_payload(other)[0].fingerprint != first.fingerprint


def test_zero_start_time_is_none_and_extra_keys_are_allowed() -> None:
    payload = alertmanager_firing()
    payload["alerts"][0]["startsAt"] = ZERO_TIME
    payload["alerts"][0]["silenceURL"] = "http://alertmanager:9093/#/silences/new"
    payload["someFutureField"] = {"x": 1}
    assert parse_payload(payload)[0].started_at is None


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", Severity.CRITICAL),
        ("page", Severity.CRITICAL),
        ("ERROR", Severity.CRITICAL),
        ("warning", Severity.WARNING),
        ("warn", Severity.WARNING),
        ("info", Severity.INFO),
        ("none", Severity.INFO),
        ("disaster", Severity.WARNING),
        (None, Severity.WARNING),
    ],
)
def test_severity_mapping(label: str | None, severity: Severity) -> None:
    assert severity_of(label) is severity


def test_missing_severity_label_is_a_warning() -> None:
    payload = alertmanager_firing()
    del payload["alerts"][0]["labels"]["severity"]
    assert parse_payload(payload)[0].severity is Severity.WARNING


def test_no_summary_and_no_alertname_is_titled_alert() -> None:
    payload = alertmanager_firing()
    payload["alerts"][0]["labels"] = {"job": "x"}
    payload["alerts"][0]["annotations"] = {}
    assert parse_payload(payload)[0].title == "alert"


def test_long_title_summary_and_label_values_are_cut_not_refused() -> None:
    payload = alertmanager_firing()
    payload["alerts"][0]["annotations"] = {
        "summary": "slow " * 1000,
        "description": "disk " * 10_000,
    }
    payload["alerts"][0]["labels"]["query"] = "up " * 1000
    alert = parse_payload(payload)[0]
    assert len(alert.title) == TITLE_LIMIT and alert.title.endswith("…")
    assert len(alert.summary) == SUMMARY_LIMIT and alert.summary.endswith("…")
    assert len(alert.labels["query"]) == LABEL_VALUE_LIMIT
    assert alert.labels["query"].endswith("…")


def test_huge_unbroken_text_is_cut_quickly() -> None:
    payload = alertmanager_firing()
    payload["alerts"][0]["annotations"] = {"description": "d" * 500_000}
    payload["alerts"][0]["labels"]["blob"] = "b" * 500_000
    started = time.monotonic()
    alert = parse_payload(payload)[0]
    assert time.monotonic() - started < 2
    assert alert.summary == "…"  # the one token the cut fell in is dropped whole
    assert alert.labels["blob"] == "…"


def test_a_secret_the_redaction_bound_cuts_in_two_does_not_survive() -> None:
    # Only the first SUMMARY_LIMIT + 1000 characters are redacted. Here that bound
    # falls inside a URL password, and an earlier secret shrinks by redaction enough
    # to pull the cut-off part into view: the half URL (which no longer looks like
    # one) must not be shown.
    head = "token=" + "t" * 1500 + " " + "x" * 1470 + " "
    url = "postgres://app:hunter2hunter2hunter2@db/x"
    assert len(head) < SUMMARY_LIMIT + 1000 < len(head) + len(url)
    payload = alertmanager_firing()
    payload["alerts"][0]["annotations"] = {"description": head + url + " more text"}
    summary = parse_payload(payload)[0].summary
    assert summary.startswith("token=*** xxx") and summary.endswith("x…")
    assert "hunter" not in summary and "postgres" not in summary


def test_wrong_version_is_refused() -> None:
    payload = alertmanager_firing()
    payload["version"] = "3"
    message = problem_of(payload)
    assert message == (
        'alertmanager payload: version: must be "4" (the webhook version stackbot reads), not "3"'
    )


def test_missing_alerts_is_refused() -> None:
    payload = alertmanager_firing()
    del payload["alerts"]
    assert problem_of(payload) == "alertmanager payload: alerts: is required"


def test_empty_alerts_is_refused() -> None:
    payload = alertmanager_firing()
    payload["alerts"] = []
    assert "alerts: is empty" in problem_of(payload)


def test_labels_not_strings_names_the_alert_and_label() -> None:
    payload = alertmanager_firing()
    payload["alerts"][1]["labels"]["replicas"] = 3
    payload["alerts"][1]["labels"]["owner team"] = None
    message = problem_of(payload)
    assert message == (
        "alertmanager payload: alerts[1].labels.replicas: must be a string, not a number; "
        'alerts[1].labels["owner team"]: must be a string, not null'
    )


def test_bad_status_and_bad_time_name_the_field() -> None:
    payload = alertmanager_firing()
    payload["alerts"][0]["status"] = "burning"
    payload["alerts"][1]["startsAt"] = "yesterday"
    message = problem_of(payload)
    assert "alerts[0].status: input should be 'firing' or 'resolved'" in message
    assert "alerts[1].startsAt: " in message
    assert "Traceback" not in message


def test_secrets_in_annotations_labels_and_url_are_redacted() -> None:
    payload = alertmanager_firing()
    alert = payload["alerts"][0]
    alert["annotations"] = {
        "summary": "cannot connect to postgres://app:hunter2@db/x",
        "description": "DATABASE_URL=postgres://app:hunter2@db/x refused; PGPASSWORD=hunter2",
    }
    alert["labels"]["dsn"] = "postgres://app:hunter2@db/x"
    alert["labels"]["target"] = "postgres://app:hunter2@db/x"
    alert["generatorURL"] = "http://admin:hunter2@prometheus:9090/graph?token=hunter2&g0.tab=1"
    [parsed, _] = parse_payload(payload)
    assert "hunter2" not in json.dumps(parsed.model_dump(mode="json"))
    assert parsed.title == "cannot connect to postgres://app:***@db/x"
    assert parsed.labels["dsn"] == "***"
    assert parsed.labels["target"] == "postgres://app:***@db/x"
    assert parsed.url == "http://admin:***@prometheus:9090/graph?token=***&g0.tab=1"


def test_a_secret_is_redacted_before_truncation() -> None:
    payload = alertmanager_firing()
    summary = "x" * (TITLE_LIMIT - 30) + " postgres://app:hunter2hunter2@db/x"
    payload["alerts"][0]["annotations"] = {"summary": summary}
    assert "hunter2" not in parse_payload(payload)[0].title


# --- The generic form ---------------------------------------------------------------


def test_generic_single_object_with_defaults() -> None:
    [alert] = parse_payload({"title": "Backups did not run"})
    assert alert.source == "generic"
    assert alert.status == "firing"
    assert alert.severity is Severity.WARNING
    assert alert.fingerprint == hashlib.sha256(b"Backups did not run").hexdigest()[:16]
    assert alert.summary == "" and alert.labels == {} and alert.url is None
    assert alert.started_at is None


def test_generic_list_with_every_field() -> None:
    alerts = parse_generic(
        {
            "alerts": [
                {
                    "title": "Queue backed up",
                    "severity": "critical",
                    "status": "resolved",
                    "fingerprint": "queue-backlog",
                    "summary": "12 000 jobs waiting",
                    "labels": {"queue": "mail"},
                    "url": "https://grafana.example.com/d/queues",
                },
                {"title": "Cron late"},
            ]
        }
    )
    first, second = alerts
    assert first.severity is Severity.CRITICAL and first.status == "resolved"
    assert first.fingerprint == "queue-backlog" and first.labels == {"queue": "mail"}
    assert first.url == "https://grafana.example.com/d/queues"
    assert second.title == "Cron late"


def test_generic_unknown_key_is_an_error() -> None:
    message = problem_of({"title": "x", "sevrity": "critical"})
    assert message.startswith("generic payload: sevrity: unknown key (allowed: title, severity")


def test_generic_bad_severity_names_the_alert() -> None:
    message = problem_of({"alerts": [{"title": "ok"}, {"title": "x", "severity": "page"}]})
    assert message.startswith("generic payload: alerts[1].severity: input should be")


def test_generic_missing_and_empty_title() -> None:
    assert problem_of({"severity": "info"}) == "generic payload: title: is required"
    assert problem_of({"alerts": [{"title": "  "}]}) == (
        "generic payload: alerts[0].title: must not be empty"
    )


def test_generic_list_wrapper_takes_nothing_else() -> None:
    message = problem_of({"alerts": [{"title": "x"}], "title": "y"})
    assert message.startswith("generic payload: title: unknown key")


def test_generic_empty_list_is_refused() -> None:
    assert "alerts: is empty" in problem_of({"alerts": []})


def test_generic_secrets_are_redacted() -> None:
    [alert] = parse_payload(
        {
            "title": "login failed with token=hunter2hunter2",
            "summary": "postgres://app:hunter2@db/x",
            "labels": {"api_key": "hunter2", "db": "postgres://app:hunter2@db/x"},
            "url": "https://app.example.com/?password=hunter2",
        }
    )
    assert "hunter2" not in json.dumps(alert.model_dump(mode="json"))


# --- Either form --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"), [([], "a list"), ("alert", "a string"), (None, "null"), (3, "a number")]
)
def test_not_an_object_is_refused(data: object, kind: str) -> None:
    assert problem_of(data) == f"payload: must be a JSON object, not {kind} (see docs/ALERTS.md)"


def test_alertmanager_alerts_without_version_are_read_as_alertmanager() -> None:
    payload = alertmanager_firing()
    del payload["version"]
    assert problem_of(payload) == "alertmanager payload: version: is required"


def test_one_bad_alert_fails_the_whole_payload() -> None:
    payload = alertmanager_firing()
    payload["alerts"].append({"status": "firing", "startsAt": ZERO_TIME})
    assert problem_of(payload) == "alertmanager payload: alerts[2].labels: is required"


def test_many_problems_are_counted_not_all_listed() -> None:
    alerts = [{"title": n} for n in range(8)]
    message = problem_of({"alerts": alerts})
    assert message.count("must be a string") == 5
    assert message.endswith("; and 3 more")


# --- Alertmanager groups -----------------------------------------------------------


def test_an_alertmanager_payload_is_one_group_named_by_its_group_labels() -> None:
    first, second = parse_payload(alertmanager_firing())
    assert first.group is not None and first.group == second.group
    group = first.group
    expected = hashlib.sha256(b'{}:{alertname="PostgresDown"}').hexdigest()[:16]
    assert group.fingerprint == f"group:{expected}"
    assert group.title == "PostgresDown"  # two titles: the group labels name it
    assert group.summary == ""  # two alerts, no common description
    assert group.labels == {"job": "postgres"}
    assert first.detail == "Postgres is down on db (db:9187)"  # how the listing shows it
    assert second.detail == "DiskAlmostFull (web1)"


def test_a_group_of_one_is_named_like_its_alert_and_the_key_decides_the_group() -> None:
    payload = alertmanager_resolved()
    (alert,) = parse_payload(payload)
    assert alert.group is not None
    assert alert.group.title == "Postgres is down on db"
    assert alert.group.summary == "pg_up has been 0 for 2 minutes on db:9187."
    other = copy.deepcopy(payload)
    other["groupKey"] = '{}:{alertname="Other"}'
    (moved,) = parse_payload(other)
    assert moved.group is not None and moved.group.fingerprint != alert.group.fingerprint


def test_a_common_summary_names_the_group_and_is_redacted() -> None:
    payload = alertmanager_firing()
    payload["commonAnnotations"] = {
        "summary": "Databases down (password=hunter2hunter2)",
        "description": "Two of them",
    }
    group = parse_payload(payload)[0].group
    assert group is not None
    assert group.title.startswith("Databases down") and "hunter2" not in group.title
    assert group.summary == "Two of them"


@pytest.mark.parametrize("key", ["", "   "])
def test_without_a_group_key_each_alert_is_its_own(key: str) -> None:
    payload = alertmanager_firing()
    payload["groupKey"] = key
    assert [alert.group for alert in parse_payload(payload)] == [None, None]
    del payload["groupKey"]
    assert [alert.group for alert in parse_payload(payload)] == [None, None]


def test_the_generic_form_keeps_one_fingerprint_per_alert() -> None:
    alerts = parse_payload({"alerts": [{"title": "a"}, {"title": "b"}]})
    assert [alert.group for alert in alerts] == [None, None]
    assert len({alert.fingerprint for alert in alerts}) == 2
