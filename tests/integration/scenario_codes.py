"""Every finding code each scenario's diagnosis has, whichever compose built it.

One table that the v1 diagnosis tests (tests/integration/test_diagnose.py) and the
v2 demo tests (tests/integration/test_demo.py: `scripts/demo SN` builds with Compose
v2) both compare with exactly: S1-S6 give the same codes under v2 and v1.
``host.recent_reboot`` is left out: it depends on the machine's uptime, not the
scenario.
"""

from __future__ import annotations

from collections.abc import Iterable

UPTIME_DEPENDENT = frozenset({"host.recent_reboot"})

SCENARIO_CODES: dict[str, frozenset[str]] = {
    "S1": frozenset({
        "container.recently_recreated", "container.unhealthy", "db.empty", "network.split",
        "volume.orphaned_data", "volume.project_prefixed",
    }),
    "S2": frozenset({"container.recently_recreated", "container.unhealthy", "db.missing"}),
    "S3": frozenset({
        "compose.orphan_container", "container.recently_recreated", "container.unhealthy",
        "network.container_name_reference", "network.split", "volume.project_prefixed",
    }),
    "S4": frozenset({
        "container.down", "container.recently_recreated", "db.empty", "dns.resolution_failed",
        "volume.project_prefixed",
    }),
    "S5": frozenset({
        "compose.env_collision", "compose.project_mismatch", "container.recently_recreated",
        "env.drift",
    }),
    "S6": frozenset({"disk.inodes_low", "disk.low"}),
}  # fmt: skip


def comparable(codes: Iterable[str]) -> frozenset[str]:
    return frozenset(codes) - UPTIME_DEPENDENT
