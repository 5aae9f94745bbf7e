"""Host checks: reboot, disk space and inodes against thresholds."""

from __future__ import annotations

import pytest

from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_host
from runbooks.diagnose.facts import HostFacts
from tests.unit.diagnose.factories import GIB, HOST, facts, filesystem, lab_stack


def run(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_host.CHECKS for finding in check(f)]


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def test_healthy_host_has_no_findings() -> None:
    assert run(facts(lab_stack())) == []


# --- host.recent_reboot ----------------------------------------------------------


def test_reboot_three_hours_ago_is_reported_with_boot_time() -> None:
    [finding] = run(facts(uptime_seconds=3 * 3600 + 60))
    assert finding.code == "host.recent_reboot"
    assert finding.severity is Severity.INFO
    assert finding.subject.host == HOST
    assert finding.evidence["booted_at"] == "2025-10-10T08:59:00+00:00"
    assert finding.evidence["uptime_seconds"] == 3 * 3600 + 60
    assert "3.0 h ago" in finding.title


@pytest.mark.parametrize("uptime", [24 * 3600, 25 * 3600, None])
def test_uptime_of_a_day_or_unknown_is_not_a_reboot(uptime: float | None) -> None:
    assert run(facts(uptime_seconds=uptime)) == []


# --- disk.low ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "severity"),
    [
        (84.9, None),
        (85.0, Severity.WARNING),
        (94.9, Severity.WARNING),
        (95.0, Severity.CRITICAL),
        (99.5, Severity.CRITICAL),
    ],
)
def test_disk_thresholds(percent: float, severity: Severity | None) -> None:
    found = [
        f for f in run(facts(filesystems=[filesystem(percent=percent)])) if f.code == "disk.low"
    ]
    if severity is None:
        assert found == []
    else:
        [finding] = found
        assert finding.severity is severity


def test_disk_low_on_docker_root_offers_check_and_prune_with_reclaimable_bytes() -> None:
    """Seed 001 asks 'What's the disk space? docker system df': both, in one finding."""
    fs = filesystem("/", paths=("/", "/var/lib/docker"), size_gib=40, percent=97)
    [finding] = run(facts(filesystems=[fs], docker_reclaimable=6 * GIB))
    assert finding.code == "disk.low"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.path == "/"
    ev = finding.evidence
    assert ev["mount"] == "/"
    assert ev["paths"] == ["/", "/var/lib/docker"]
    assert ev["percent"] == 97.0
    assert ev["docker_reclaimable"] == 6 * GIB
    assert ev["available"] == fs.available
    assert ev["holds_docker_root"] is True
    assert "97 % full" in finding.title
    assert "Docker could reclaim 6.0 GiB" in finding.title
    actions = {fix.action: fix for fix in finding.fixes}
    assert actions["disk.check"].params == {"host": HOST}
    assert actions["disk.check"].destructive is False
    assert actions["docker.prune"].params == {"host": HOST}
    assert actions["docker.prune"].destructive is True


def test_prune_is_offered_only_where_docker_keeps_its_data() -> None:
    root = filesystem("/", paths=("/",), percent=90)
    docker = filesystem("/var/lib/docker", paths=("/var/lib/docker",), percent=92)
    findings = run(facts(filesystems=[root, docker]))
    by_mount = {f.subject.path: f for f in findings}
    assert [fix.action for fix in by_mount["/"].fixes] == ["disk.check"]
    assert [fix.action for fix in by_mount["/var/lib/docker"].fixes] == [
        "disk.check",
        "docker.prune",
    ]
    assert by_mount["/"].evidence["holds_docker_root"] is False


def test_docker_root_found_by_longest_mount_when_paths_do_not_name_it() -> None:
    root = filesystem("/", paths=("/",), percent=90)
    var = filesystem("/var", paths=("/var",), percent=90)
    findings = run(facts(filesystems=[root, var]))
    holds = {f.subject.path: f.evidence["holds_docker_root"] for f in findings}
    assert holds == {"/": False, "/var": True}


# --- disk.inodes_low ----------------------------------------------------------------


def test_inodes_nearly_exhausted_is_critical_even_with_free_space() -> None:
    fs = filesystem(percent=40, inodes_total=1_000_000, inodes_percent=96)
    [finding] = run(facts(filesystems=[fs]))
    assert finding.code == "disk.inodes_low"
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["inodes_used"] == 960_000
    assert finding.evidence["inodes_percent"] == 96.0
    assert {fix.action for fix in finding.fixes} == {"disk.check", "docker.prune"}


def test_inodes_warning_and_unknown_inodes() -> None:
    warn = filesystem("/", inodes_percent=86)
    unknown = filesystem("/data", paths=("/data",), inodes_total=None)
    findings = run(facts(filesystems=[warn, unknown]))
    assert codes(findings) == ["disk.inodes_low"]
    assert findings[0].severity is Severity.WARNING


def test_both_space_and_inodes_on_one_filesystem_give_two_findings() -> None:
    fs = filesystem(percent=88, inodes_percent=99)
    findings = run(facts(filesystems=[fs], uptime_seconds=600))
    assert codes(findings) == ["disk.inodes_low", "disk.low", "host.recent_reboot"]
    severities = {f.code: f.severity for f in findings}
    assert severities["disk.low"] is Severity.WARNING
    assert severities["disk.inodes_low"] is Severity.CRITICAL
    assert "10 min ago" in next(f.title for f in findings if f.code == "host.recent_reboot")
