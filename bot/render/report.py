"""The diagnosis report on a terminal and as JSON: verdict, hosts, findings by severity.

Every string is redacted before it is printed; values from hosts go into
``rich.text.Text`` so they are never read as markup.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable

from rich.console import Console
from rich.text import Text

from bot.model.diagnosis import DiagnosisReport
from bot.model.findings import EvidenceValue, Finding, Fix, Severity
from bot.redaction.redact import redact_data, redact_model

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}
VERDICT_STYLE = {
    "critical": "bold white on red",
    "warning": "bold black on yellow",
    "healthy": "bold white on green",
}
EVIDENCE_LIMIT = 300


def report_json(report: DiagnosisReport, *, known_secrets: Iterable[str] = ()) -> str:
    """The report as indented JSON (schema_version 1), every string redacted."""
    data = redact_data(report.model_dump(mode="json"), known_secrets)
    return json.dumps(data, indent=2, ensure_ascii=False)


def fix_command(environment: str, fix: Fix) -> str:
    """The terminal command that applies ``fix`` (``stackbot fix ACTION ENV --param k=v``)."""
    argv = ["stackbot", "fix", fix.action, environment]
    for key, value in fix.params.items():
        text = (
            ",".join(value)
            if isinstance(value, list)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        argv += ["--param", f"{key}={text}"]
    return shlex.join(argv)


def render_report(
    report: DiagnosisReport, console: Console, *, known_secrets: Iterable[str] = ()
) -> None:
    clean = redact_model(report, known_secrets)
    console.print(_header(clean))
    for host in clean.hosts:
        console.print(
            _host_line(host.label, host.reached, host.stacks, host.containers, host.error)
        )
        for note in host.notes:
            console.print(Text.assemble(("      note      ", "dim"), note))
    if not clean.findings:
        console.print(Text("\nNo findings: every check passed.", style="green"))
        return
    for severity in Severity:
        group = [f for f in clean.findings if f.severity is severity]
        if not group:
            continue
        console.print()
        console.print(
            Text(f"{severity.value.upper()} ({len(group)})", style=SEVERITY_STYLE[severity])
        )
        for finding in group:
            _print_finding(console, clean.environment, finding)


def _header(report: DiagnosisReport) -> Text:
    text = Text()
    text.append(f" {report.verdict.upper()} ", style=VERDICT_STYLE[report.verdict])
    text.append(f"  {report.environment} · diagnose · ")
    counts = [f"{n} {sev}" for sev, n in report.counts.items() if n]
    text.append(" · ".join(counts) or "no findings")
    hosts = len(report.hosts)
    text.append(f" · {hosts} host{'s' if hosts != 1 else ''} · {report.duration:.1f} s")
    return text


def _host_line(
    label: str, reached: bool, stacks: list[str], containers: int, error: object
) -> Text:
    if reached:
        what = f"{len(stacks)} stack{'s' if len(stacks) != 1 else ''}"
        if stacks:
            what += f" ({', '.join(stacks)})"
        return Text.assemble(("  ✔ ", "green"), f"{label}: {what}, {containers} containers")
    return Text.assemble(("  ✘ ", "bold red"), f"{label}: not diagnosed (see below)")


def _print_finding(console: Console, environment: str, finding: Finding) -> None:
    style = SEVERITY_STYLE[finding.severity]
    line = Text.assemble(
        ("  ● ", style), (finding.code, style), "  ", finding.title, (f"  [{finding.id}]", "dim")
    )
    console.print(line)
    where = " · ".join(
        f"{k} {v}"
        for k, v in finding.subject.model_dump(exclude_none=True).items()
        if k != "environment"
    )
    if where:
        console.print(Text.assemble(("      where     ", "dim"), where))
    for key, value in finding.evidence.items():
        console.print(Text.assemble(("      ", "dim"), (f"{key}: ", "dim"), _evidence(value)))
    for fix in finding.fixes:
        label = "fix (asks first)" if fix.destructive else "fix"
        console.print(
            Text.assemble(("      ", "dim"), (f"{label}: ", "bold"), fix.summary or fix.action)
        )
        console.print(Text.assemble(("        $ ", "dim"), fix_command(environment, fix)))


def _evidence(value: EvidenceValue) -> str:
    text = ", ".join(value) if isinstance(value, list) else str(value)
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= EVIDENCE_LIMIT else text[: EVIDENCE_LIMIT - 1] + "…"
