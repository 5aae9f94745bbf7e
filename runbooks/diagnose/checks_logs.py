"""Log check: json-file logs without rotation that grew large.

- ``disk.logs_unrotated`` (warning): containers judged here that log with the
  ``json-file`` driver without ``max-size`` (``HostConfig.LogConfig``, where the
  daemon's ``log-opts`` defaults are already merged) and whose log file is at least
  ``LARGE`` (100 MiB), or, on a filesystem holding Docker's data root that is
  ≥ 85 % full, at least ``SHARE`` (5 %) of its size. Sizes come from one ``stat``
  of each such log over the session (``hostpaths``); when the SSH user cannot see
  Docker's ``containers/`` directory (root's), nothing is judged. One finding per
  host; evidence lists the largest logs with their sizes. Guidance: rotation
  options (compose ``logging:``, or ``log-opts`` in daemon.json, applied on
  recreate), and how to empty a log now.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Severity, make_finding
from bot.model.units import human_size
from runbooks.diagnose.facts import FilesystemFacts, HostFacts
from runbooks.diagnose.subject import subject

LARGE = 100 * 1024 * 1024
SHARE = 0.05
LOW_DISK_PERCENT = 85.0
SHOWN = 5


def log_config(c: ContainerDetails) -> tuple[str, dict[str, str]]:
    raw = c.host_config.get("LogConfig") or {}
    if not isinstance(raw, dict):
        return "", {}
    options = raw.get("Config") or {}
    return str(raw.get("Type") or ""), {str(k): str(v) for k, v in dict(options).items()}


def unrotated(c: ContainerDetails) -> bool:
    """It logs to json-file with no ``max-size``: the file grows without bound."""
    driver, options = log_config(c)
    return driver == "json-file" and not options.get("max-size")


def _docker_fs(facts: HostFacts) -> FilesystemFacts | None:
    root = posixpath.normpath(facts.info.docker_root_dir)
    holders = [
        fs
        for fs in facts.filesystems
        if root in fs.paths or fs.mount == "/" or root.startswith(fs.mount.rstrip("/") + "/")
    ]
    exact = [fs for fs in holders if root in fs.paths]
    ranked = exact or sorted(holders, key=lambda fs: -len(fs.mount))
    return ranked[0] if ranked else None


def check_logs_unrotated(facts: HostFacts) -> list[Finding]:
    """``disk.logs_unrotated``: large json-file logs with no rotation."""
    fs = _docker_fs(facts)
    low = fs is not None and fs.percent_used >= LOW_DISK_PERCENT
    threshold = min(LARGE, int(fs.size * SHARE)) if low and fs is not None and fs.size else LARGE
    big: list[tuple[int, ContainerDetails]] = []
    for c in facts.containers:
        if not unrotated(c):
            continue
        seen = facts.paths.get(c.log_path)
        if seen is None or seen.kind != "file" or seen.size is None:
            continue
        if seen.size >= threshold:
            big.append((seen.size, c))
    if not big:
        return []
    big.sort(key=lambda item: (-item[0], item[1].name))
    total = sum(size for size, _ in big)
    names = [c.name for _, c in big]
    projects = {c.compose_project for _, c in big}
    first = big[0][1]
    where = subject(
        facts,
        project=projects.pop() if len(projects) == 1 else None,
        service=first.compose_service if len(big) == 1 else None,
        container=first.name if len(big) == 1 else None,
        path=fs.mount if fs is not None else None,
    )
    shown = [f"{c.name}: {human_size(size, binary=True)}" for size, c in big[:SHOWN]]
    return [
        make_finding(
            "disk.logs_unrotated",
            Severity.WARNING,
            f"{len(big)} container log{'s' if len(big) > 1 else ''} without rotation "
            f"hold {human_size(total, binary=True)} (largest: {shown[0]})",
            where,
            largest_logs=shown,
            containers=names,
            logs_total=total,
            threshold=threshold,
            log_paths=[c.log_path for _, c in big[:SHOWN]],
            filesystem_percent=round(fs.percent_used, 1) if fs is not None else None,
            advice="rotate them: in the compose file, `logging: {driver: json-file, options: "
            "{max-size: 10m, max-file: '3'}}` per service (or `log-opts` in "
            "/etc/docker/daemon.json for new containers), then recreate the services; "
            "to free the space now, `sudo truncate -s 0` the log file",
        )
    ]


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_logs_unrotated,)
