"""Which compose a host has: ``detect_compose(session)``, read once per connection.

``docker compose`` (the v2 plugin) when the host's docker CLI has it, else
``docker-compose`` (v1 1.x, or v2's standalone binary), told apart by what
``version --short`` prints; None when neither answers. Only ``version`` runs,
which changes nothing. The result is kept in the connection's ``memo``, so every
runbook on that connection shares one detection.

Read-only commands (a diagnosis's ``config``, ``up --dry-run``) take
``compose_for_reading(session)``: one ``sh`` finds the program ``docker compose``
would run, as the docker CLI finds it (the first ``docker-compose`` in
``$DOCKER_CONFIG/cli-plugins``, else ``~/.docker/cli-plugins``, then the system's
plugin folders), and asks that program its version: one Go program started, where
``docker compose version`` starts three (the docker CLI, the plugin's
``docker-cli-plugin-metadata``, the plugin). A process that already asked that very
file on that host (same path, device, inode, size, modification and change times, as
``stat`` prints them in the same ``sh``) takes the version it said then, and starts
none: a new connection to a host whose compose did not change costs one ``sh``.
Found, the reads run the program itself
(``ComposeCLI.direct_argv``), as v2's standalone ``docker-compose`` runs, which takes
the same arguments: about half of each compose command's time. When the search
cannot tell (no ``docker``, extra plugin folders in config.json, a first candidate
that is no executable file, no v2 answer), it is ``detect_compose``'s answer.
The search alone can start early (``prefetch_plugin_search``: a diagnosis starts it
with its first Docker reads, so compose's start-up overlaps them); the fallback runs
only when ``compose_for_reading`` (or ``prefetch_compose``) asks.
Commands that change a host keep ``detect_compose`` and its ``argv``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.framework.session import HostSession
from bot.model.errors import HostError

T = TypeVar("T")

V1 = ("docker-compose",)
V2 = ("docker", "compose")
_MEMO_KEY = "compose"
_READING_KEY = "compose.reading"
_SEARCH_KEY = "compose.search"
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
DETECT_TIMEOUT = 20.0
# where the docker CLI looks for plugins after "$DOCKER_CONFIG/cli-plugins" (or
# ~/.docker/cli-plugins), in its order (docker/cli cli-plugins/manager)
PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
# The first candidate the docker CLI would run, and its version; nothing without a
# docker CLI, when config.json adds plugin folders (`cliPluginsExtraDirs`: the CLI's
# documentation and its code disagree on where they come in the order), or when the
# first candidate is not an executable file (the CLI would refuse it, not skip it).
# It prints the program's path, then what identifies that file (device, inode, size, times),
# then its version: the version only when that identity is not the one given as $1 (the
# file this process already asked on this host, unchanged since: see _KNOWN).
_FIND_PLUGIN = """command -v docker >/dev/null 2>&1 || exit 0
known="$1"; shift
c="${DOCKER_CONFIG:-$HOME/.docker}"
grep -qs cliPluginsExtraDirs "$c/config.json" && exit 0
for d in "$c/cli-plugins" "$@"; do
  p="$d/docker-compose"
  if [ -e "$p" ]; then
    [ -f "$p" ] && [ -x "$p" ] || exit 0
    printf '%s\\n' "$p"
    id=$(stat -L -c '%d %i %s %.9Y %.9Z' -- "$p" 2>/dev/null) || id=
    printf '%s\\n' "$id"
    [ -n "$id" ] && [ "$p $id" = "$known" ] && exit 0
    exec "$p" version --short
  fi
done
"""
# what the search's `stat` prints of the program: device, inode, size, mtime, ctime
_IDENTITY = re.compile(r"\d+ \d+ \d+ \d+(\.\d+)? \d+(\.\d+)?")
# host label -> ("path identity", version) of the plugin program this process last asked its
# version: a new connection to that host asks again only when the file changed (a compose
# program starts in ~50 ms of CPU; its `stat` in none)
_KNOWN: dict[str, tuple[str, str]] = {}
_KNOWN_LIMIT = 4096
DRY_RUN_SINCE = (2, 20, 0)  # compose v2 learned `up --dry-run`
# compose v5's `up -d --dry-run` was reported recreating containers for real (compose#14029,
# 2026-08): from v5 on, stackbot runs no dry run until a version is proven to stay dry
DRY_RUN_BEFORE = (5, 0, 0)
_DRY_RUN = re.compile(
    r"DRY-RUN MODE -\s+(?P<kind>Container|Volume|Network)\s+"
    r"\"?(?P<name>[^\s\"]+)\"?\s+(?P<what>\w+)"
)


class ComposeCLI(BaseModel):
    """The compose a host has, as found by ``detect_compose`` (or ``compose_for_reading``)."""

    model_config = ConfigDict(frozen=True)

    argv: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)
    kind: Literal["plugin", "standalone"]
    version: str  # "2.40.3", "1.29.2"
    # the plugin's own program, as `docker compose` runs it (compose_for_reading only)
    program: str | None = None

    @property
    def direct_argv(self) -> tuple[str, ...]:
        """How a read-only command runs compose: the plugin's program itself when
        ``compose_for_reading`` found it, else ``argv``."""
        return (self.program,) if self.program else self.argv

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        match = _VERSION.match(self.version)
        return (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)

    @property
    def dry_run_stays_dry(self) -> bool:
        """Whether stackbot may run its ``up --dry-run``: v2 from 2.20 (which learned it),
        not v5 (``DRY_RUN_BEFORE``). A diagnosis runs it on production: a dry run that
        recreates would be the outage it looks for."""
        return DRY_RUN_SINCE <= self.version_tuple < DRY_RUN_BEFORE

    @property
    def label(self) -> str:
        """How messages name it: ``docker compose 2.40.3 (v2 plugin)``."""
        what = "v2 plugin" if self.kind == "plugin" else f"v{self.major} standalone"
        return f"{' '.join(self.argv)} {self.version} ({what})"


async def _version_of(session: HostSession, argv: tuple[str, ...]) -> str | None:
    try:
        result = await session.run(
            [*argv, "version", "--short"], check=False, timeout=DETECT_TIMEOUT
        )
    except HostError:
        return None
    match = _VERSION.search(result.stdout) if result.ok else None
    return ".".join(match.groups()) if match else None


async def _plugin_program(session: HostSession) -> tuple[str, str] | None:
    """(path, version) of the program ``docker compose`` runs, a v2; None when the
    search found none (or one that is not an executable file, or no ``docker``). The
    version is asked of the program unless this process asked the very same file on
    this host before (``_KNOWN``: path, device, inode, size, modification and change
    times all unchanged)."""
    key = session.host.label  # env/name (user@address:port): the file is checked anyway
    known = _KNOWN.get(key)
    try:
        result = await session.run(
            ["sh", "-c", _FIND_PLUGIN, "sh", known[0] if known else "", *PLUGIN_DIRS],
            check=False,
            timeout=DETECT_TIMEOUT,
        )
    except HostError:
        return None
    path, _, rest = result.stdout.partition("\n")
    identity, _, said = rest.partition("\n")
    if not result.ok or not path.startswith("/") or not path.endswith("/docker-compose"):
        return None
    seen = f"{path} {identity}" if _IDENTITY.fullmatch(identity) else None
    if known is not None and seen == known[0] and not said.strip():
        return path, known[1]  # the same file as before: its version is the one it said
    match = _VERSION.search(said)
    if match is None or int(match[1]) < 2:
        return None
    version = ".".join(match.groups())
    if seen is not None:
        if len(_KNOWN) >= _KNOWN_LIMIT:
            _KNOWN.pop(next(iter(_KNOWN)))
        _KNOWN[key] = (seen, version)
    return path, version


async def _detect(session: HostSession) -> ComposeCLI | None:
    plugin = await _version_of(session, V2)  # fast: the Go plugin answers in ~60 ms
    if plugin is not None:
        return ComposeCLI(argv=V2, kind="plugin", version=plugin)
    standalone = await _version_of(session, V1)  # v1's Python start-up: ~0.5 s, once
    if standalone is not None:
        return ComposeCLI(argv=V1, kind="standalone", version=standalone)
    return None


def _memoized(
    session: HostSession, key: str, read: Callable[[HostSession], Awaitable[T]]
) -> asyncio.Future[T]:
    """The connection's one task for ``key``, started now if it has none. A failure is
    kept for whoever awaits it, never logged as an unretrieved task exception."""
    task: asyncio.Future[T] | None = session.memo.get(key)
    if task is None:
        task = session.memo[key] = asyncio.ensure_future(read(session))
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
    return task


async def detect_compose(session: HostSession) -> ComposeCLI | None:
    """The compose the host has, read once per connection: ``docker compose`` (the v2
    plugin) when the host's docker has it, else ``docker-compose`` (v1, or v2's
    standalone binary); None when neither answers ``version``. Changes nothing."""
    return await asyncio.shield(_memoized(session, _MEMO_KEY, _detect))


async def _for_reading(session: HostSession) -> ComposeCLI | None:
    found = await asyncio.shield(_memoized(session, _SEARCH_KEY, _plugin_program))
    if found is not None:
        path, version = found
        return ComposeCLI(argv=V2, kind="plugin", version=version, program=path)
    return await detect_compose(session)


def prefetch_plugin_search(session: HostSession) -> None:
    """Start only the search for the plugin's program (one ``sh``; it never falls back to
    ``detect_compose``) without waiting for it: a diagnosis starts it with its first
    Docker reads, before it knows whether the host has compose projects."""
    _memoized(session, _SEARCH_KEY, _plugin_program)


def prefetch_compose(session: HostSession) -> None:
    """Start ``compose_for_reading`` now without waiting for it (a diagnosis overlaps it
    with its Docker reads); a later ``compose_for_reading`` takes its result."""
    _memoized(session, _READING_KEY, _for_reading)


async def compose_for_reading(session: HostSession) -> ComposeCLI | None:
    """The compose read-only commands (``config``, ``up --dry-run``) run, once per
    connection: the v2 plugin with ``program`` set when the search for the program
    ``docker compose`` runs found it (see the module docstring), else
    ``detect_compose``'s answer. Changes nothing."""
    return await asyncio.shield(_memoized(session, _READING_KEY, _for_reading))


__all__ = [
    "DRY_RUN_BEFORE",
    "DRY_RUN_SINCE",
    "PLUGIN_DIRS",
    "V1",
    "V2",
    "ComposeCLI",
    "compose_for_reading",
    "detect_compose",
    "parse_dry_run",
    "prefetch_compose",
    "prefetch_plugin_search",
]


def parse_dry_run(output: str) -> list[tuple[str, str, str]]:
    """(kind, name, what) of each ``DRY-RUN MODE - Container shop-backend-1 Recreate``."""
    seen: dict[tuple[str, str], str] = {}
    for match in _DRY_RUN.finditer(output):
        seen[(match["kind"], match["name"])] = match["what"]  # the last word wins
    return [(kind, name, what) for (kind, name), what in seen.items()]
