"""The wording catalogue: readable labels and values, sentences, what to do, button
labels that are never cut, confirmations that say what happens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.model.findings import Finding, Fix, Severity, Subject, make_finding
from bot.render.labels import (
    EVIDENCE_LABELS,
    FINDING_NAMES,
    cause_rank,
    evidence_label,
    evidence_value,
    finding_name,
    guidance,
    readable,
    related_notes,
    sentence,
)
from bot.render.slack.buttons import ACTIONS, LABEL_LIMIT, TITLE_LIMIT, button_label, confirmation
from tests.lookstub.s1 import s1_report

NOW = datetime(2025, 10, 10, 12, 0, tzinfo=UTC)
FINDINGS_DOC = Path(__file__).resolve().parents[2] / "docs" / "FINDINGS.md"


def documented(section_end: str = "## Actions") -> list[tuple[str, str]]:
    """(code, severity column) of every finding in docs/FINDINGS.md."""
    text = FINDINGS_DOC.read_text().split(section_end)[0]
    return re.findall(r"^\| `([a-z]+\.[a-z_]+)` \| ([^|]+) \|", text, re.M)


def test_every_documented_code_has_a_name_and_every_critical_one_a_what_to_do() -> None:
    codes = documented()
    assert len(codes) > 25
    for code, severity in codes:
        assert code in FINDING_NAMES, code
        if "critical" in severity:
            subject = Subject(environment="prod", host="web1", project="shop", service="api")
            finding = make_finding(code, Severity.CRITICAL, "t", subject, database="shop")
            assert guidance(finding), code


def test_labels_are_words_never_snake_case_keys() -> None:
    assert all("_" not in label for label in EVIDENCE_LABELS.values())
    assert evidence_label("orphaned_volume_size") == "Old volume size"
    assert evidence_label("some_new_key") == "Some new key"
    assert finding_name("logs.error_burst") == "Logs error burst"


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("orphaned_volume_size", 72_744_892, "72.7 MB"),
        ("total_size", -1, "unknown"),
        ("docker_reclaimable", 2 * 1024**3, "2.1 GB"),
        ("age_hours", 0.0, "0 s"),
        ("age_hours", 26.5, "1 d 2 h"),
        ("uptime_seconds", 4000, "1 h 6 min"),
        ("percent", 95.4, "95 %"),
        ("resolves_in_container", False, "no"),
        ("inodes_total", 3_276_800, "3,276,800"),
        ("keys", ["DATABASE_URL", "SECRET_KEY"], "DATABASE_URL, SECRET_KEY"),
        ("finished_at", "2025-10-10T10:00:00.123456789Z", "2025-10-10 10:00 UTC (2 h ago)"),
        ("created", "2025-10-07T12:00:00+00:00", "2025-10-07 12:00 UTC (3 d ago)"),
        ("volumes", ["a" * 64 + " (0 B, anonymous)"], "aaaaaaaaaaaa… (0 B, anonymous)"),
        ("state", None, None),
        ("other_containers", [], None),
    ],
)
def test_evidence_values_are_for_people(key: str, value: object, shown: str | None) -> None:
    assert evidence_value(key, value, NOW) == shown  # type: ignore[arg-type]


def test_readable_makes_times_and_ids_short_in_free_text() -> None:
    text = "created 2025-10-10T10:00:00.040000000Z on volume " + "f" * 64
    assert readable(text) == "created 2025-10-10 10:00 UTC on volume ffffffffffff…"


def test_s1_sentences_are_plain_and_name_things_by_their_service() -> None:
    said = {f.code: sentence(f, NOW) for f in s1_report().findings}
    assert said["network.split"] == ("backend cannot reach db", "they share no network")
    assert said["db.empty"] == ("Database multivendor has no tables", "its migrations never ran")
    headline, detail = said["volume.orphaned_data"]
    assert headline == "The database's data was left in an old volume"
    assert "multivendor_postgres_data (72.7 MB)" in detail and "48.2 MB" in detail
    assert said["container.unhealthy"][0] == "backend is unhealthy"
    for headline, detail in said.values():
        assert "72744892" not in headline + detail
        assert not re.search(r"[0-9a-f]{64}", headline + detail)


def test_an_unknown_code_falls_back_to_the_titles_first_clause() -> None:
    finding = make_finding(
        "logs.error", Severity.WARNING, "api logs 40 errors: the newest says boom", Subject()
    )
    assert sentence(finding) == ("api logs 40 errors", "")


def test_advice_in_the_evidence_is_the_what_to_do() -> None:
    finding = make_finding(
        "compose.config_stale", Severity.WARNING, "t", Subject(), advice="review the dry run"
    )
    assert guidance(finding) == "Review the dry run."


def test_causes_come_before_effects_and_related_findings_are_linked() -> None:
    findings = s1_report().findings
    order = sorted(findings, key=lambda f: (f.severity.rank, cause_rank(f.code)))
    assert [f.code for f in order][:4] == [
        "volume.orphaned_data",
        "network.split",
        "db.empty",
        "container.unhealthy",
    ]
    notes = related_notes(order)
    assert notes[1] == (
        "Fix the data first: connected now, the app would use the new, nearly empty database.",
        0,
    )
    assert notes[3][1] == 1  # unhealthy: the split first
    assert 0 not in notes


def finding_with(fix: Fix, **evidence: object) -> Finding:
    subject = Subject(
        environment="production",
        host="web1",
        project="indexo-staging-platform",
        service="backend-worker-with-a-long-name",
        container="indexo-staging-platform-backend-worker-with-a-long-name-1",
        database="multivendor_production_main",
    )
    return make_finding("x.y", Severity.CRITICAL, "t", subject, fixes=(fix,), **evidence)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_button_labels_are_verb_first_and_never_cut(action: str) -> None:
    long = "x" * 80
    params: dict[str, str | int | bool | list[str]] = {
        "host": "web1",
        "container": long,
        "network": long,
        "volume": long,
        "service": long,
        "stack": long,
        "database": long,
    }
    for fix in (Fix(action=action, params=params), Fix(action=action, params={"host": "web1"})):
        label = button_label(finding_with(fix, hostnames=[long]), fix)
        assert len(label) <= LABEL_LIMIT and "…" not in label, label
        assert label.split()[0] == ACTIONS[action].labels[0].split()[0], label


def test_button_labels_name_what_fits() -> None:
    s1 = {f.code: f for f in s1_report().findings}
    labels = {code: [button_label(f, x) for x in f.fixes] for code, f in s1.items()}
    assert labels["network.split"] == ["Connect backend to db network"]
    assert labels["volume.orphaned_data"] == ["Back up old data volume", "Restore data volume"]
    assert labels["db.empty"] == ["Run migrations"]
    assert labels["container.unhealthy"] == ["Restart backend"]
    unknown = Fix(action="cache.flush_all", summary="flush every cache of the api")
    assert button_label(s1["db.empty"], unknown) == "Flush every cache of the api"
    wordy = Fix(action="cache.flush_all", summary="flush every cache of the api, then warm it")
    assert button_label(s1["db.empty"], wordy) == "Run cache flush all"


def test_recreate_confirmation_names_env_stack_service_keys_and_snapshot() -> None:
    fix = Fix(
        action="container.recreate",
        params={"host": "web1", "project": "shop", "service": "api"},
        destructive=True,
    )
    finding = make_finding(
        "env.drift",
        Severity.WARNING,
        "t",
        Subject(environment="prod", host="web1", project="shop", service="api"),
        fixes=(fix,),
        env_files=["/srv/shop/.env"],
        keys_changed=["SECRET_KEY", "DATABASE_URL"],
        keys_added=["FEATURE_FLAGS"],
    )
    asked = confirmation(finding, fix, "prod")
    assert asked.title == "Recreate api in prod?"
    assert asked.confirm == "Recreate"
    assert asked.text.startswith("prod · stack shop · service api: Stops api and starts a new")
    assert "Keys that change: SECRET_KEY, DATABASE_URL, FEATURE_FLAGS." in asked.text
    assert "Snapshot: the old container is kept" in asked.text and "Undo:" in asked.text
    assert len(asked.text) <= 300


def test_confirmations_fit_slack_whatever_the_names() -> None:
    keys = [f"KEY_NUMBER_{n}_WITH_A_LONG_NAME" for n in range(40)]
    for action in ACTIONS:
        fix = Fix(action=action, params={"host": "web1", "service": "s" * 90}, destructive=True)
        asked = confirmation(finding_with(fix, keys_changed=keys), fix, "production-eu-west-1")
        assert len(asked.title) <= TITLE_LIMIT and asked.title.endswith("?"), asked.title
        assert len(asked.text) <= 300 and len(asked.confirm) <= 30
        assert asked.title.startswith(ACTIONS[action].verb), asked.title
    fix = Fix(action="container.restart", params={"host": "web1", "container": "c"})
    assert confirmation(finding_with(fix), fix, "staging").title == "Restart c in staging?"
