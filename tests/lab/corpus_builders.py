"""Building blocks for the accuracy corpus (bench/accuracy/scenarios/): put the lab in a state.

``prepared(lab, compose)`` is what the benchmark wraps every scenario's ``build(lab)``
in: the lab's lock, both hosts reset (as ``Lab.scenario`` does), both hosts given
``compose`` (v1 or v2), and at the end a wait until no health check is still starting.
Inside it, a builder uses the helpers below, ``tests.lab.stack`` (service definitions,
``compose``, ``exec_in``) and ``seed_scenario`` for S1-S6 and ``healthy``.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from . import compose_tools, images, scenarios, stack
from .config import H1, H2, PLANTED_PASSWORD, STACKS_DIR, HostSpec
from .host_tweaks import FAKE_MEMINFO, allow_log_stat, clear_fake_meminfo, fake_meminfo
from .lab import Lab, lab_lock
from .stack import (
    backend_service,
    cname,
    compose,
    db_service,
    exec_in,
    nginx_service,
    shop_env,
    wait_health,
    wait_no_starting,
    write_compose,
    write_env,
)
from .util import LabError, log, step

SHOP = "shop"


def ctx(lab: Lab) -> scenarios.Ctx:
    return scenarios.Ctx(h1=lab.docker("h1"), h2=lab.docker("h2"))


@contextlib.contextmanager
def prepared(lab: Lab, compose_kind: str) -> Iterator[scenarios.Ctx]:
    """Hold the lab's lock; reset h1 and h2; give both hosts ``compose_kind``."""
    with lab_lock():
        c = ctx(lab)
        for host in (H1, H2):
            clear_fake_meminfo(host)
        scenarios.reset(c)
        stack.CURRENT[0] = compose_kind
        for host in (H1, H2):
            compose_tools.set_host_compose(host, compose_tools.kinds_for(compose_kind))
        lab.last_scenario = None  # whatever a test built before is gone
        yield c
        wait_no_starting(c.h1)


def seed_scenario(lab: Lab, name: str) -> None:
    """One of the lab's own scenarios (S1-S6, healthy), inside ``prepared``."""
    scenarios.SCENARIOS[name](ctx(lab))


# ---------------------------------------------------------------- the shop stack


def shop_dir(name: str = SHOP) -> Path:
    return STACKS_DIR / name


def shop(
    lab: Lab,
    *,
    name: str = SHOP,
    services: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    volumes: Mapping[str, Any] | None = None,
    up: bool = True,
    migrate: bool = True,
    files: Sequence[str] = (),
) -> Path:
    """The healthy shop stack (db, backend, nginx on 8080) as project ``name``, with
    ``services`` replacing and ``extra`` adding service definitions; up and migrated."""
    d = shop_dir(name)
    user = name.replace("-", "_")
    write_env(d, {**shop_env(user, PLANTED_PASSWORD, user), **(env or {})})
    defined: dict[str, Any] = {
        "db": db_service(),
        "backend": backend_service(),
        "nginx": nginx_service(),
    }
    defined.update(services or {})
    defined.update(extra or {})
    for svc in defined.values():
        if svc is not None:
            patient(svc)
    data = {
        "services": {k: v for k, v in defined.items() if v is not None},
        "volumes": dict(volumes) if volumes is not None else {
            "postgres_data": {"name": f"{name}_postgres_data"}
        },
    }  # fmt: skip
    write_compose(d, data)
    if up:
        up_d(lab, d, name, files=files)
        if migrate and "backend" in data["services"]:
            wait_running(lab, cname(name, "backend"))
            exec_in(
                lab.docker("h1"), cname(name, "backend"), ["python3", "/app/manage.py", "migrate"]
            )
    return d


def patient(service: dict[str, Any]) -> None:
    """The lab's health checks, made patient with a busy machine (several sessions share
    its two cores): a check may take 10 s, the db's first start (initdb) 30 checks, the
    backend fails after 3 in a row. What a scenario set explicitly (fewer retries) stays."""
    check = service.get("healthcheck")
    if not isinstance(check, dict) or "test" not in check:
        return
    check["timeout"] = "10s"
    if check.get("retries") == 10:  # the db's default
        check["retries"] = 30
    elif check.get("retries") == 2:  # the backend's default
        check["retries"] = 3


def up_d(lab: Lab, d: Path, project: str, *, files: Sequence[str] = ()) -> None:
    """``compose up -d``; once more when the db's first start (initdb) outlasted its
    health check's retries on this busy machine (compose then gives up on the dependants)."""
    proc = compose(H1, d, "up", "-d", files=files, check=False)
    if proc.returncode == 0:
        return
    if "is unhealthy" not in proc.stdout + proc.stderr:
        raise LabError(f"compose up -d ({project}) failed:\n{proc.stdout}\n{proc.stderr}")
    log(f"{project}: the db was slow to turn healthy; up -d again")
    wait_health(lab.docker("h1"), {cname(project, "db"): "healthy"}, timeout=90)
    compose(H1, d, "up", "-d", files=files)


def wait_running(lab: Lab, container: str, *, host: str = "h1", timeout: float = 40.0) -> None:
    client = lab.docker(host)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(docker.errors.NotFound):
            if client.containers.get(container).status == "running":
                return
        if time.monotonic() > deadline:
            raise LabError(f"{container} is not running after {timeout:.0f} s")
        time.sleep(0.2)


def wait_until(what: str, predicate: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def attrs(lab: Lab, container: str, host: str = "h1") -> dict[str, Any]:
    c = lab.docker(host).containers.get(container)
    c.reload()
    data: dict[str, Any] = c.attrs
    return data


def psql(lab: Lab, container: str, sql: str, *, user: str = SHOP, db: str = SHOP) -> str:
    return exec_in(
        lab.docker("h1"),
        container,
        [
            "psql",
            "-h",
            "/run/postgresql",
            "-U",
            user,
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        ],
    )[1]


def exec_detached(lab: Lab, container: str, argv: Sequence[str], *, host: str = "h1") -> None:
    """Start argv in a running container and leave it running (``docker exec -d``)."""
    lab.docker(host).containers.get(container).exec_run(list(argv), detach=True)


def build_image(lab: Lab, tag: str, dockerfile: str, *, host: str = "h1") -> str:
    """``docker build`` a one-file context (no registry: FROM a lab image); its id."""
    client = lab.docker(host)
    with step(f"build {tag}"):
        image, _ = client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True
        )
    return str(image.id)


def remove_image(lab: Lab, tag: str, *, host: str = "h1") -> None:
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        lab.docker(host).images.remove(tag, force=True)


def compose_fails(host: HostSpec, directory: Path, *args: str, expect: str) -> str:
    """Run compose, which must fail saying ``expect``; its output."""
    proc = compose(host, directory, *args, check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0 or expect not in out:
        raise LabError(f"compose {' '.join(args)} should have failed with {expect!r}: {out}")
    log(f"compose failed as intended: {expect}")
    return out


def fill(path: Path, size: int) -> None:
    """Allocate ``size`` bytes at ``path`` (a file: fast, no writing)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- host views


def usage(path: Path) -> tuple[float, float]:
    """(% of blocks, % of inodes) used on the filesystem holding ``path``."""
    import os

    st = os.statvfs(path)
    blocks = 100 * (st.f_blocks - st.f_bfree) / st.f_blocks
    inodes = 100 * (st.f_files - st.f_ffree) / st.f_files if st.f_files else 0.0
    return blocks, inodes


__all__ = [
    "FAKE_MEMINFO",
    "H1",
    "H2",
    "SHOP",
    "allow_log_stat",
    "attrs",
    "backend_service",
    "build_image",
    "clear_fake_meminfo",
    "cname",
    "compose",
    "compose_fails",
    "ctx",
    "db_service",
    "exec_detached",
    "exec_in",
    "fake_meminfo",
    "fill",
    "images",
    "nginx_service",
    "prepared",
    "psql",
    "remove_image",
    "seed_scenario",
    "shop",
    "shop_dir",
    "usage",
    "wait_running",
    "wait_until",
]
