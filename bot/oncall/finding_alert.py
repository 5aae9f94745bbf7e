"""A finding as an alert: how the watcher and the cure watch open incidents from findings."""

from __future__ import annotations

from bot.model.findings import Finding
from bot.oncall.models import SUMMARY_LIMIT, TITLE_LIMIT, Alert
from bot.redaction.redact import redact_text


def finding_alert(finding: Finding) -> Alert:
    """A firing alert with the fingerprint ``finding:<id>`` (stable for the same problem
    on the same subject), the finding's severity and its evidence, redacted."""
    evidence = redact_text(
        "; ".join(
            f"{key}: {', '.join(value) if isinstance(value, list) else value}"
            for key, value in finding.evidence.items()
        )[: SUMMARY_LIMIT * 2]
    )
    labels = {"code": finding.code, "finding": finding.id}
    if finding.subject.host:
        labels["host"] = finding.subject.host
    return Alert(
        fingerprint=f"finding:{finding.id}",
        title=f"{finding.code}: {finding.title}"[:TITLE_LIMIT],
        severity=finding.severity,
        summary=evidence[:SUMMARY_LIMIT],
        source="watcher",
        labels=labels,
    )
