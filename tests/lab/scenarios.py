"""The lab's scenarios: each resets the hosts and builds one (broken or healthy) state.

Every scenario function's docstring lists exactly the names it creates; the diagnosis
tests assert on them. Common to all: h1 is reset first (every container, volume and user
network removed, /run/stackbot-lab/stacks rewritten); h2 is reset to its baseline (the
busybox container ``tiny-sleeper`` running, no fill files). Compose v1 names containers
``<project>_<service>_1`` unless ``container_name`` is set. Passwords are
``pw-planted-4e1d``; every .env holds SECRET_KEY=planted-secret-7f3a9c.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from . import compose_tools, images, stack
from .config import H1, H2, PLANTED_JWT, PLANTED_PASSWORD, STACKS_DIR
from .stack import (
    backend_service,
    cname,
    compose,
    db_service,
    env_text,
    exec_in,
    nginx_service,
    redis_service,
    reset_stacks_dir,
    run_container,
    shop_env,
    wait_health,
    wait_no_starting,
    write_compose,
    write_env,
    write_file,
)
from .util import LabError, log, step

TINY = "tiny-sleeper"
FILL_DIR_NAME = "lab-fill"
SLEEPER_CMD = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]


@dataclass(frozen=True)
class ScenarioInfo:
    """What a scenario built, for tests to assert on (the docstring says the same)."""

    name: str
    host: str
    projects: tuple[str, ...] = ()
    stack_dirs: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    compose: str = "v1"  # the compose it was built with (v1 or v2)


@dataclass
class Ctx:
    h1: docker.DockerClient
    h2: docker.DockerClient


# ---------------------------------------------------------------- resets


def reset_host(client: docker.DockerClient, *, keep: tuple[str, ...] = ()) -> None:
    """Remove every container (but `keep`), every volume and user network. Never images."""
    for c in client.containers.list(all=True):
        if c.name not in keep:
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True, v=True)
    for v in client.volumes.list():
        with contextlib.suppress(docker.errors.NotFound):
            v.remove(force=True)
    for n in client.networks.list():
        if n.name not in ("bridge", "host", "none"):
            with contextlib.suppress(docker.errors.NotFound):
                n.remove()


def fill_dir() -> Path:
    return H2.data_root / FILL_DIR_NAME


def reset_h2(client: docker.DockerClient) -> None:
    """h2 baseline: no fill files, only the busybox sleeper running."""
    if fill_dir().exists():
        shutil.rmtree(fill_dir())
    reset_host(client, keep=(TINY,))
    try:
        tiny = client.containers.get(TINY)
        if tiny.status != "running":
            tiny.start()
    except docker.errors.NotFound:
        run_container(
            client, images.ref("busybox"), command=SLEEPER_CMD, name=TINY,
            restart_policy={"Name": "unless-stopped"},
            labels={"org.stackbot-lab.role": "h2-baseline"},
        )  # fmt: skip


def reset(ctx: Ctx) -> None:
    with step("reset h1 and h2"):
        reset_host(ctx.h1)
        reset_h2(ctx.h2)
        reset_stacks_dir()


# ---------------------------------------------------------------- helpers


def migrate(ctx: Ctx, container: str) -> None:
    exec_in(ctx.h1, container, ["python3", "/app/manage.py", "migrate"])


def psql(ctx: Ctx, container: str, user: str, db: str, sql: str) -> str:
    return exec_in(
        ctx.h1, container, ["psql", "-h", "/run/postgresql", "-U", user, "-d", db, "-Atc", sql]
    )[1]


def nginx_requests(ctx: Ctx, container: str, count: int = 3) -> None:
    """Requests from inside the nginx container, so nginx resolves its upstream."""
    code = (
        "import urllib.request, urllib.error\n"
        f"for i in range({count}):\n"
        "    try:\n"
        "        urllib.request.urlopen('http://127.0.0.1/api/orders', timeout=10)\n"
        "    except urllib.error.HTTPError as e:\n"
        "        print(e.code)\n"
    )
    exec_in(ctx.h1, container, ["python3", "-c", code])


def _shop(ctx: Ctx) -> Path:
    d = STACKS_DIR / "shop"
    write_env(d, shop_env("shop", PLANTED_PASSWORD, "shop"))
    write_compose(
        d,
        {
            "services": {
                "db": db_service(),
                "backend": backend_service(),
                "nginx": nginx_service(),
            },
            # An explicit name: the data does not depend on the project name (seed 000).
            "volumes": {"postgres_data": {"name": "shop_postgres_data"}},
        },
    )
    compose(H1, d, "up", "-d")
    migrate(ctx, cname("shop", "backend"))
    return d


# ---------------------------------------------------------------- scenarios


def healthy(ctx: Ctx) -> ScenarioInfo:
    """The no-false-alarm baseline on h1.

    Project ``shop`` in /run/stackbot-lab/stacks/shop (docker-compose.yml + .env):
    containers ``shop_db_1`` (healthy, volume ``shop_postgres_data`` at
    /var/lib/postgresql/data, given that explicit name in the compose file),
    ``shop_backend_1`` (healthy), ``shop_nginx_1`` (running, port 8080->80), all on
    network ``shop_default``. DATABASE_URL = postgresql://shop:pw-planted-4e1d@db:5432/shop;
    all migrations applied (tables app_migrations, customers, orders); the .env file
    (env_file of db and backend; nginx has none) equals their env; no config-hash drift.
    """
    _shop(ctx)
    wait_health(
        ctx.h1,
        {
            cname("shop", "db"): "healthy",
            cname("shop", "backend"): "healthy",
            cname("shop", "nginx"): "none",
        },
    )
    nginx_requests(ctx, cname("shop", "nginx"), 1)
    return ScenarioInfo(
        name="healthy",
        host="h1",
        projects=("shop",),
        stack_dirs=(str(STACKS_DIR / "shop"),),
        containers=(cname("shop", "db"), cname("shop", "backend"), cname("shop", "nginx")),
        networks=("shop_default",),
        volumes=("shop_postgres_data",),
        facts={"database": "shop", "db_user": "shop"},
    )


def s1(ctx: Ctx) -> ScenarioInfo:
    """Seed 000: project renamed, new empty volume, old data orphaned, split networks.

    Directory /run/stackbot-lab/stacks/indexo-staging with ``docker-compose.staging.yml``
    (used with -f) and .env (POSTGRES_USER/DB ``multivendor``, DATABASE_URL
    postgresql://multivendor:pw-planted-4e1d@db:5432/multivendor).
    History: first deployed as project ``multivendor`` (containers
    multivendor_db_staging / multivendor_backend_staging), migrated and seeded with 25
    customers + 25 orders, then ``docker-compose -p multivendor down`` (no -v), the file
    edited and deployed as project ``indexo-staging``.
    Now: volume ``multivendor_postgres_data`` holds the data (database multivendor with
    tables app_migrations, customers, orders; 25 rows) and is mounted by no container.
    Project ``indexo-staging``: container ``indexo_db_staging`` (service db, healthy,
    only on network ``indexo-staging_internal``, NEW volume
    ``indexo-staging_postgres_data``: database multivendor exists, no tables) and
    ``indexo_backend_staging`` (service backend, unhealthy, only on network
    ``indexo-staging_default``: `db` does not resolve there).
    """
    d = STACKS_DIR / "indexo-staging"
    f = "docker-compose.staging.yml"
    write_env(d, shop_env("multivendor", PLANTED_PASSWORD, "multivendor"))
    write_compose(
        d,
        {
            "services": {
                "db": db_service(container_name="multivendor_db_staging"),
                "backend": backend_service(container_name="multivendor_backend_staging"),
            },
            "volumes": {"postgres_data": {}},
        },
        f,
    )
    compose(H1, d, "up", "-d", project="multivendor", files=[f])
    migrate(ctx, "multivendor_backend_staging")
    exec_in(ctx.h1, "multivendor_backend_staging", ["python3", "/app/manage.py", "seed", "25"])
    compose(H1, d, "down", project="multivendor", files=[f])
    write_compose(
        d,
        {
            "services": {
                "db": db_service(container_name="indexo_db_staging", networks=["internal"]),
                "backend": backend_service(
                    container_name="indexo_backend_staging", networks=["default"]
                ),
            },
            "volumes": {"postgres_data": {}},
            "networks": {"internal": {}},
        },
        f,
    )
    compose(H1, d, "up", "-d", project="indexo-staging", files=[f])
    wait_health(ctx.h1, {"indexo_db_staging": "healthy", "indexo_backend_staging": "unhealthy"})
    return ScenarioInfo(
        name="S1",
        host="h1",
        projects=("indexo-staging",),
        stack_dirs=(str(d),),
        containers=("indexo_db_staging", "indexo_backend_staging"),
        networks=("indexo-staging_internal", "indexo-staging_default"),
        volumes=("indexo-staging_postgres_data", "multivendor_postgres_data"),
        facts={
            "old_project": "multivendor",
            "orphaned_volume": "multivendor_postgres_data",
            "new_volume": "indexo-staging_postgres_data",
            "database": "multivendor",
            "rows": "25",
            "compose_file": f,
        },
    )


def s2(ctx: Ctx) -> ScenarioInfo:
    """Seed 001: the app's database was dropped; Postgres itself is fine.

    Same as ``healthy`` (project ``shop``, containers shop_db_1 / shop_backend_1 /
    shop_nginx_1, network shop_default, volume shop_postgres_data), then
    ``DROP DATABASE shop``: shop_db_1 is healthy, database ``shop`` does not exist
    (DATABASE_URL still names it), shop_backend_1 is unhealthy and logs
    ``database "shop" does not exist``.
    """
    _shop(ctx)
    wait_health(ctx.h1, {cname("shop", "db"): "healthy", cname("shop", "backend"): "healthy"})
    psql(ctx, cname("shop", "db"), "shop", "postgres", "DROP DATABASE shop WITH (FORCE)")
    wait_health(
        ctx.h1,
        {
            cname("shop", "db"): "healthy",
            cname("shop", "backend"): "unhealthy",
            cname("shop", "nginx"): "none",
        },
    )
    return ScenarioInfo(
        name="S2",
        host="h1",
        projects=("shop",),
        stack_dirs=(str(STACKS_DIR / "shop"),),
        containers=(cname("shop", "db"), cname("shop", "backend"), cname("shop", "nginx")),
        networks=("shop_default",),
        volumes=("shop_postgres_data",),
        facts={"missing_database": "shop", "db_user": "shop"},
    )


def s3(ctx: Ctx) -> ScenarioInfo:
    """Seed 002: app on the default network, db and redis orphaned on another network.

    Project ``app-test`` in /run/stackbot-lab/stacks/app-test. First its compose file
    defined app, db and redis on network ``ventanas-test-network``; then the file was
    cut down to only ``app`` (no networks key) and ``up -d`` ran without
    --remove-orphans. Now: ``ventanas-test-app`` (service app, unhealthy) only on
    ``app-test_default``; ``ventanas-test-db`` (service db, healthy, volume
    ``app-test_postgres_data``, migrated) and ``ventanas-test-redis`` (service redis,
    running) only on ``app-test_ventanas-test-network``, both compose orphans of
    app-test. DATABASE_URL=postgresql://ventanas_user:pw-planted-4e1d@ventanas-test-db:5432/ventanas_test_db
    names the db by container name, not service name.
    """
    d = STACKS_DIR / "app-test"
    write_env(
        d, shop_env("ventanas_user", PLANTED_PASSWORD, "ventanas_test_db", host="ventanas-test-db")
    )
    net = ["ventanas-test-network"]
    write_compose(
        d,
        {
            "services": {
                "app": backend_service(container_name="ventanas-test-app", networks=net),
                "db": db_service(container_name="ventanas-test-db", networks=net),
                "redis": redis_service(container_name="ventanas-test-redis", networks=net),
            },
            "volumes": {"postgres_data": {}},
            "networks": {"ventanas-test-network": {}},
        },
    )
    compose(H1, d, "up", "-d")
    migrate(ctx, "ventanas-test-app")
    write_compose(
        d,
        {
            "services": {
                "app": backend_service(depends_on_db=False, container_name="ventanas-test-app")
            }
        },
    )
    compose(H1, d, "up", "-d")
    wait_health(
        ctx.h1,
        {
            "ventanas-test-app": "unhealthy",
            "ventanas-test-db": "healthy",
            "ventanas-test-redis": "none",
        },
    )
    return ScenarioInfo(
        name="S3",
        host="h1",
        projects=("app-test",),
        stack_dirs=(str(d),),
        containers=("ventanas-test-app", "ventanas-test-db", "ventanas-test-redis"),
        networks=("app-test_default", "app-test_ventanas-test-network"),
        volumes=("app-test_postgres_data",),
        facts={"db_host_in_url": "ventanas-test-db", "database": "ventanas_test_db"},
    )


def s4(ctx: Ctx) -> ScenarioInfo:
    """Seed 003: nginx cannot resolve the backend; the database has no tables.

    Project ``hanna`` in /run/stackbot-lab/stacks/hanna: ``hanna_db_1`` (healthy,
    volume ``hanna_postgres_data``, database ``hanna`` exists with no tables: migrations
    never ran), ``hanna_backend_1`` (exited: stopped with docker-compose stop, so absent
    from Docker DNS), ``hanna_nginx_1`` (running, port 8080->80) whose log holds
    ``backend could not be resolved (3: Host not found)``; network ``hanna_default``.
    ``python3 /app/manage.py check_migrations`` would exit 1 (all pending).
    """
    d = STACKS_DIR / "hanna"
    write_env(d, shop_env("hanna", PLANTED_PASSWORD, "hanna"))
    write_compose(
        d,
        {
            "services": {
                "db": db_service(),
                "backend": backend_service(),
                "nginx": nginx_service(),
            },
            "volumes": {"postgres_data": {}},
        },
    )
    compose(H1, d, "up", "-d")
    compose(H1, d, "stop", "backend")
    nginx_requests(ctx, cname("hanna", "nginx"), 3)
    wait_health(
        ctx.h1,
        {
            cname("hanna", "db"): "healthy",
            cname("hanna", "backend"): "exited",
            cname("hanna", "nginx"): "none",
        },
    )
    return ScenarioInfo(
        name="S4",
        host="h1",
        projects=("hanna",),
        stack_dirs=(str(d),),
        containers=(cname("hanna", "db"), cname("hanna", "backend"), cname("hanna", "nginx")),
        networks=("hanna_default",),
        volumes=("hanna_postgres_data",),
        facts={
            "database": "hanna",
            "nginx_log": "backend could not be resolved (3: Host not found)",
        },
    )


def s5(ctx: Ctx) -> ScenarioInfo:
    """Seed 004: two environments from one compose dir; prod re-run by hand; env drift.

    Directory /run/stackbot-lab/stacks/filter-ical (project ``filter-ical``, the dir
    name): docker-compose.yml with services db and backend, container_name
    ``filter-ical-<service>-${ENVIRONMENT}``, db volume key ``pgdata`` named
    ``filter-ical_pgdata_${ENVIRONMENT}``, backend port ``${BACKEND_PORT}:8000``; files
    .env.production (ENVIRONMENT=production, BACKEND_PORT=8001, POSTGRES_DB
    filter_ical_production) and .env.staging (ENVIRONMENT=staging, BACKEND_PORT=8002,
    POSTGRES_DB filter_ical_staging); .env is the staging copy.
    History: cp .env.production .env; up -d (prod, migrated); cp .env.staging .env;
    up -d: compose recreated the services as staging, so the compose-made prod containers
    are gone (v1 carried prod's volume into the new db container and hinted to rm it:
    ``rm -s -f db``; ``up -d`` again gave staging its own volume);
    prod restarted by hand with ``docker run`` (no compose labels): ``filter-ical-db-production``
    (volume ``filter-ical_pgdata_production``, which carries compose labels of project
    filter-ical) and ``filter-ical-backend-production`` (port 8001->8000, env from
    .env.production, whose DATABASE_URL host ``db`` resolves to the STAGING db), both on
    network ``filter-ical_default``. Then .env was edited without recreating: LOG_LEVEL
    info -> debug and a new key JWT_SECRET_KEY=planted-jwt-51c2 (a secret: must not be
    printed). Compose containers now: ``filter-ical-db-staging`` (healthy, volume
    ``filter-ical_pgdata_staging``) and ``filter-ical-backend-staging`` (healthy, port
    8002->8000); their env differs from .env on disk (config-hash drift for backend and
    db).
    """
    d = STACKS_DIR / "filter-ical"
    compose_def = {
        "services": {
            "db": db_service(
                container_name="filter-ical-db-${ENVIRONMENT}",
                volumes=["pgdata:/var/lib/postgresql/data"],
            ),
            "backend": backend_service(
                container_name="filter-ical-backend-${ENVIRONMENT}",
                ports=["${BACKEND_PORT}:8000"],
            ),
        },
        "volumes": {"pgdata": {"name": "filter-ical_pgdata_${ENVIRONMENT}"}},
    }
    write_compose(d, compose_def)
    envs = {
        name: shop_env(
            "filter_ical",
            PLANTED_PASSWORD,
            f"filter_ical_{name}",
            ENVIRONMENT=name,
            BACKEND_PORT=port,
        )
        for name, port in (("production", "8001"), ("staging", "8002"))
    }
    for name, env in envs.items():
        write_env(d, env, f".env.{name}")
    write_env(d, envs["production"])
    compose(H1, d, "up", "-d")
    migrate(ctx, "filter-ical-backend-production")
    write_env(d, envs["staging"])
    compose(H1, d, "up", "-d")
    # compose v1 kept prod's data volume in the recreated db container and printed a
    # hint to rm it; the operator followed it, so staging got its own (new) volume.
    compose(H1, d, "rm", "-s", "-f", "db")
    compose(H1, d, "up", "-d")
    staging_db = ctx.h1.containers.get("filter-ical-db-staging")
    mounts = [m.get("Name") for m in staging_db.attrs["Mounts"]]
    if mounts != ["filter-ical_pgdata_staging"]:
        raise LabError(f"filter-ical-db-staging mounts {mounts}, expected the staging volume")
    with step("prod re-run by hand (docker run)"):
        for old in ("filter-ical-db-production", "filter-ical-backend-production"):
            with contextlib.suppress(docker.errors.NotFound):
                ctx.h1.containers.get(old).remove(force=True)
        prod_env = envs["production"]
        run_container(
            ctx.h1, images.ref("postgres"), name="filter-ical-db-production",
            environment=prod_env, network="filter-ical_default",
            volumes={"filter-ical_pgdata_production": {"bind": "/var/lib/postgresql/data",
                                                        "mode": "rw"}},
            restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip
        run_container(
            ctx.h1, images.ref("backend"), name="filter-ical-backend-production",
            environment=prod_env, network="filter-ical_default", ports={"8000/tcp": 8001},
            restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip
    migrate(ctx, "filter-ical-backend-staging")
    edited = dict(envs["staging"], LOG_LEVEL="debug", JWT_SECRET_KEY=PLANTED_JWT)
    write_file(d / ".env", env_text(edited))
    wait_health(
        ctx.h1,
        {
            "filter-ical-db-staging": "healthy",
            "filter-ical-backend-staging": "healthy",
            "filter-ical-db-production": "none",
            "filter-ical-backend-production": "none",
        },
    )
    return ScenarioInfo(
        name="S5",
        host="h1",
        projects=("filter-ical",),
        stack_dirs=(str(d),),
        containers=(
            "filter-ical-db-staging",
            "filter-ical-backend-staging",
            "filter-ical-db-production",
            "filter-ical-backend-production",
        ),
        networks=("filter-ical_default",),
        volumes=("filter-ical_pgdata_staging", "filter-ical_pgdata_production"),
        facts={
            "unmanaged": "filter-ical-db-production,filter-ical-backend-production",
            "drifted_keys": "LOG_LEVEL,JWT_SECRET_KEY",
            "env_files": ".env,.env.production,.env.staging",
        },
    )


def s6(ctx: Ctx) -> ScenarioInfo:
    """Disk nearly full on h2 (plus h1 left as in ``healthy``).

    h1: exactly the ``healthy`` state (project shop). h2: the dockerd data root
    /run/stackbot-lab/h2-root (a 192 MB tmpfs) is filled above 96 % by
    /run/stackbot-lab/h2-root/lab-fill/blob, and lab-fill/ holds enough empty files to
    push inode use above 90 %; container ``tiny-sleeper`` (busybox, no compose labels)
    keeps running.
    """
    info = healthy(ctx)
    with step("fill h2's data root"):
        d = fill_dir()
        d.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(H2.data_root)
        total_inodes = st.f_files
        used_inodes = st.f_files - st.f_ffree
        for i in range(max(0, int(total_inodes * 0.92) - used_inodes)):
            (d / f"f{i}").touch()
        st = os.statvfs(H2.data_root)
        size = st.f_blocks * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        want = int(size * 0.97) - used
        if want > 0:
            fd = os.open(d / "blob", os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                os.posix_fallocate(fd, 0, want)
            finally:
                os.close(fd)
        st = os.statvfs(H2.data_root)
        pct = 100 * (st.f_blocks - st.f_bfree) / st.f_blocks
        ipct = 100 * (st.f_files - st.f_ffree) / st.f_files
        log(f"h2 data root: {pct:.1f}% of blocks, {ipct:.1f}% of inodes used")
        if pct < 95:
            raise LabError(f"could not fill h2's data root: {pct:.1f}%")
    return ScenarioInfo(
        name="S6",
        host="h2",
        projects=info.projects,
        stack_dirs=info.stack_dirs,
        containers=(TINY,),
        facts={
            "data_root": str(H2.data_root),
            "fill": str(fill_dir()),
            "blocks_used_pct": f"{pct:.1f}",
            "inodes_used_pct": f"{ipct:.1f}",
        },
    )


SCENARIOS: dict[str, Callable[[Ctx], ScenarioInfo]] = {
    "healthy": healthy,
    "S1": s1,
    "S2": s2,
    "S3": s3,
    "S4": s4,
    "S5": s5,
    "S6": s6,
}


def build(ctx: Ctx, name: str, compose: str = "v1") -> ScenarioInfo:
    """Build scenario ``name`` with ``compose`` (v1 or v2): the hosts get that compose
    too (tests/lab/compose_tools.py), as a host deployed with it would have."""
    if name not in SCENARIOS:
        raise LabError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    t0 = time.monotonic()
    reset(ctx)
    stack.CURRENT[0] = compose
    for host in (H1, H2):
        compose_tools.set_host_compose(host, compose_tools.kinds_for(compose))
    with step(f"scenario {name} (compose {compose})"):
        info = dataclasses.replace(SCENARIOS[name](ctx), compose=compose)
        wait_no_starting(ctx.h1)
    log(f"scenario {name} ready in {time.monotonic() - t0:.1f}s")
    return info
