"""What breaks a cure (``CureWatcher.broken``) and when a reopened incident escalates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from bot.inventory.config import Inventory, parse_inventory
from bot.model.diagnosis import DiagnosisReport, HostStatus
from bot.model.findings import Finding, Severity, Subject, make_finding
from bot.oncall.cure_watch import CureWatcher
from bot.oncall.models import CureWatch
from bot.oncall.service import OnCall
from bot.operations import Operations
from tests.clock import FakeClock
from tests.unit.oncall.test_service_steps import OPENED, incident
from tests.unit.oncall.test_service_steps import inventory as oncall_inventory

START = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
APP = "shop_app_1"


def finding(code: str, severity: Severity, container: str, network: str | None = None) -> Finding:
    subject = Subject(host="web1", project="shop", container=container, network=network)
    return make_finding(code, severity, f"{code} on {container}", subject)


SPLIT = finding("network.split", Severity.CRITICAL, APP, "shop_db")


def watcher(tmp_path: Path) -> CureWatcher:
    inv: Inventory = parse_inventory(
        {"environments": {"prod": {"hosts": {"web1": {"address": "203.0.113.10"}}}}},
        source="test", base_dir=tmp_path,
    )  # fmt: skip
    oncall = OnCall(inv, cast(Any, None), FakeClock(START))
    return CureWatcher(oncall, cast(Any, None), Operations(inv, trail=None), trail=None)


def watch(**changes: Any) -> CureWatch:
    data: dict[str, Any] = {
        "id": uuid.uuid4(), "environment": "prod", "host": "web1", "stack": "shop",
        "action": "network.connect",
        "params": {"host": "web1", "container": APP, "network": "shop_db"},
        "finding_id": SPLIT.id, "touched": [APP], "incident_id": None, "fixed_by": "UBOB",
        "channel": "CPROD", "thread_ts": "1.1", "started_at": START,
        "ends_at": START + timedelta(minutes=10), "checks_total": 4, "checks_done": 0,
        "next_check_at": START, "status": "watching", "finished_at": None, "evidence": [],
    }  # fmt: skip
    data.update(changes)
    return CureWatch.model_validate(data)


def report(*findings: Finding) -> DiagnosisReport:
    return DiagnosisReport(
        environment="prod", started_at=START, duration=0.1, verdict="critical", counts={},
        hosts=[HostStatus(host="web1", label="web1", reached=True, duration=0.1)],
        findings=list(findings),
    )  # fmt: skip


def test_what_the_fix_cleared_coming_back_breaks_the_cure(tmp_path: Path) -> None:
    w = watcher(tmp_path)
    assert w.broken(watch(), report(SPLIT)) == [SPLIT]
    # the action's own ``remaining``: the same code about the same container, found anew
    unresolvable = finding("network.unresolvable_host", Severity.CRITICAL, APP)
    assert w.broken(watch(finding_id=None, touched=[]), report(unresolvable)) == [unresolvable]


def test_only_critical_findings_about_touched_containers_break_it(tmp_path: Path) -> None:
    w = watcher(tmp_path)
    restarting = finding("container.restarting", Severity.CRITICAL, APP)
    slow = finding("container.unhealthy", Severity.WARNING, APP)
    other = finding("container.down", Severity.CRITICAL, "shop_worker_1")
    assert w.broken(watch(), report(restarting, slow, other)) == [restarting]
    assert w.broken(watch(), report(slow, other)) == []


def test_parameters_that_no_longer_parse_do_not_crash_a_check(tmp_path: Path) -> None:
    w = watcher(tmp_path)
    assert w.broken(watch(params={"nonsense": 1}), report(SPLIT)) == [SPLIT]  # by its id


def test_a_reopened_incident_pages_at_once_then_escalates_from_the_reopening(
    tmp_path: Path,
) -> None:
    oncall = OnCall(oncall_inventory(tmp_path), cast(Any, None), FakeClock(START))
    opened = incident("prod")
    assert oncall.step_due(opened, 1) == OPENED + timedelta(minutes=2)
    later = OPENED + timedelta(hours=3)
    again = opened.model_copy(update={"reopened_at": later})
    assert oncall.step_due(again, 1) == later  # the on-call person, now
    assert oncall.step_due(again, 2) == later + timedelta(minutes=10)
    assert oncall.step_due(again, 4) is None
    dev = incident("dev").model_copy(update={"reopened_at": later})  # no escalation at all
    assert oncall.step_due(dev, 1) is None
