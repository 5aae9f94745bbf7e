"""The diagnosis report: verdict and counts, findings by severity, fix commands, redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from bot.model.diagnosis import build_report
from bot.model.findings import Fix, Severity, Subject, make_finding
from bot.model.outcome import ErrorInfo, HostOutcome, RunOutcome
from bot.render.report import fix_command, render_report, report_json
from runbooks.diagnose.runbook import HostDiagnosis

SECRET = "planted-secret-7f3a9c"


def outcome() -> RunOutcome[Any]:
    split = make_finding(
        "network.split",
        Severity.CRITICAL,
        "backend cannot reach db: no shared network",
        Subject(environment="prod", host="web1", project="shop", container="shop_backend_1"),
        fixes=(
            Fix(
                action="network.connect",
                params={"host": "web1", "container": "shop_backend_1", "network": "shop_internal"},
                summary="connect shop_backend_1 to shop_internal",
            ),
        ),
        hostname="db",
        url=f"postgresql://shop:{SECRET}@db:5432/shop",
    )
    drift = make_finding(
        "env.drift",
        Severity.WARNING,
        "backend runs with an older .env",
        Subject(environment="prod", host="web1", project="shop", service="backend"),
        fixes=(Fix(action="container.recreate", params={"host": "web1"}, destructive=True),),
        changed=["SECRET_KEY"],
        log=f"SECRET_KEY={SECRET}",
    )
    reboot = make_finding(
        "host.recent_reboot", Severity.INFO, "web1 rebooted 2 h ago", Subject(host="web1")
    )
    web1 = HostOutcome[HostDiagnosis](
        host="web1",
        label="prod/web1 (deploy@192.0.2.10:22)",
        duration=1.2,
        result=HostDiagnosis(stacks=["shop"], containers=3, findings=[reboot, drift, split]),
    )
    web2 = HostOutcome[HostDiagnosis](
        host="web2",
        label="prod/web2 (deploy@192.0.2.11:22)",
        duration=10.0,
        error=ErrorInfo(code="host.unreachable", message="prod/web2 (…): connection refused"),
    )
    return RunOutcome[HostDiagnosis](
        environment="prod",
        runbook="diagnose",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration=10.0,
        hosts=[web1, web2],
    )


def test_report_counts_host_failures_as_findings() -> None:
    report = build_report(outcome())
    assert report.verdict == "critical"
    assert report.counts == {"critical": 2, "warning": 1, "info": 1}
    assert [f.code for f in report.findings][:2] == ["host.unreachable", "network.split"]
    assert [h.reached for h in report.hosts] == [True, False]


def test_terminal_report_groups_by_severity_with_fix_commands() -> None:
    console = Console(record=True, width=200)
    render_report(build_report(outcome()), console)
    text = console.export_text()
    assert text.index("CRITICAL (2)") < text.index("WARNING (1)") < text.index("INFO (1)")
    assert (
        "$ stackbot fix network.connect prod --param host=web1 "
        "--param container=shop_backend_1 --param network=shop_internal"
    ) in text
    assert "fix (asks first): container.recreate" in text
    assert "✘ prod/web2" in text and "✔ prod/web1" in text
    assert SECRET not in text


def test_json_report_is_versioned_and_redacted() -> None:
    data = json.loads(report_json(build_report(outcome())))
    assert data["schema_version"] == 1 and data["verdict"] == "critical"
    finding = next(f for f in data["findings"] if f["code"] == "network.split")
    assert finding["fixes"][0] == {
        "action": "network.connect",
        "params": {"host": "web1", "container": "shop_backend_1", "network": "shop_internal"},
        "destructive": False,
        "summary": "connect shop_backend_1 to shop_internal",
    }
    assert len(finding["id"]) == 8
    assert SECRET not in json.dumps(data)


def test_fix_command_quotes_values() -> None:
    fix = Fix(action="network.connect", params={"container": "a b", "alias": True})
    assert fix_command("prod", fix) == (
        "stackbot fix network.connect prod --param 'container=a b' --param alias=true"
    )


def test_host_notes_reach_the_report_and_the_terminal_never_as_findings() -> None:
    note = f"compose project shop: could not list the services (SECRET={SECRET})"
    run = outcome()
    web1 = run.hosts[0]
    assert web1.result is not None
    web1.result.notes = [note]
    report = build_report(run)
    assert report.hosts[0].notes == [note] and report.hosts[1].notes == []
    assert report.counts == {"critical": 2, "warning": 1, "info": 1}  # unchanged
    console = Console(record=True, width=200)
    render_report(report, console, known_secrets=[SECRET])
    text = console.export_text()
    assert "note      compose project shop: could not list the services" in text
    assert SECRET not in text
    data = json.loads(report_json(report, known_secrets=[SECRET]))
    assert data["hosts"][0]["notes"][0].startswith("compose project shop")
    assert SECRET not in json.dumps(data)
