"""Which compose a host has: ``detect_compose(session)``, read once per connection.

``docker compose`` (the v2 plugin) when the host's docker CLI has it, else
``docker-compose`` (v1 1.x, or v2's standalone binary), told apart by what
``version --short`` prints; None when neither answers. Only ``version`` runs,
which changes nothing. The result is kept in the connection's ``memo``, so every
runbook on that connection shares one detection.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.framework.session import HostSession
from bot.model.errors import HostError

V1 = ("docker-compose",)
V2 = ("docker", "compose")
_MEMO_KEY = "compose"
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
DETECT_TIMEOUT = 20.0
DRY_RUN_SINCE = (2, 20, 0)  # compose v2 learned `up --dry-run`
_DRY_RUN = re.compile(
    r"DRY-RUN MODE -\s+(?P<kind>Container|Volume|Network)\s+"
    r"\"?(?P<name>[^\s\"]+)\"?\s+(?P<what>\w+)"
)


class ComposeCLI(BaseModel):
    """The compose a host has, as found by ``detect_compose``."""

    model_config = ConfigDict(frozen=True)

    argv: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)
    kind: Literal["plugin", "standalone"]
    version: str  # "2.40.3", "1.29.2"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        match = _VERSION.match(self.version)
        return (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)

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


async def _detect(session: HostSession) -> ComposeCLI | None:
    plugin = await _version_of(session, V2)  # fast: the Go plugin answers in ~60 ms
    if plugin is not None:
        return ComposeCLI(argv=V2, kind="plugin", version=plugin)
    standalone = await _version_of(session, V1)  # v1's Python start-up: ~0.5 s, once
    if standalone is not None:
        return ComposeCLI(argv=V1, kind="standalone", version=standalone)
    return None


def prefetch_compose(session: HostSession) -> None:
    """Start ``detect_compose`` now without waiting for it (a diagnosis overlaps it with
    its Docker reads); a later ``detect_compose`` takes its result. A failure is kept for
    that later call, never logged as an unretrieved task exception."""
    if _MEMO_KEY not in session.memo:
        task = session.memo[_MEMO_KEY] = asyncio.ensure_future(_detect(session))
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())


async def detect_compose(session: HostSession) -> ComposeCLI | None:
    """The compose the host has, read once per connection: ``docker compose`` (the v2
    plugin) when the host's docker has it, else ``docker-compose`` (v1, or v2's
    standalone binary); None when neither answers ``version``. Changes nothing."""
    task = session.memo.get(_MEMO_KEY)
    if task is None:
        task = session.memo[_MEMO_KEY] = asyncio.ensure_future(_detect(session))
    result: ComposeCLI | None = await asyncio.shield(task)
    return result


__all__ = [
    "DRY_RUN_SINCE",
    "V1",
    "V2",
    "ComposeCLI",
    "detect_compose",
    "parse_dry_run",
    "prefetch_compose",
]


def parse_dry_run(output: str) -> list[tuple[str, str, str]]:
    """(kind, name, what) of each ``DRY-RUN MODE - Container shop-backend-1 Recreate``."""
    seen: dict[tuple[str, str], str] = {}
    for match in _DRY_RUN.finditer(output):
        seen[(match["kind"], match["name"])] = match["what"]  # the last word wins
    return [(kind, name, what) for (kind, name), what in seen.items()]
