"""Every check of the diagnosis, in catalogue order: pure functions over HostFacts."""

from __future__ import annotations

from collections.abc import Callable

from bot.findings import Finding
from runbooks.diagnose import (
    checks_compose,
    checks_config,
    checks_containers,
    checks_database,
    checks_host,
    checks_network,
    checks_volumes,
)
from runbooks.diagnose.facts import HostFacts

Check = Callable[[HostFacts], list[Finding]]

ALL_CHECKS: tuple[Check, ...] = (
    *checks_host.CHECKS,
    *checks_containers.CHECKS,
    *checks_compose.CHECKS,
    *checks_network.CHECKS,
    *checks_volumes.CHECKS,
    *checks_database.CHECKS,
    *checks_config.CHECKS,
)
