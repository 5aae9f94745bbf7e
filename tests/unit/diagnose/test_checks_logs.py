"""disk.logs_unrotated: json-file logs without max-size that grew large."""

from __future__ import annotations

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Severity
from runbooks.diagnose.checks_logs import check_logs_unrotated, unrotated
from runbooks.diagnose.facts import PathFacts
from tests.unit.diagnose.factories import GIB, container, facts, filesystem

MIB = 1024 * 1024


def logging(name: str, options: dict[str, str] | None = None) -> ContainerDetails:
    return container(
        name, project="shop", service=name.split("-")[1],
        host_config={"LogConfig": {"Type": "json-file", "Config": options or {}}},
    )  # fmt: skip


def sized(*pairs: tuple[ContainerDetails, int]) -> dict[str, PathFacts]:
    return {c.log_path: PathFacts(path=c.log_path, kind="file", size=n) for c, n in pairs}


def test_large_unrotated_logs_are_listed_largest_first() -> None:
    worker, web, small = logging("shop-worker-1"), logging("shop-web-1"), logging("shop-db-1")
    f = facts([worker, web, small], paths=sized((worker, 3 * GIB), (web, 150 * MIB), (small, MIB)))
    (finding,) = check_logs_unrotated(f)
    assert finding.severity is Severity.WARNING
    assert finding.evidence["largest_logs"] == ["shop-worker-1: 3.0 GiB", "shop-web-1: 150.0 MiB"]
    assert finding.evidence["containers"] == ["shop-worker-1", "shop-web-1"]
    assert finding.subject.project == "shop" and finding.subject.container is None
    assert "max-size" in str(finding.evidence["advice"])


def test_rotated_other_drivers_small_and_unreadable_logs_are_not_judged() -> None:
    rotated = logging("shop-web-1", {"max-size": "10m", "max-file": "3"})
    assert not unrotated(rotated)
    local = container("shop-api-1", project="shop", service="api",
                      host_config={"LogConfig": {"Type": "local", "Config": {}}})  # fmt: skip
    assert not unrotated(local)
    plain = logging("shop-worker-1")
    assert unrotated(plain)
    assert check_logs_unrotated(facts([rotated], paths=sized((rotated, 5 * GIB)))) == []
    assert check_logs_unrotated(facts([plain], paths=sized((plain, 90 * MIB)))) == []
    unknown = {plain.log_path: PathFacts(path=plain.log_path, kind="unknown")}
    assert check_logs_unrotated(facts([plain], paths=unknown)) == []


def test_on_a_nearly_full_small_disk_a_smaller_share_counts() -> None:
    worker = logging("shop-worker-1")
    small_disk = filesystem("/", size_gib=0.5, percent=92)  # 512 MiB: 5 % is 25.6 MiB
    f = facts([worker], filesystems=[small_disk], paths=sized((worker, 40 * MIB)))
    (finding,) = check_logs_unrotated(f)
    assert finding.subject.container == "shop-worker-1"
    assert finding.evidence["filesystem_percent"] == 92.0
    roomy = facts([worker], paths=sized((worker, 40 * MIB)))
    assert check_logs_unrotated(roomy) == []
