"""Every check of the diagnosis, in catalogue order: pure functions over HostFacts."""

from __future__ import annotations

from collections.abc import Callable

from bot.model.findings import Finding
from runbooks.diagnose import (
    checks_compose,
    checks_config,
    checks_containers,
    checks_database,
    checks_env_files,
    checks_host,
    checks_images,
    checks_logs,
    checks_mounts,
    checks_network,
    checks_network_labels,
    checks_oneoff,
    checks_ports,
    checks_upstream,
    checks_volumes,
)
from runbooks.diagnose.facts import HostFacts

Check = Callable[[HostFacts], list[Finding]]

ALL_CHECKS: tuple[Check, ...] = (
    *checks_host.CHECKS,
    *checks_logs.CHECKS,
    *checks_containers.CHECKS,
    *checks_ports.CHECKS,
    *checks_images.CHECKS,
    *checks_mounts.CHECKS,
    *checks_compose.CHECKS,
    *checks_oneoff.CHECKS,
    *checks_network.CHECKS,
    *checks_network_labels.CHECKS,
    *checks_upstream.CHECKS,
    *checks_volumes.CHECKS,
    *checks_database.CHECKS,
    *checks_config.CHECKS,
    *checks_env_files.CHECKS,
)
