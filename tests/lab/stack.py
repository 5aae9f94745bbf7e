"""Compose stacks on the lab hosts: writing their directories and driving compose (v2 or v1).

A stack directory lives under /run/stackbot-lab/stacks/<dir>/ (the SSH hosts share
this filesystem, so stackbot reads the same files over SSH that compose used).
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
import yaml
from docker.models.containers import Container

from . import images
from .compose_tools import compose_binary
from .config import LAB_USER, STACKS_DIR, HostSpec
from .util import LabError, log, run

# The compose the scenarios are built with now ("v1" or "v2"), set by Lab.scenario.
CURRENT = ["v2"]


def cname(project: str, service: str, number: int = 1) -> str:
    """The container name compose gives: v1 ``project_service_1``, v2 ``project-service-1``."""
    sep = "_" if CURRENT[0] == "v1" else "-"
    return f"{project}{sep}{service}{sep}{number}"


BACKEND_HEALTH = (
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"
)


# ---------------------------------------------------------------- service definitions


def db_service(**extra: Any) -> dict[str, Any]:
    """The Postgres service: env from .env, named volume, health check over TCP."""
    svc: dict[str, Any] = {
        "image": images.ref("postgres"),
        "env_file": [".env"],
        "volumes": ["postgres_data:/var/lib/postgresql/data"],
        "healthcheck": {
            "test": ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U $$POSTGRES_USER"],
            "interval": "1s",
            "timeout": "3s",
            "retries": 10,
        },
        "restart": "unless-stopped",
    }
    svc.update(extra)
    return svc


def backend_service(*, depends_on_db: bool = True, **extra: Any) -> dict[str, Any]:
    """The Python app on :8000; its command does not migrate (like seed 003)."""
    svc: dict[str, Any] = {
        "image": images.ref("backend"),
        "env_file": [".env"],
        "healthcheck": {
            "test": ["CMD", "python3", "-c", BACKEND_HEALTH],
            "interval": "2s",
            "timeout": "4s",
            "retries": 2,
        },
        "restart": "unless-stopped",
    }
    if depends_on_db:
        svc["depends_on"] = {"db": {"condition": "service_healthy"}}
    svc.update(extra)
    return svc


def nginx_service(**extra: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "image": images.ref("nginx"),
        "ports": ["8080:80"],
        "depends_on": ["backend"],
        "restart": "unless-stopped",
    }
    svc.update(extra)
    return svc


def redis_service(**extra: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {"image": images.ref("redis"), "restart": "unless-stopped"}
    svc.update(extra)
    return svc


def shop_env(
    user: str, password: str, db: str, *, host: str = "db", **extra: str
) -> dict[str, str]:
    """The app's .env: DATABASE_URL, POSTGRES_*, and the planted SECRET_KEY."""
    from .config import PLANTED_SECRET

    env = {
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_DB": db,
        "DATABASE_URL": f"postgresql://{user}:{password}@{host}:5432/{db}",
        "SECRET_KEY": PLANTED_SECRET,
        "LOG_LEVEL": "info",
    }
    env.update(extra)
    return env


# ---------------------------------------------------------------- files


def env_text(env: Mapping[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in env.items())


def reset_stacks_dir() -> None:
    if STACKS_DIR.exists():
        shutil.rmtree(STACKS_DIR)
    STACKS_DIR.mkdir(parents=True)
    STACKS_DIR.chmod(0o755)


def write_file(path: Path, content: str | Mapping[str, Any]) -> Path:
    """Write a stack file readable by the lab's SSH user (group), not by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    if isinstance(content, str):
        text = content
    else:
        text = yaml.safe_dump(dict(content), sort_keys=False, default_flow_style=False)
    path.write_text(text)
    os.chown(path, 0, grp.getgrnam(LAB_USER).gr_gid)
    path.chmod(0o640)
    return path


def write_compose(
    directory: Path, compose: Mapping[str, Any], name: str = "docker-compose.yml"
) -> Path:
    return write_file(directory / name, compose)


def write_env(directory: Path, env: Mapping[str, str], name: str = ".env") -> Path:
    return write_file(directory / name, env_text(env))


# ---------------------------------------------------------------- running compose


def compose(
    host: HostSpec,
    directory: Path,
    *args: str,
    project: str | None = None,
    files: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Compose (``CURRENT``: v1 or v2's standalone binary) in directory against host's
    dockerd (argv, clean environment, stdin closed)."""
    which = CURRENT[0]
    argv = [str(compose_binary(which)), *(["--no-ansi"] if which == "v1" else ["--ansi", "never"])]
    for f in files:
        argv += ["-f", f]
    if project is not None:
        argv += ["-p", project]
    argv += list(args)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "DOCKER_HOST": f"unix://{host.docker_socket}",
        "COMPOSE_HTTP_TIMEOUT": "120",
        "LANG": "C.UTF-8",
    }
    t0 = time.monotonic()
    proc = run(argv, env=env, cwd=directory, check=False, timeout=300)
    elapsed = time.monotonic() - t0
    what = f"compose {which} {' '.join(argv[2:])} ({directory.name})"
    if check and proc.returncode != 0:
        raise LabError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    log(f"{what}: {elapsed:.1f}s")
    return proc


def exec_in(
    client: docker.DockerClient, container: str, argv: Sequence[str], *, check: bool = True
) -> tuple[int, str]:
    """Run argv in a running container; (exit code, combined output)."""
    result = client.containers.get(container).exec_run(list(argv), demux=False)
    raw = result.output if isinstance(result.output, bytes) else b""
    output = raw.decode(errors="replace")
    code = result.exit_code if result.exit_code is not None else -1
    if check and code != 0:
        raise LabError(f"exec {argv} in {container} failed ({code}): {output}")
    return code, output


def run_container(client: docker.DockerClient, image: str, **kwargs: Any) -> Container:
    """`docker run -d` without compose (the stubs lack restart policy unless-stopped)."""
    containers: Any = client.containers
    started: Container = containers.run(image, detach=True, **kwargs)
    return started


def health(client: docker.DockerClient, container: str) -> str:
    """'healthy', 'unhealthy', 'starting', 'none' (no check), or the state if not running."""
    try:
        c = client.containers.get(container)
    except docker.errors.NotFound:
        return "absent"
    state = c.attrs["State"]
    if state.get("Status") != "running":
        return str(state.get("Status"))
    h = state.get("Health")
    return str(h.get("Status")) if h else "none"


def wait_health(
    client: docker.DockerClient, expected: Mapping[str, str], *, timeout: float = 40.0
) -> None:
    """Wait until each container has the expected health (or state) string."""
    deadline = time.monotonic() + timeout
    while True:
        now = {name: health(client, name) for name in expected}
        if now == dict(expected):
            return
        if time.monotonic() > deadline:
            raise LabError(f"containers did not settle: expected {dict(expected)}, got {now}")
        time.sleep(0.25)


def wait_no_starting(client: docker.DockerClient, *, timeout: float = 40.0) -> None:
    """Wait until no container's health check is still 'starting'."""
    deadline = time.monotonic() + timeout
    while True:
        starting = [
            c.name
            for c in client.containers.list()
            if (c.attrs["State"].get("Health") or {}).get("Status") == "starting"
        ]
        if not starting:
            return
        if time.monotonic() > deadline:
            raise LabError(f"health checks still starting: {starting}")
        time.sleep(0.25)
