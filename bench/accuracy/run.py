"""Build a scenario on the lab, diagnose its environment, score the findings.

The diagnosis is ``Operations.diagnose``: the code path of ``stackbot diagnose ENV
--format json`` (same inventory, runbook, SSH transport and report), in process and
without an audit trail (a benchmark's diagnoses are nobody's incident). Each diagnosis
opens its own SSH connection, as one CLI command does; its time includes that.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.accuracy.model import Scenario
from bench.accuracy.score import ScenarioScore, describe, score
from bot.inventory.config import load_inventory
from bot.model.diagnosis import DiagnosisReport
from bot.operations import Operations, Requester
from tests.lab.corpus_builders import H1, H2, clear_fake_meminfo, prepared
from tests.lab.lab import Lab
from tests.lab.util import LabError

REQUESTER = Requester(actor="bench-accuracy", surface="cli")
DEADLINE = 60.0


BUILD_ATTEMPTS = 3
# compose gave up waiting for a health check: the machine was too busy for the lab's
# patience (initdb outlasting the db's retries), not a fault of the scenario
_TOO_SLOW = "is unhealthy"


def build(lab: Lab, scenario: Scenario, log: Callable[[str], None] = print) -> tuple[float, int]:
    """Put the lab in ``scenario``'s state; the seconds it took and the attempts. A build
    that failed only because a health check outran a busy machine is tried again (from a
    reset); the diagnosis never is."""
    started = time.monotonic()
    for attempt in range(1, BUILD_ATTEMPTS + 1):
        try:
            with prepared(lab, scenario.compose):
                scenario.build(lab)
        except LabError as exc:
            if _TOO_SLOW not in str(exc) or attempt == BUILD_ATTEMPTS:
                raise
            log(f"   build attempt {attempt} outran a health check on a busy machine; again")
            continue
        return time.monotonic() - started, attempt
    raise AssertionError("unreachable")


def inventory_path(lab: Lab, scenario: Scenario, directory: Path) -> Path:
    """The lab's inventory, with the scenario's overrides if it has any."""
    if not scenario.inventory:
        return lab.inventory_path
    return lab.write_inventory(directory / f"{scenario.id}.yaml", **scenario.inventory)


async def diagnose(path: Path, environment: str) -> tuple[DiagnosisReport, float]:
    """What ``stackbot --config PATH diagnose ENV --format json`` reports, and its time."""
    inventory = load_inventory(path)
    operations = Operations(inventory, trail=None)
    started = time.perf_counter()
    report = await operations.diagnose(REQUESTER, environment, deadline=DEADLINE)
    return report, time.perf_counter() - started


def _summary(exc: BaseException) -> str:
    """The error's class, first and last lines (compose's last line says why)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""
    return f"{type(exc).__name__}: {text}"[:400]


def undo_host_views() -> None:
    """What a scenario changed outside Docker that the next reset would not undo before
    someone else reads the host (a faked /proc/meminfo)."""
    for host in (H1, H2):
        clear_fake_meminfo(host)


def run_scenario(
    lab: Lab, scenario: Scenario, *, log: Callable[[str], None] = print, verbose: bool = False
) -> ScenarioScore:
    """Build, diagnose and score one scenario; a failure becomes the score's ``error``."""

    def unscored(**what: str | float) -> ScenarioScore:
        return ScenarioScore(
            id=scenario.id,
            family=scenario.family,
            control=scenario.control,
            required=tuple((r, False) for r in scenario.expect.required),
            **what,  # type: ignore[arg-type]
        )

    if scenario.skip_reason is not None:
        return unscored(skipped=scenario.skip_reason)
    log(f"== {scenario.id}: build (compose {scenario.compose})")
    try:
        seconds, attempts = build(lab, scenario, log)
    except Exception as exc:
        undo_host_views()
        log(traceback.format_exc())
        return unscored(error=f"build failed: {_summary(exc)}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
            path = inventory_path(lab, scenario, Path(tmp))
            report, took = asyncio.run(diagnose(path, scenario.environment))
    except Exception as exc:
        log(traceback.format_exc())
        return unscored(build_seconds=seconds, error=f"diagnose failed: {_summary(exc)}")
    finally:
        undo_host_views()
    result = score(
        scenario.expect,
        report.findings,
        id=scenario.id,
        family=scenario.family,
        control=scenario.control,
        duration=took,
        build_seconds=seconds,
        build_attempts=attempts,
    )
    if verbose:
        for finding in report.findings:
            log(f"   - {describe(finding)}: {finding.title}")
    log(
        f"   {result.status}: {result.found}/{len(result.required)} required, "
        f"{len(result.false_findings)} false ({len(result.false_criticals)} critical), "
        f"diagnosis {took * 1000:.0f} ms, build {seconds:.1f} s"
        + (f" ({attempts} attempts)" if attempts > 1 else "")
    )
    return result
