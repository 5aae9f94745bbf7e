"""Host checks: recent reboot, disk space and inodes, memory.

Rules (all judged against ``facts.now`` and ``facts.filesystems``):

- ``host.recent_reboot`` (info): uptime below 24 h.
- ``disk.low``: a filesystem at least 85 % full (warning) or 95 % (critical),
  full meaning ``used / (used + available)`` as ``df`` computes it (space
  reserved for root counts as used).
- ``disk.inodes_low``: the same thresholds on inodes, where the filesystem
  reports an inode count (btrfs, for instance, reports none).

Both disk findings offer ``disk.check``; ``docker.prune`` is offered only for
the filesystem that holds Docker's data root, where pruning frees space.

- ``host.memory_pressure`` (from ``/proc/meminfo``, read over the session):
  ``MemAvailable`` below 10 % of ``MemTotal`` (warning) or 5 % (critical), or swap
  at least 50 % used while less than 25 % of memory is available (warning: the host
  is swapping, not just holding old pages in swap). Evidence: total, available,
  swap used; guidance names how to find the containers using it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import timedelta

from bot.model.findings import Finding, Fix, Severity, make_finding
from bot.model.units import human_size
from runbooks.diagnose.checks_volumes import databases_on
from runbooks.diagnose.facts import FilesystemFacts, HostFacts
from runbooks.diagnose.subject import subject

REBOOT_WINDOW = timedelta(hours=24)
WARNING_PERCENT = 85.0
CRITICAL_PERCENT = 95.0


def _severity(percent: float) -> Severity | None:
    if percent >= CRITICAL_PERCENT:
        return Severity.CRITICAL
    if percent >= WARNING_PERCENT:
        return Severity.WARNING
    return None


def _within(path: str, mount: str) -> bool:
    path, mount = posixpath.normpath(path), posixpath.normpath(mount)
    return mount == "/" or path == mount or path.startswith(mount.rstrip("/") + "/")


def _holds_docker_root(facts: HostFacts, fs: FilesystemFacts) -> bool:
    """Whether ``fs`` is the filesystem Docker's data root lives on."""
    root = facts.info.docker_root_dir
    if root in fs.paths:
        return True
    if any(root in other.paths for other in facts.filesystems):
        return False
    holders = [f for f in facts.filesystems if _within(root, f.mount)]
    best = max(holders, key=lambda f: len(f.mount), default=None)
    return best is not None and best.mount == fs.mount


def _fixes(facts: HostFacts, fs: FilesystemFacts) -> tuple[Fix, ...]:
    fixes = [
        Fix(
            action="disk.check",
            params={"host": facts.host},
            summary=f"report what uses {fs.mount}: filesystems, inodes, Docker images, "
            "containers, volumes, build cache and container logs",
        )
    ]
    if _holds_docker_root(facts, fs):
        reclaim = (
            f" ({human_size(facts.docker_reclaimable, binary=True)} reclaimable)"
            if facts.docker_reclaimable
            else ""
        )
        fixes.append(
            Fix(
                action="docker.prune",
                params={"host": facts.host},
                destructive=True,
                summary="remove stopped containers, dangling images and build cache"
                f"{reclaim}; never volumes",
            )
        )
    return tuple(fixes)


def check_recent_reboot(facts: HostFacts) -> list[Finding]:
    """``host.recent_reboot``: uptime below 24 h (containers without a restart
    policy did not come back; tmpfs data is gone)."""
    uptime = facts.uptime_seconds
    if uptime is None or uptime < 0 or uptime >= REBOOT_WINDOW.total_seconds():
        return []
    booted = facts.now - timedelta(seconds=uptime)
    hours = uptime / 3600
    ago = f"{hours:.1f} h" if hours >= 1 else f"{uptime / 60:.0f} min"
    return [
        make_finding(
            "host.recent_reboot",
            Severity.INFO,
            f"{facts.host} rebooted {ago} ago (at {booted.isoformat()})",
            subject(facts),
            uptime_seconds=int(uptime),
            booted_at=booted.isoformat(),
        )
    ]


def check_disk_low(facts: HostFacts) -> list[Finding]:
    """``disk.low``: ≥ 85 % used is a warning, ≥ 95 % critical."""
    findings: list[Finding] = []
    for fs in facts.filesystems:
        percent = fs.percent_used
        severity = _severity(percent)
        if severity is None:
            continue
        docker = _holds_docker_root(facts, fs)
        tail = (
            f"; Docker could reclaim {human_size(facts.docker_reclaimable, binary=True)}"
            if docker and facts.docker_reclaimable
            else ""
        )
        findings.append(
            make_finding(
                "disk.low",
                severity,
                f"{fs.mount} on {facts.host} is {percent:.0f} % full "
                f"({human_size(fs.available, binary=True)} free of "
                f"{human_size(fs.size, binary=True)}){tail}",
                subject(facts, path=fs.mount),
                fixes=_fixes(facts, fs),
                mount=fs.mount,
                paths=list(fs.paths),
                percent=round(percent, 1),
                size=fs.size,
                used=fs.used,
                available=fs.available,
                holds_docker_root=docker,
                docker_root_dir=facts.info.docker_root_dir,
                docker_reclaimable=facts.docker_reclaimable,
                # database containers whose data lives here (no volume.nearly_full then)
                databases=databases_on(facts, fs.mount) or None,
            )
        )
    return findings


def check_inodes_low(facts: HostFacts) -> list[Finding]:
    """``disk.inodes_low``: the same thresholds on inodes."""
    findings: list[Finding] = []
    for fs in facts.filesystems:
        percent = fs.inodes_percent_used
        if percent is None:
            continue
        severity = _severity(percent)
        if severity is None:
            continue
        findings.append(
            make_finding(
                "disk.inodes_low",
                severity,
                f"{fs.mount} on {facts.host} has used {percent:.0f} % of its inodes "
                f"({fs.inodes_used} of {fs.inodes_total}): new files fail even with free space",
                subject(facts, path=fs.mount),
                fixes=_fixes(facts, fs),
                mount=fs.mount,
                paths=list(fs.paths),
                inodes_percent=round(percent, 1),
                inodes_total=fs.inodes_total,
                inodes_used=fs.inodes_used,
                holds_docker_root=_holds_docker_root(facts, fs),
                docker_reclaimable=facts.docker_reclaimable,
            )
        )
    return findings


MEMORY_WARNING_PERCENT = 10.0  # MemAvailable below this share of MemTotal
MEMORY_CRITICAL_PERCENT = 5.0
SWAP_HEAVY_PERCENT = 50.0
SWAP_WITH_AVAILABLE_BELOW = 25.0


def check_memory_pressure(facts: HostFacts) -> list[Finding]:
    """``host.memory_pressure``: little memory available, or heavy swap use."""
    mem = facts.memory
    if mem is None or mem.total <= 0:
        return []
    available = mem.available_percent
    swapping = (
        mem.swap_total > 0
        and mem.swap_percent >= SWAP_HEAVY_PERCENT
        and available < SWAP_WITH_AVAILABLE_BELOW
    )
    if available < MEMORY_CRITICAL_PERCENT:
        severity = Severity.CRITICAL
    elif available < MEMORY_WARNING_PERCENT or swapping:
        severity = Severity.WARNING
    else:
        return []
    swap = (
        f"; swap {mem.swap_percent:.0f} % used ({human_size(mem.swap_used, binary=True)} of "
        f"{human_size(mem.swap_total, binary=True)})"
        if mem.swap_total
        else "; no swap"
    )
    return [
        make_finding(
            "host.memory_pressure",
            severity,
            f"{facts.host} is short of memory: {available:.0f} % available "
            f"({human_size(mem.available, binary=True)} of "
            f"{human_size(mem.total, binary=True)}){swap}",
            subject(facts),
            mem_total=mem.total,
            mem_available=mem.available,
            available_percent=round(available, 1),
            swap_total=mem.swap_total,
            swap_used=mem.swap_used,
            swap_percent=round(mem.swap_percent, 1),
            advice="see which containers use it (`docker stats --no-stream`), give them "
            "memory limits (`mem_limit:`/`deploy.resources.limits.memory`), stop what is "
            "not needed, or add memory; the kernel's OOM killer picks a victim next",
        )
    ]


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_recent_reboot,
    check_disk_low,
    check_inodes_low,
    check_memory_pressure,
)
