"""The compose command line on a host, shared by the runbooks that run compose (not a runbook).

``compose_prefix`` builds everything before compose's subcommand, one argv, never a
shell string::

    env DOCKER_HOST=unix://SOCKET [NAME=VALUE…] COMPOSE -p PROJECT
        --project-directory WORKING_DIR -f FILE… [--env-file FILE…]

``COMPOSE`` is ``docker compose`` (v2) or ``docker-compose`` (v1, or v2's
standalone binary): both take the same flags. ``-p`` keeps every other project
out of it; ``--project-directory`` resolves the files' relative paths as at
deploy time.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from bot.framework.compose_cli import V1, V2


def docker_host(socket: str) -> str:
    return socket if "://" in socket else f"unix://{socket}"


def compose_prefix(
    compose: Sequence[str],
    *,
    socket: str,
    project: str,
    working_dir: str,
    config_files: Sequence[str],
    env_files: Sequence[str] = (),
    environment: Mapping[str, str] | None = None,
) -> list[str]:
    """``env DOCKER_HOST=… [K=V…] COMPOSE -p PROJECT --project-directory DIR -f FILE…
    [--env-file FILE…]``; ``environment`` adds variables for compose itself."""
    extra = [f"{key}={value}" for key, value in (environment or {}).items()]
    argv = ["env", f"DOCKER_HOST={docker_host(socket)}", *extra, *compose, "-p", project]
    argv += ["--project-directory", working_dir]
    for path in config_files:
        argv += ["-f", path]
    for path in env_files:
        argv += ["--env-file", path]
    return argv


def absolute_paths(labels_value: str, working_dir: str) -> tuple[str, ...]:
    """A compose label's comma-separated paths, joined to the working dir when relative."""
    out = []
    for path in labels_value.split(","):
        path = path.strip()
        if path:
            out.append(posixpath.normpath(posixpath.join(working_dir, path)))
    return tuple(out)


__all__ = ["V1", "V2", "absolute_paths", "compose_prefix", "docker_host"]
