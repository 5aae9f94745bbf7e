"""The watcher's findings → alerts: only critical ones, stable fingerprints, labels, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.model.diagnosis import DiagnosisReport, HostStatus
from bot.model.findings import Finding, Severity, Subject, make_finding
from bot.oncall.models import SUMMARY_LIMIT, TITLE_LIMIT
from bot.oncall.watcher import finding_alerts

STARTED = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def report(*findings: Finding) -> DiagnosisReport:
    counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
    return DiagnosisReport(
        environment="prod",
        started_at=STARTED,
        duration=1.5,
        verdict="critical" if counts["critical"] else "warning" if counts["warning"] else "healthy",
        counts=counts,
        hosts=[HostStatus(host="web1", label="web1", reached=True, duration=1.0)],
        findings=list(findings),
    )


def down(container: str = "shop-db-1", **evidence: Any) -> Finding:
    return make_finding(
        "container.exited",
        Severity.CRITICAL,
        f"{container} exited with code 137",
        Subject(environment="prod", host="web1", project="shop", container=container),
        **evidence,
    )


def test_only_critical_findings_become_alerts() -> None:
    critical = down(exit_code=137)
    warning = make_finding(
        "disk.almost_full", Severity.WARNING, "/ is 85 % full", Subject(host="web1", path="/")
    )
    info = make_finding("volume.unused", Severity.INFO, "unused volume", Subject(volume="old"))
    (alert,) = finding_alerts(report(warning, critical, info))
    assert alert.fingerprint == f"finding:{critical.id}"
    assert alert.severity is Severity.CRITICAL
    assert alert.status == "firing"
    assert alert.source == "watcher"
    assert alert.title == "container.exited: shop-db-1 exited with code 137"
    assert alert.summary == "exit_code: 137"
    assert alert.labels == {"code": "container.exited", "finding": critical.id, "host": "web1"}


def test_a_healthy_report_raises_nothing() -> None:
    assert finding_alerts(report()) == []
    warning = make_finding("disk.almost_full", Severity.WARNING, "85 %", Subject(host="web1"))
    assert finding_alerts(report(warning)) == []


def test_the_fingerprint_is_stable_across_reports() -> None:
    first = finding_alerts(report(down(exit_code=137, restarts=1)))
    # the next diagnosis: same problem on the same subject, other evidence
    second = finding_alerts(report(down(exit_code=1, restarts=5)))
    assert [a.fingerprint for a in first] == [a.fingerprint for a in second]
    assert first[0].labels["finding"] == second[0].labels["finding"]
    # another subject is another alert
    other = finding_alerts(report(down("shop-app-1")))
    assert other[0].fingerprint != first[0].fingerprint


def test_two_critical_findings_are_two_alerts_in_report_order() -> None:
    a, b = down("shop-db-1"), down("shop-app-1")
    alerts = finding_alerts(report(a, b))
    assert [x.fingerprint for x in alerts] == [f"finding:{a.id}", f"finding:{b.id}"]


def test_a_finding_without_a_host_has_no_host_label() -> None:
    finding = make_finding(
        "host.unreachable", Severity.CRITICAL, "no answer", Subject(environment="prod")
    )
    (alert,) = finding_alerts(report(finding))
    assert alert.labels == {"code": "host.unreachable", "finding": finding.id}


def test_long_titles_and_evidence_are_clipped_to_the_alert_limits() -> None:
    finding = make_finding(
        "container.exited",
        Severity.CRITICAL,
        "t" * 1000,
        Subject(host="web1", container="c"),
        log="x" * 5000,
    )
    (alert,) = finding_alerts(report(finding))
    assert len(alert.title) == TITLE_LIMIT
    assert alert.title.startswith("container.exited: ttt")
    assert len(alert.summary) == SUMMARY_LIMIT
    assert alert.summary.startswith("log: xxx")


def test_evidence_becomes_the_summary() -> None:
    (alert,) = finding_alerts(report(down(exit_code=137, oom_killed=True)))
    assert alert.summary == "exit_code: 137; oom_killed: True"
