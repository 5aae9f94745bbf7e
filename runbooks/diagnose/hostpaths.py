"""Stat the host paths a diagnosis needs, in one command over the host session.

Which paths: each bind mount's source (``checks_mounts.bind_sources``: did Docker
create it as an empty directory?) and the log file of each container logging to
json-file without ``max-size`` (``checks_logs.unrotated``: how large did it grow?).

One argv, whatever their number (at most ``MAX_PATHS``)::

    sh -c SCRIPT sh PATH…

``SCRIPT`` is a constant; the paths are its arguments, quoted by the transport, never
part of a shell string. Per path it prints one tab-separated line: ``d`` (a
directory: empty 1/0, or ``-`` when it cannot be listed; mtime), ``f`` (a file: size,
mtime), ``m`` (missing) or ``u`` (not visible to the SSH user: Docker's own
``containers/`` directory is root's unless the user is). Nothing is read but
metadata and whether a directory has a first entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from bot.framework.session import HostSession
from bot.model.docker_objects import ContainerDetails
from bot.model.errors import HostError
from runbooks.diagnose.checks_logs import unrotated
from runbooks.diagnose.checks_mounts import bind_sources
from runbooks.diagnose.facts import PathFacts

MAX_PATHS = 256
STAT_TIMEOUT = 20.0
SCRIPT = r"""
mt() { stat -c %.9Y -- "$1" 2>/dev/null || stat -c %Y -- "$1" 2>/dev/null; }
for p do
  if [ -d "$p" ]; then
    e=-
    if [ -r "$p" ] && [ -x "$p" ]; then
      first=$(find "$p" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null)
      if [ -z "$first" ]; then e=1; else e=0; fi
    fi
    printf 'd\t%s\t%s\t%s\n' "$e" "$(mt "$p")" "$p"
  elif [ -e "$p" ]; then
    printf 'f\t%s\t%s\t%s\n' "$(stat -c %s -- "$p" 2>/dev/null)" "$(mt "$p")" "$p"
  elif [ -x "${p%/*}/" ]; then
    printf 'm\t\t\t%s\n' "$p"
  else
    printf 'u\t\t\t%s\n' "$p"
  fi
done
"""
_KINDS = {"d": "dir", "f": "file", "m": "missing", "u": "unknown"}
_SKIP_PREFIXES = ("/proc/", "/sys/", "/dev/")
_SKIPPED = {"/", "/proc", "/sys", "/dev"}


def paths_to_stat(containers: Iterable[ContainerDetails]) -> list[str]:
    """Bind sources and unrotated json-file logs of ``containers``, sorted, at most
    ``MAX_PATHS`` (bind sources first)."""
    cs = list(containers)
    binds = sorted(
        {
            src
            for c in cs
            for src in bind_sources(c)
            if not src.startswith(_SKIP_PREFIXES)
            and src not in _SKIPPED
            and not src.endswith(".sock")
        }
    )
    logs = sorted({c.log_path for c in cs if unrotated(c) and c.log_path})
    return [*binds, *(p for p in logs if p not in binds)][:MAX_PATHS]


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def parse_stat_output(text: str) -> list[PathFacts]:
    out: list[PathFacts] = []
    for line in text.splitlines():
        parts = line.split("\t", 3)
        if len(parts) != 4 or parts[0] not in _KINDS:
            continue
        kind, a, b, path = parts
        if kind == "d":
            empty = {"1": True, "0": False}.get(a)
            out.append(PathFacts(path=path, kind="dir", empty=empty, modified=_time(b)))
        elif kind == "f":
            size = int(a) if a.isdigit() else None
            out.append(PathFacts(path=path, kind="file", size=size, modified=_time(b)))
        else:
            out.append(PathFacts(path=path, kind="missing" if kind == "m" else "unknown"))
    return out


async def stat_paths(session: HostSession, paths: list[str]) -> tuple[PathFacts, ...]:
    """One ``sh -c`` over the session for all ``paths``; () when it cannot run."""
    if not paths:
        return ()
    try:
        result = await session.run(
            ["sh", "-c", SCRIPT, "sh", *paths], check=False, timeout=STAT_TIMEOUT
        )
    except HostError:
        return ()
    return tuple(parse_stat_output(result.stdout))
