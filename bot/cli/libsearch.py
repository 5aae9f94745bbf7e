"""Load asyncssh without the seven programs it runs to look for optional libraries.

At import, asyncssh (2.24) asks ``ctypes.util.find_library`` for libnettle
(UMAC MACs) and liboqs (post-quantum key exchange). On Linux each miss runs
``/sbin/ldconfig -p``, then ``gcc`` and ``ld`` to link a test program: seven
processes, about a third of a second on a busy 2-core machine, before a single
host is contacted. ``import_asyncssh`` imports it once with a ``find_library``
that looks in the dynamic linker's directories instead (``LD_LIBRARY_PATH``,
``/etc/ld.so.conf`` and its includes, the usual lib directories) and spawns
nothing. Only the import sees the stand-in; ``ctypes.util`` is restored before
it returns. The same libraries are found when installed (a test checks it for
whatever this machine has).
"""

from __future__ import annotations

import ctypes.util
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LD_SO_CONF = Path("/etc/ld.so.conf")
DEFAULT_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")


def import_asyncssh() -> None:
    """Import asyncssh (a no-op once it is loaded) without spawning processes."""
    if "asyncssh" in sys.modules:
        return
    with quiet_find_library():
        import asyncssh  # noqa: F401 (loaded here so that later imports find it done)


@contextmanager
def quiet_find_library() -> Iterator[None]:
    original = ctypes.util.find_library
    ctypes.util.find_library = find_library
    try:
        yield
    finally:
        ctypes.util.find_library = original


def find_library(name: str) -> str | None:
    """``lib<name>.so.N`` (else ``lib<name>.so``) in the linker's directories, or None."""
    pattern = re.compile(rf"lib{re.escape(name)}\.so((\.\d+)*)")
    for directory in library_dirs():
        try:
            entries = [entry.name for entry in Path(directory).iterdir()]
        except OSError:
            continue
        found = [m for m in map(pattern.fullmatch, entries) if m]
        if found:
            # the soname (one version number) first, as ldconfig names it; then any
            best = min(found, key=lambda m: (m.group(1).count(".") != 1, len(m.group(0))))
            return str(Path(directory) / best.group(0))
    return None


def library_dirs() -> list[str]:
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += _conf_dirs(LD_SO_CONF, depth=0)
    dirs += DEFAULT_DIRS
    return list(dict.fromkeys(dirs))


def _conf_dirs(conf: Path, depth: int) -> list[str]:
    try:
        lines = conf.read_text(errors="replace").splitlines()
    except OSError:
        return []
    dirs: list[str] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include") and depth < 4:
            for pattern in line.split()[1:]:
                full = Path(pattern) if pattern.startswith("/") else conf.parent / pattern
                for included in sorted(Path(full.anchor).glob(str(full.relative_to(full.anchor)))):
                    dirs += _conf_dirs(included, depth + 1)
        elif line.startswith("/"):
            dirs.append(line)
    return dirs
