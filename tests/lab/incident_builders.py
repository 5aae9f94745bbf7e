"""Builders of further incident classes on the lab's h1 (beside tests/lab/scenarios.py).

Each ``build_*`` function resets the lab like a scenario does (h1 emptied, h2 at its
baseline, the stacks directory rewritten, the hosts given the compose the lab builds
with: v2 unless ``STACKBOT_LAB_COMPOSE=v1``), builds one broken state, and returns a
``ScenarioInfo`` naming what it made (``facts`` holds what a test asserts on). They are
public so that other suites (the accuracy benchmark) can reuse them; each docstring
says exactly what it leaves behind.

``build_memory_pressure`` changes the view of the lab's sshd on h1 only: it bind-mounts
a made-up ``/proc/meminfo`` in that sshd's own mount namespace (as lxcfs does for a
container), so what stackbot reads over SSH is a host short of memory while the
machine is not. Every builder undoes it first (``clear_memory_pressure``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import ipaddress
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors

from . import compose_tools, images, scenarios, stack
from .config import H1, H2, STACKS_DIR
from .host_tweaks import allow_log_stat, clear_fake_meminfo, fake_meminfo
from .lab import Lab, lab_lock
from .scenarios import ScenarioInfo, nginx_requests
from .stack import (
    backend_service,
    cname,
    compose,
    db_service,
    nginx_service,
    shop_env,
    wait_health,
    write_compose,
    write_env,
    write_file,
)
from .util import LabError, log, step

MIB = 1024 * 1024
SLEEP = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]


@contextlib.contextmanager
def _building(lab: Lab, name: str) -> Iterator[scenarios.Ctx]:
    """Reset like ``scenarios.build`` and hold the lab's lock while building."""
    which = compose_tools.flavor()
    with lab_lock(), step(f"incident {name} (compose {which})"):
        clear_memory_pressure(lab)
        ctx = scenarios.Ctx(h1=lab.docker("h1"), h2=lab.docker("h2"))
        scenarios.reset(ctx)
        stack.CURRENT[0] = which
        for host in (H1, H2):
            compose_tools.set_host_compose(host, compose_tools.kinds_for(which))
        yield ctx


def _done(lab: Lab, info: ScenarioInfo) -> ScenarioInfo:
    info = dataclasses.replace(info, compose=compose_tools.flavor())
    lab.last_scenario = info  # ensure_scenario() rebuilds whatever comes next
    return info


def _shop(ctx: scenarios.Ctx, **nginx: object) -> Path:
    """The healthy ``shop`` project (db, backend, nginx on 8080), migrated, settled."""
    d = STACKS_DIR / "shop"
    write_env(d, shop_env("shop", "pw-planted-4e1d", "shop"))
    write_compose(
        d,
        {
            "services": {
                "db": db_service(),
                "backend": backend_service(),
                "nginx": nginx_service(**nginx),
            },
            "volumes": {"postgres_data": {"name": "shop_postgres_data"}},
        },
    )
    if compose(H1, d, "up", "-d", check=False).returncode != 0:
        # a loaded machine: the database took longer than its health check allows
        wait_health(ctx.h1, {cname("shop", "db"): "healthy"}, timeout=120)
        compose(H1, d, "up", "-d")
    scenarios.migrate(ctx, cname("shop", "backend"))
    wait_health(ctx.h1, {cname("shop", "db"): "healthy", cname("shop", "backend"): "healthy"})
    return d


def _escaped(argv: list[str]) -> list[str]:
    """A command for a compose file: ``$`` doubled, so compose leaves it to the shell."""
    return [a.replace("$", "$$") for a in argv]


def _busybox_stack(directory: Path, services: dict[str, dict[str, object]]) -> None:
    full: dict[str, dict[str, object]] = {}
    for name, svc in services.items():
        spec: dict[str, object] = {"image": images.ref("busybox"), "restart": "unless-stopped"}
        spec.update(svc)
        command = spec.get("command", SLEEP)
        spec["command"] = _escaped(list(command)) if isinstance(command, list) else command
        full[name] = spec
    write_compose(directory, {"services": full})


def _state(client: docker.DockerClient, name: str) -> dict[str, object]:
    state: dict[str, object] = client.containers.get(name).attrs["State"]
    return state


# ---------------------------------------------------------------- port allocated


def build_port_allocated(lab: Lab) -> ScenarioInfo:
    """``container.port_allocated`` after a recreate (and ``compose.port_collision``).

    Project ``shop`` (healthy: db, backend, nginx publishing 8080). nginx was stopped
    for a moment and a hand-run container ``squatter`` (busybox, ``-p 8080:80``) took
    the port; ``compose up -d nginx`` then failed: ``shop-nginx-1`` (v1:
    ``shop_nginx_1``) is not running and its State.Error says ``port is already
    allocated``. facts: ``container`` (nginx), ``holder`` (squatter), ``port`` (8080).
    """
    with _building(lab, "port_allocated") as ctx:
        d = _shop(ctx)
        compose(H1, d, "stop", "nginx")
        stack.run_container(
            ctx.h1, images.ref("busybox"), name="squatter", command=SLEEP,
            ports={"80/tcp": 8080}, restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip
        failed = compose(H1, d, "up", "-d", "nginx", check=False)
        nginx = cname("shop", "nginx")
        error = str(_state(ctx.h1, nginx).get("Error") or "")
        if failed.returncode == 0 or ("allocated" not in error and "in use" not in error):
            raise LabError(f"{nginx} started anyway ({failed.returncode}): {error!r}")
    return _done(
        lab,
        ScenarioInfo(
            name="port_allocated",
            host="h1",
            projects=("shop",),
            stack_dirs=(str(d),),
            containers=(nginx, "squatter"),
            facts={"container": nginx, "holder": "squatter", "port": "8080", "service": "nginx"},
        ),
    )


# ---------------------------------------------------------------- port collision


def build_port_collision(lab: Lab) -> ScenarioInfo:
    """``compose.port_collision``: two unrelated projects publish host port 8080.

    Project ``shop`` (healthy, nginx on 8080) and project ``blog`` in
    /run/stackbot-lab/stacks/blog: one service ``web`` (busybox) with ports
    ``8080:80``; its ``up`` failed, so ``blog-web-1`` (v1: ``blog_web_1``) is not
    running (``port is already allocated``). facts: ``container`` (blog's web),
    ``project`` (blog), ``other_container`` (shop's nginx), ``other_project`` (shop).
    """
    with _building(lab, "port_collision") as ctx:
        _shop(ctx)
        blog = STACKS_DIR / "blog"
        _busybox_stack(blog, {"web": {"ports": ["8080:80"]}})
        failed = compose(H1, blog, "up", "-d", check=False)
        if failed.returncode == 0:
            raise LabError("blog started although shop holds port 8080")
    web, nginx = cname("blog", "web"), cname("shop", "nginx")
    return _done(
        lab,
        ScenarioInfo(
            name="port_collision",
            host="h1",
            projects=("shop", "blog"),
            stack_dirs=(str(STACKS_DIR / "shop"), str(blog)),
            containers=(web, nginx),
            facts={
                "container": web,
                "project": "blog",
                "other_container": nginx,
                "other_project": "shop",
                "port": "8080",
            },
        ),
    )


# ---------------------------------------------------------------- image stale


STALE_IMAGE = "stackbot-lab/app-stale:1"


def build_image_stale(lab: Lab) -> ScenarioInfo:
    """``container.image_stale``: the tag was re-pulled (here: rebuilt), never applied.

    Project ``stale`` (/run/stackbot-lab/stacks/stale): one service ``app`` running
    ``stackbot-lab/app-stale:1``, which was the busybox image when ``up`` ran; then
    the tag was moved to a new image (``FROM busybox`` plus a label), as a ``pull``
    of a new release does. ``stale-app-1`` (v1: ``stale_app_1``) still runs the old
    one. facts: ``container``, ``image``, ``old_id``, ``new_id``.
    """
    with _building(lab, "image_stale") as ctx:
        base = ctx.h1.images.get(images.ref("busybox"))
        base.tag("stackbot-lab/app-stale", "1")
        d = STACKS_DIR / "stale"
        write_compose(
            d, {"services": {"app": {"image": STALE_IMAGE, "command": _escaped(SLEEP),
                                     "restart": "unless-stopped"}}},
        )  # fmt: skip
        compose(H1, d, "up", "-d")
        dockerfile = f"FROM {images.ref('busybox')}\nLABEL org.stackbot-lab.release=2\n"
        new, _ = ctx.h1.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=STALE_IMAGE)
        app = cname("stale", "app")
        running = ctx.h1.containers.get(app).attrs["Image"]
        if running == new.id:
            raise LabError(f"{app} already runs the new image")
    return _done(
        lab,
        ScenarioInfo(
            name="image_stale",
            host="h1",
            projects=("stale",),
            stack_dirs=(str(d),),
            containers=(app,),
            facts={
                "container": app,
                "image": STALE_IMAGE,
                "old_id": str(running),
                "new_id": str(new.id),
            },
        ),
    )


# ---------------------------------------------------------------- bind source


def build_bind_source_missing(lab: Lab) -> ScenarioInfo:
    """``container.bind_source_missing``: a config file that was never copied.

    Project ``web`` (/run/stackbot-lab/stacks/web): service ``app`` (busybox,
    running) with ``./conf/app.conf:/etc/app/app.conf:ro``; conf/app.conf did not
    exist, so Docker created it as an empty directory when it created ``web-app-1``
    (v1: ``web_app_1``). facts: ``container``, ``path`` (the host path),
    ``destination``.
    """
    with _building(lab, "bind_source_missing"):
        d = STACKS_DIR / "web"
        _busybox_stack(d, {"app": {"volumes": ["./conf/app.conf:/etc/app/app.conf:ro"]}})
        compose(H1, d, "up", "-d")
        path = d / "conf" / "app.conf"
        if not path.is_dir() or any(path.iterdir()):
            raise LabError(f"{path} is not the empty directory Docker makes")
    app = cname("web", "app")
    return _done(
        lab,
        ScenarioInfo(
            name="bind_source_missing",
            host="h1",
            projects=("web",),
            stack_dirs=(str(d),),
            containers=(app,),
            facts={"container": app, "path": str(path), "destination": "/etc/app/app.conf"},
        ),
    )


# ---------------------------------------------------------------- env file missing


def build_env_file_missing(lab: Lab) -> ScenarioInfo:
    """``env.file_missing``: a deploy added ``env_file: .env.production`` that is not there.

    Project ``shop`` (healthy, running from before); then its compose file was edited:
    backend's ``env_file`` is now ``[.env, .env.production]`` and
    /run/stackbot-lab/stacks/shop/.env.production does not exist, so ``compose up``
    fails (v1's ``config`` too; v2 2.40's ``config --services`` does not read env
    files). The old containers keep running. facts: ``service`` (backend), ``path``.
    """
    with _building(lab, "env_file_missing") as ctx:
        d = _shop(ctx)
        write_compose(
            d,
            {
                "services": {
                    "db": db_service(),
                    "backend": backend_service(env_file=[".env", ".env.production"]),
                    "nginx": nginx_service(),
                },
                "volumes": {"postgres_data": {"name": "shop_postgres_data"}},
            },
        )
        failed = compose(H1, d, "up", "-d", check=False)  # the deploy that fails
        if failed.returncode == 0 or ".env.production" not in failed.stdout + failed.stderr:
            raise LabError(f"compose accepted a missing env_file: {failed.stderr[-300:]}")
    return _done(
        lab,
        ScenarioInfo(
            name="env_file_missing",
            host="h1",
            projects=("shop",),
            stack_dirs=(str(d),),
            containers=(cname("shop", "backend"),),
            facts={"service": "backend", "path": str(d / ".env.production")},
        ),
    )


# ---------------------------------------------------------------- logs


LOG_LINES = 115_000  # of 1000 characters: about 120 MiB of json-file log


def build_logs_unrotated(lab: Lab) -> ScenarioInfo:
    """``disk.logs_unrotated``: a chatty worker's json-file log, no max-size, ~120 MiB.

    Project ``chatty`` (/run/stackbot-lab/stacks/chatty): service ``worker`` (busybox)
    printed 115 000 lines of 1000 characters, then sleeps; default logging (json-file,
    no options). The SSH user may traverse h1's Docker ``containers/`` directories
    (``allow_log_stat``) so it can stat the log. facts: ``container``, ``log_path``,
    ``size`` (bytes when built).
    """
    with _building(lab, "logs_unrotated") as ctx:
        d = STACKS_DIR / "chatty"
        script = (
            'line=$(head -c 1000 /dev/zero | tr "\\000" x); '
            f'yes "$line" | head -n {LOG_LINES}; '
            "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
        )
        _busybox_stack(d, {"worker": {"command": ["sh", "-c", script]}})
        compose(H1, d, "up", "-d")
        worker = cname("chatty", "worker")
        log_path = Path(ctx.h1.containers.get(worker).attrs["LogPath"])
        deadline = time.monotonic() + 180
        while log_path.stat().st_size < 110 * MIB:
            if time.monotonic() > deadline:
                raise LabError(f"{worker}'s log stayed at {log_path.stat().st_size} bytes")
            time.sleep(0.5)
        allow_log_stat(H1)
        size = log_path.stat().st_size
        log(f"{worker}: log {size / MIB:.0f} MiB")
    return _done(
        lab,
        ScenarioInfo(
            name="logs_unrotated",
            host="h1",
            projects=("chatty",),
            stack_dirs=(str(d),),
            containers=(worker,),
            facts={"container": worker, "log_path": str(log_path), "size": str(size)},
        ),
    )


# ---------------------------------------------------------------- compose run


def build_run_leftover(lab: Lab) -> ScenarioInfo:
    """``compose.run_leftover``: two ``compose run`` containers left exited.

    Project ``shop`` (healthy); then ``compose run --no-deps backend python3
    /app/manage.py showmigrations`` twice without ``--rm``: two exited one-off
    containers of service backend (label ``com.docker.compose.oneoff=True``).
    facts: ``service`` (backend), ``leftovers`` (their names, comma-separated).
    """
    with _building(lab, "run_leftover") as ctx:
        d = _shop(ctx)
        for _ in range(2):
            compose(H1, d, "run", "--no-deps", "-T", "backend",
                    "python3", "/app/manage.py", "showmigrations")  # fmt: skip
        left = sorted(
            str(c.name)
            for c in ctx.h1.containers.list(
                all=True, filters={"label": "com.docker.compose.oneoff=True"}
            )
        )
        if len(left) != 2:
            raise LabError(f"expected two one-off containers, found {left}")
    return _done(
        lab,
        ScenarioInfo(
            name="run_leftover",
            host="h1",
            projects=("shop",),
            stack_dirs=(str(d),),
            containers=tuple(left),
            facts={"service": "backend", "leftovers": ",".join(left)},
        ),
    )


# ---------------------------------------------------------------- network labels


def build_network_label_mismatch(lab: Lab) -> ScenarioInfo:
    """``network.label_mismatch``: a network made by hand, then declared in the file.

    Project ``shop`` (healthy, on ``shop_default``). Somebody ran ``docker network
    create shop_internal`` (no labels) for a debugging container; then a deploy added
    network ``internal`` to db and backend in the compose file: ``compose up -d``
    fails (v2: "network shop_internal was found but has incorrect label"), the old
    containers keep running. facts: ``network`` (shop_internal), ``compose_key``.
    """
    with _building(lab, "network_label_mismatch") as ctx:
        d = _shop(ctx)
        ctx.h1.networks.create("shop_internal", driver="bridge")
        write_compose(
            d,
            {
                "services": {
                    "db": db_service(networks=["default", "internal"]),
                    "backend": backend_service(networks=["default", "internal"]),
                    "nginx": nginx_service(),
                },
                "volumes": {"postgres_data": {"name": "shop_postgres_data"}},
                "networks": {"internal": {}},
            },
        )
        failed = compose(H1, d, "up", "-d", check=False)
        said = failed.stdout + failed.stderr
        log(f"compose up with the hand-made network: exit {failed.returncode}: {said[-300:]}")
    return _done(
        lab,
        ScenarioInfo(
            name="network_label_mismatch",
            host="h1",
            projects=("shop",),
            stack_dirs=(str(d),),
            networks=("shop_default", "shop_internal"),
            facts={
                "network": "shop_internal",
                "compose_key": "internal",
                "up_exit": str(failed.returncode),
            },
        ),
    )


# ---------------------------------------------------------------- memory


def _meminfo_text(
    total_kib: int, available_kib: int, swap_total_kib: int, swap_free_kib: int
) -> str:
    return (
        f"MemTotal:       {total_kib} kB\n"
        f"MemFree:        {available_kib // 2} kB\n"
        f"MemAvailable:   {available_kib} kB\n"
        "Buffers:           12000 kB\n"
        f"Cached:         {available_kib // 2} kB\n"
        f"SwapCached:      {swap_total_kib // 10} kB\n"
        f"SwapTotal:      {swap_total_kib} kB\n"
        f"SwapFree:       {swap_free_kib} kB\n"
    )


def clear_memory_pressure(lab: Lab) -> None:
    """Undo ``build_memory_pressure`` (nothing when it is not in place)."""
    clear_fake_meminfo(H1)


def build_memory_pressure(
    lab: Lab, *, total_mib: int = 2048, available_mib: int = 60, swap_used_percent: int = 90
) -> ScenarioInfo:
    """``host.memory_pressure``: h1's sshd sees a host with ~3 % memory available and
    swap 90 % used (a made-up ``/proc/meminfo`` bind-mounted in its own mount
    namespace; the machine is not touched). Project ``shop`` healthy beside it.
    facts: ``available_percent``, ``swap_used_percent``. Undone by
    ``clear_memory_pressure`` (every builder calls it first).
    """
    with _building(lab, "memory_pressure") as ctx:
        d = _shop(ctx)
        swap = 1024 * 1024
        text = _meminfo_text(
            total_mib * 1024, available_mib * 1024, swap, swap * (100 - swap_used_percent) // 100
        )
        fake_meminfo(H1, text)
    return _done(
        lab,
        ScenarioInfo(
            name="memory_pressure",
            host="h1",
            projects=("shop",),
            stack_dirs=(str(d),),
            facts={
                "available_percent": f"{100 * available_mib / total_mib:.1f}",
                "swap_used_percent": str(swap_used_percent),
            },
        ),
    )


# ---------------------------------------------------------------- stale upstream


STATIC_NGINX = """user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr warn;
events { worker_connections 128; }
http {
    access_log /dev/stdout;
    server {
        listen 80;
        location / {
            proxy_pass http://backend:8000;
            proxy_connect_timeout 2s;
        }
    }
}
"""


def _address(client: docker.DockerClient, name: str, network: str) -> str:
    networks = client.containers.get(name).attrs["NetworkSettings"]["Networks"]
    return str(networks[network]["IPAddress"])


def build_stale_upstream(lab: Lab) -> ScenarioInfo:
    """``network.stale_upstream``: nginx resolved ``backend`` once; backend was recreated.

    Project ``shop`` whose nginx mounts /run/stackbot-lab/stacks/shop/nginx.conf with a
    plain ``proxy_pass http://backend:8000`` (resolved at start, no ``resolver``).
    After ``up``: backend stopped, a hand-run busybox ``ip-taker`` joined
    ``shop_default`` (taking backend's old address, or the next one), backend
    recreated (``up -d --force-recreate --no-deps backend``: a new address), and three
    requests through nginx logged ``connect() failed``/``timed out`` to the OLD
    address. facts: ``proxy``, ``upstream``, ``old_address``, ``new_address``.
    """
    with _building(lab, "stale_upstream") as ctx:
        d = STACKS_DIR / "shop"
        write_file(d / "nginx.conf", STATIC_NGINX)
        _shop(ctx, volumes=["./nginx.conf:/etc/nginx/nginx.conf:ro"])
        backend, nginx = cname("shop", "backend"), cname("shop", "nginx")
        old = _address(ctx.h1, backend, "shop_default")
        compose(H1, d, "stop", "backend")
        stack.run_container(
            ctx.h1, images.ref("busybox"), name="ip-taker", command=SLEEP,
            network="shop_default", restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip
        compose(H1, d, "up", "-d", "--force-recreate", "--no-deps", "backend")
        wait_health(ctx.h1, {backend: "healthy"}, timeout=60)
        new = _address(ctx.h1, backend, "shop_default")
        if ipaddress.ip_address(new) == ipaddress.ip_address(old):
            raise LabError(f"{backend} got its old address {old} again")
        nginx_requests(ctx, nginx, 3)
        logs = ctx.h1.containers.get(nginx).logs(tail=50).decode(errors="replace")
        if f"{old}:8000" not in logs:
            raise LabError(f"{nginx} logged nothing about {old}:8000: {logs[-500:]}")
    return _done(
        lab,
        ScenarioInfo(
            name="stale_upstream",
            host="h1",
            projects=("shop",),
            stack_dirs=(str(d),),
            containers=(nginx, backend, "ip-taker"),
            facts={"proxy": nginx, "upstream": backend, "old_address": old, "new_address": new},
        ),
    )


# ---------------------------------------------------------------- existing classes


def build_restart_loop_missing_env(lab: Lab) -> ScenarioInfo:
    """A restart loop from a missing env var (``container.restarting``).

    Project ``loop`` (/run/stackbot-lab/stacks/loop): service ``worker`` (busybox,
    restart always) exits 1 at once with ``API_TOKEN is not set`` because its
    environment lacks API_TOKEN. A test declaring stack ``loop`` with
    ``required_env: [API_TOKEN]`` also gets ``env.missing_required``. facts:
    ``container``, ``missing_key``.
    """
    with _building(lab, "restart_loop_missing_env") as ctx:
        d = STACKS_DIR / "loop"
        script = 'test -n "$API_TOKEN" || { echo "API_TOKEN is not set" >&2; exit 1; }; sleep 3600'
        _busybox_stack(d, {"worker": {"command": ["sh", "-c", script], "restart": "always"}})
        compose(H1, d, "up", "-d")
        worker = cname("loop", "worker")
        deadline = time.monotonic() + 60
        while int(ctx.h1.containers.get(worker).attrs["RestartCount"]) < 3:
            if time.monotonic() > deadline:
                raise LabError(f"{worker} did not loop")
            time.sleep(0.5)
    return _done(
        lab,
        ScenarioInfo(
            name="restart_loop_missing_env",
            host="h1",
            projects=("loop",),
            stack_dirs=(str(d),),
            containers=(worker,),
            facts={"container": worker, "missing_key": "API_TOKEN"},
        ),
    )


def build_oom_killed_worker(lab: Lab) -> ScenarioInfo:
    """An OOM-killed worker (``container.oom_killed``, ``container.down``).

    Project ``jobs``: service ``worker`` (busybox, ``mem_limit: 32m``, restart no)
    buffers 256 MiB in ``tail`` and is killed by the kernel (OOMKilled, exit 137);
    service ``web`` (busybox) keeps running. facts: ``container``.
    """
    with _building(lab, "oom_killed_worker") as ctx:
        d = STACKS_DIR / "jobs"
        _busybox_stack(
            d,
            {
                "web": {},
                "worker": {
                    "command": ["sh", "-c", "head -c 256m /dev/zero | tail"],
                    "mem_limit": "32m", "memswap_limit": "32m", "restart": "no",
                },
            },
        )  # fmt: skip
        compose(H1, d, "up", "-d")
        worker = cname("jobs", "worker")
        deadline = time.monotonic() + 60
        while not _state(ctx.h1, worker).get("OOMKilled"):
            if time.monotonic() > deadline:
                raise LabError(f"{worker} was not OOM-killed: {_state(ctx.h1, worker)}")
            time.sleep(0.5)
    return _done(
        lab,
        ScenarioInfo(
            name="oom_killed_worker",
            host="h1",
            projects=("jobs",),
            stack_dirs=(str(d),),
            containers=(worker,),
            facts={"container": worker},
        ),
    )


def build_dependency_unhealthy(lab: Lab) -> ScenarioInfo:
    """A dependency unhealthy so its dependant never starts.

    Project ``deps``: service ``db`` (busybox) whose health check always fails, and
    ``app`` with ``depends_on: db: condition: service_healthy``: ``up`` gives up;
    Compose v2 leaves ``app`` created but never started, v1 does not create it at
    all. facts: ``dependency`` (db container), ``dependant`` (app container),
    ``dependant_state`` (``created``, or ``absent`` under v1).
    """
    with _building(lab, "dependency_unhealthy") as ctx:
        d = STACKS_DIR / "deps"
        _busybox_stack(
            d,
            {
                "db": {"healthcheck": {"test": ["CMD", "false"], "interval": "1s",
                                       "timeout": "1s", "retries": 2}},
                "app": {"depends_on": {"db": {"condition": "service_healthy"}}},
            },
        )  # fmt: skip
        compose(H1, d, "up", "-d", check=False)
        db, app = cname("deps", "db"), cname("deps", "app")
        wait_health(ctx.h1, {db: "unhealthy"}, timeout=60)
        try:
            status = str(_state(ctx.h1, app).get("Status"))
        except docker.errors.NotFound:
            status = "absent"  # Compose v1 does not even create it
        if status == "running":
            raise LabError(f"{app} started although {db} is unhealthy")
    return _done(
        lab,
        ScenarioInfo(
            name="dependency_unhealthy",
            host="h1",
            projects=("deps",),
            stack_dirs=(str(d),),
            containers=(db, app),
            facts={"dependency": db, "dependant": app, "dependant_state": status},
        ),
    )


BUILDERS: dict[str, Callable[[Lab], ScenarioInfo]] = {
    "port_allocated": build_port_allocated,
    "port_collision": build_port_collision,
    "image_stale": build_image_stale,
    "bind_source_missing": build_bind_source_missing,
    "env_file_missing": build_env_file_missing,
    "logs_unrotated": build_logs_unrotated,
    "run_leftover": build_run_leftover,
    "network_label_mismatch": build_network_label_mismatch,
    "memory_pressure": build_memory_pressure,
    "stale_upstream": build_stale_upstream,
    "restart_loop_missing_env": build_restart_loop_missing_env,
    "oom_killed_worker": build_oom_killed_worker,
    "dependency_unhealthy": build_dependency_unhealthy,
}
