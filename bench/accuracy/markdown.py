"""The benchmark's report in markdown: the machine, one row per scenario, the totals."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bench.accuracy.model import ALWAYS_TOLERATED, Scenario
from bench.accuracy.score import RECALL_TARGET, ScenarioScore, Totals, describe


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return "RAM unknown"


def _version(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "?"


def machine(extra: Mapping[str, str] | None = None) -> list[str]:
    """Facts about where the numbers were measured."""
    from tests.lab.compose_tools import V1_PATH, v2_binary

    facts = {
        "machine": f"{os.cpu_count()} cores, {_memory()}",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "Compose v2": _version([str(v2_binary()), "version", "--short"]),
        "Compose v1": _version([str(V1_PATH), "version", "--short"]),
        **(extra or {}),
    }
    return [f"- {key}: {value}" for key, value in facts.items()]


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.0f}" if seconds is not None else "-"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def row(scenario: Scenario, s: ScenarioScore) -> str:
    if s.skipped is not None:
        note = f"skipped: {s.skipped}"
    elif s.error is not None:
        note = s.error
    else:
        notes = [f"missed {r.code} on {r.subject}" for r in s.missed]
        notes += [f"false {describe(f)}" for f in s.false_findings]
        if s.control:
            notes += [
                f"above info: {describe(f)}" for f in s.above_info if f not in s.false_findings
            ]
        if s.build_attempts > 1:
            notes.append(f"built at attempt {s.build_attempts} (a health check outran the load)")
        note = "; ".join(notes)
    required = f"{s.found}/{len(s.required)}" if s.required else "-"
    false = "-" if s.skipped is not None else str(len(s.false_findings))
    crit = "-" if s.skipped is not None else str(len(s.false_criticals))
    cells = [
        scenario.id, scenario.family, scenario.compose, s.status, required, false, crit,
        _ms(s.duration), _cell(note),
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def total_lines(t: Totals) -> list[str]:
    verdict = "PASS" if t.ok else "FAIL: " + "; ".join(t.failures)
    return [
        f"- scenarios: {t.scenarios} ({t.scored} scored, {t.skipped} skipped, "
        f"{t.errors} not built or not diagnosed)",
        f"- recall of required findings (code + subject): {t.found}/{t.required} = "
        f"{t.recall:.1%} (target ≥ {RECALL_TARGET:.0%})",
        f"- false findings: {t.false_findings}; false criticals: {t.false_criticals}",
        f"- healthy controls with a finding above info: "
        f"{', '.join(t.noisy_controls) if t.noisy_controls else 'none'}",
        f"- median diagnosis time (new SSH connection included): {_ms(t.median_duration)} ms",
        f"- verdict: {verdict}",
    ]


def render(
    pairs: Sequence[tuple[Scenario, ScenarioScore]],
    t: Totals,
    *,
    command: str,
    machine_lines: Sequence[str] = (),
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Accuracy benchmark results",
        "",
        f"`{command}`, {when}. Each scenario is built on the lab's real Docker engine, "
        "then its environment is diagnosed over SSH as `stackbot diagnose ENV --format json` "
        "does. Required: findings that must be reported with their code, naming the subject; "
        "false: any other finding whose code the scenario does not tolerate; "
        "always tolerated: "
        + ", ".join(f"`{c}` ({why})" for c, why in ALWAYS_TOLERATED.items())
        + ".",
        "",
        *machine_lines,
        "",
        "| scenario | family | compose | status | required found | false | false critical "
        "| diagnosis ms | notes |",
        "|---|---|---|---|---|---|---|---|---|",
        *(row(scenario, s) for scenario, s in pairs),
        "",
        "## Total",
        "",
        *total_lines(t),
        "",
    ]
    return "\n".join(lines)
