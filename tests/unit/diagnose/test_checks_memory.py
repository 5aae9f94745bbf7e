"""host.memory_pressure from /proc/meminfo."""

from __future__ import annotations

from bot.model.findings import Severity
from runbooks.diagnose.checks_host import check_memory_pressure
from runbooks.diagnose.gather import parse_meminfo
from tests.unit.diagnose.factories import facts

MEMINFO = """MemTotal:        4000000 kB
MemFree:          100000 kB
MemAvailable:     {available} kB
Buffers:           10000 kB
SwapTotal:       {swap_total} kB
SwapFree:        {swap_free} kB
"""


def meminfo(available: int, swap_total: int = 0, swap_free: int = 0) -> str:
    return MEMINFO.format(available=available, swap_total=swap_total, swap_free=swap_free)


def test_meminfo_is_read_in_bytes_and_old_kernels_give_nothing() -> None:
    mem = parse_meminfo(meminfo(1_000_000, 2_000_000, 500_000))
    assert mem is not None and mem.total == 4_000_000 * 1024 and mem.available_percent == 25
    assert mem.swap_used == 1_500_000 * 1024 and mem.swap_percent == 75
    assert parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\n") is None


def test_thresholds() -> None:
    def judge(text: str) -> list[Severity]:
        return [f.severity for f in check_memory_pressure(facts(memory=parse_meminfo(text)))]

    assert judge(meminfo(150_000)) == [Severity.CRITICAL]  # 3.75 %
    assert judge(meminfo(300_000)) == [Severity.WARNING]  # 7.5 %
    assert judge(meminfo(800_000, 2_000_000, 400_000)) == [Severity.WARNING]  # 20 %, swapping
    assert judge(meminfo(2_000_000, 2_000_000, 400_000)) == []  # old pages in swap, RAM free
    assert judge(meminfo(2_000_000)) == []
    assert check_memory_pressure(facts()) == []  # not read


def test_evidence_names_sizes() -> None:
    (finding,) = check_memory_pressure(facts(memory=parse_meminfo(meminfo(150_000, 100, 0))))
    assert finding.subject.host == "web1" and finding.subject.container is None
    assert finding.evidence["available_percent"] == 3.8
    assert finding.evidence["swap_percent"] == 100.0
    assert "docker stats" in str(finding.evidence["advice"])
