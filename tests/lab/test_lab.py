"""The lab itself works: SSH hosts, Docker hosts, inventories, and every scenario's state."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import asyncssh
import docker
import pytest
import yaml

from tests.lab import dockerd, images, netns
from tests.lab.config import (
    H1,
    LAB_USER,
    PLANTED_JWT,
    PLANTED_SECRET,
    RUN_DIR,
    SLOT,
    STACKS_DIR,
)
from tests.lab.lab import Lab
from tests.lab.stack import compose, exec_in, health, run_container
from tests.lab.util import cmdline, mounts_under, pid_alive, read_pidfile

pytestmark = pytest.mark.lab
HOST_NAMES = ("h1", "h2")


# ---------------------------------------------------------------- helpers


async def ssh(lab: Lab, host: str, *, key: Path | None = None, known_hosts: Path | None = None
              ) -> asyncssh.SSHClientConnection:  # fmt: skip
    return await asyncssh.connect(
        lab.hosts[host].address,
        username=LAB_USER,
        client_keys=[str(key or lab.client_key)],
        known_hosts=str(known_hosts or lab.known_hosts),
        connect_timeout=5,
    )


def networks_of(client: docker.DockerClient, name: str) -> set[str]:
    attrs: dict[str, Any] = client.containers.get(name).attrs
    return set(attrs["NetworkSettings"]["Networks"])


def volumes_of(client: docker.DockerClient, name: str) -> dict[str, str]:
    """destination -> volume name of a container's volume mounts."""
    attrs: dict[str, Any] = client.containers.get(name).attrs
    return {m["Destination"]: m.get("Name", "") for m in attrs["Mounts"] if m["Type"] == "volume"}


def env_of(client: docker.DockerClient, name: str) -> dict[str, str]:
    attrs: dict[str, Any] = client.containers.get(name).attrs
    return dict(item.split("=", 1) for item in attrs["Config"]["Env"])


def env_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and "=" in line
    )


def labels_of(client: docker.DockerClient, name: str) -> dict[str, str]:
    attrs: dict[str, Any] = client.containers.get(name).attrs
    return dict(attrs["Config"]["Labels"] or {})


def mounted_volumes(client: docker.DockerClient) -> set[str]:
    names: set[str] = set()
    for c in client.containers.list(all=True):
        names |= {m.get("Name", "") for m in c.attrs["Mounts"] if m["Type"] == "volume"}
    return names


def psql(client: docker.DockerClient, container: str, user: str, db: str, sql: str) -> str:
    argv = ["psql", "-h", "/run/postgresql", "-U", user, "-d", db, "-Atc", sql]
    return exec_in(client, container, argv)[1].strip()


def user_tables(client: docker.DockerClient, container: str, user: str, db: str) -> set[str]:
    out = psql(client, container, user, db, "SELECT tablename FROM pg_tables WHERE "
               "schemaname = 'public'")  # fmt: skip
    return set(out.split())


def logs(client: docker.DockerClient, name: str) -> str:
    return client.containers.get(name).logs().decode(errors="replace")


# ---------------------------------------------------------------- SSH and Docker hosts


@pytest.mark.parametrize("host", HOST_NAMES)
async def test_sshd_accepts_the_client_key(lab: Lab, host: str) -> None:
    before = lab.login_count(host)
    async with await ssh(lab, host) as conn:
        result = await conn.run("id -un; id -Gn", check=True)
    out = str(result.stdout).split()
    assert out[0] == LAB_USER
    assert "docker" in out[1:]
    for _ in range(20):  # sshd writes the log line right after auth
        if lab.login_count(host) == before + 1:
            break
        await asyncio.sleep(0.05)
    assert lab.login_count(host) == before + 1


@pytest.mark.parametrize("host", HOST_NAMES)
async def test_sshd_refuses_the_wrong_key(lab: Lab, host: str) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await ssh(lab, host, key=lab.wrong_client_key)


@pytest.mark.parametrize("host", HOST_NAMES)
async def test_wrong_known_hosts_is_refused(lab: Lab, host: str) -> None:
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await ssh(lab, host, known_hosts=lab.wrong_known_hosts)


def test_known_hosts_match_the_host_keys(lab: Lab) -> None:
    lines = lab.known_hosts.read_text().splitlines()
    wrong = lab.wrong_known_hosts.read_text().splitlines()
    for host in lab.hosts.values():
        pub = " ".join(host.host_key.with_suffix(".pub").read_text().split()[:2])
        assert f"{host.address} {pub}" in lines
        assert f"{host.address} {pub}" not in wrong
        assert any(line.startswith(f"{host.address} ssh-ed25519 ") for line in wrong)


@pytest.mark.parametrize("host", HOST_NAMES)
def test_dockerd_answers_on_its_socket(lab: Lab, host: str) -> None:
    client = lab.docker(host)
    assert client.ping()
    info = client.info()
    assert info["DockerRootDir"] == str(lab.hosts[host].data_root)
    assert any(t.startswith("stackbot-lab/busybox:") for i in client.images.list() for t in i.tags)


async def test_docker_api_through_an_ssh_tunnel(lab: Lab, tmp_path: Path) -> None:
    local = tmp_path / "d.sock"
    async with await ssh(lab, "h1") as conn:
        listener = await conn.forward_local_path(str(local), str(lab.hosts["h1"].docker_socket))
        try:

            def ping() -> bool:
                c = docker.DockerClient(base_url=f"unix://{local}", timeout=10)
                try:
                    return bool(c.ping())
                finally:
                    c.close()

            assert await asyncio.to_thread(ping)
        finally:
            listener.close()


def test_inventories_validate(lab: Lab) -> None:
    from bot.inventory.config.models import Inventory

    inv = Inventory.model_validate(yaml.safe_load(lab.inventory_path.read_text()))
    assert set(inv.environments) >= {"lab", "small", "pair", "local"}
    h1 = inv.resolved_host("lab", "h1")
    assert h1.address == H1.address == f"10.213.{1 + 10 * SLOT}.2"  # slot 0: 10.213.1.2
    assert h1.user == LAB_USER
    assert h1.private_key == lab.client_key
    assert h1.known_hosts == lab.known_hosts
    assert inv.resolved_host("local", "local").is_local
    neg = Inventory.model_validate(yaml.safe_load(lab.negative_inventory_path.read_text()))
    assert neg.resolved_host("wrong-key", "h1").private_key == lab.wrong_client_key
    assert neg.resolved_host("wrong-hostkey", "h1").known_hosts == lab.wrong_known_hosts
    assert neg.resolved_host("unreachable", "ghost").address == "127.0.0.1"
    variant = lab.write_inventory(
        lab.run_dir / "variant.yaml", defaults={"private_key": str(lab.wrong_client_key)}
    )
    v = Inventory.model_validate(yaml.safe_load(variant.read_text()))
    assert v.resolved_host("pair", "h2").private_key == lab.wrong_client_key


async def test_sshd_stop_and_start(lab: Lab) -> None:
    lab.stop_sshd("h2")
    try:
        with pytest.raises(OSError):
            await ssh(lab, "h2")
    finally:
        lab.start_sshd("h2")
    async with await ssh(lab, "h2") as conn:
        assert (await conn.run("true")).exit_status == 0


def test_dockerd_stop_and_start(lab: Lab) -> None:
    h2 = lab.hosts["h2"]
    lab.stop_dockerd("h2")
    try:
        assert not h2.docker_socket.exists()
        assert not dockerd.ping(h2)
    finally:
        lab.start_dockerd("h2")
    assert lab.docker("h2").ping()


# ---------------------------------------------------------------- scenarios
# The lab's own check of each scenario's state. The diagnosis tests assert every finding
# of every scenario on the same builds, so a run samples two of these (tests/conftest.py).


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_healthy(lab: Lab) -> None:
    info = lab.scenario("healthy")
    c = lab.docker("h1")
    assert {x.name for x in c.containers.list(all=True)} == set(info.containers)
    for name in ("shop_db_1", "shop_backend_1"):
        assert health(c, name) == "healthy"
        assert networks_of(c, name) == {"shop_default"}
    assert health(c, "shop_nginx_1") == "none"
    assert volumes_of(c, "shop_db_1") == {"/var/lib/postgresql/data": "shop_postgres_data"}
    assert labels_of(c, "shop_db_1")["com.docker.compose.project"] == "shop"
    assert labels_of(c, "shop_db_1")["com.docker.compose.project.working_dir"] == str(
        STACKS_DIR / "shop"
    )
    on_disk = env_file(STACKS_DIR / "shop" / ".env")
    assert on_disk["SECRET_KEY"] == PLANTED_SECRET
    assert on_disk["DATABASE_URL"] == "postgresql://shop:pw-planted-4e1d@db:5432/shop"
    for name in ("shop_db_1", "shop_backend_1"):  # the services with env_file: .env
        env = env_of(c, name)
        assert {k: env.get(k) for k in on_disk} == on_disk
    code, out = exec_in(c, "shop_backend_1", ["python3", "/app/manage.py", "check_migrations"])
    assert code == 0, out
    assert user_tables(c, "shop_db_1", "shop", "shop") >= {"app_migrations", "orders", "customers"}
    hashes = compose(lab.hosts["h1"], STACKS_DIR / "shop", "config", "--hash=*").stdout
    for line in hashes.splitlines():
        service, digest = line.split()
        label = labels_of(c, f"shop_{service}_1")["com.docker.compose.config-hash"]
        assert label == digest, f"{service} drifted in the healthy scenario"


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_s1(lab: Lab) -> None:
    info = lab.scenario("S1")
    c = lab.docker("h1")
    assert {x.name for x in c.containers.list(all=True)} == {
        "indexo_db_staging",
        "indexo_backend_staging",
    }
    assert networks_of(c, "indexo_db_staging") == {"indexo-staging_internal"}
    assert networks_of(c, "indexo_backend_staging") == {"indexo-staging_default"}
    assert health(c, "indexo_db_staging") == "healthy"
    assert health(c, "indexo_backend_staging") == "unhealthy"
    assert volumes_of(c, "indexo_db_staging") == {
        "/var/lib/postgresql/data": "indexo-staging_postgres_data"
    }
    vols = {v.name: v for v in c.volumes.list()}
    assert set(vols) == set(info.volumes)
    assert vols["multivendor_postgres_data"].attrs["Labels"]["com.docker.compose.project"] == (
        "multivendor"
    )
    assert "multivendor_postgres_data" not in mounted_volumes(c)
    assert labels_of(c, "indexo_db_staging")["com.docker.compose.project"] == "indexo-staging"
    assert user_tables(c, "indexo_db_staging", "multivendor", "multivendor") == set()
    assert "could not translate host name" in logs(c, "indexo_backend_staging")
    # The orphaned volume really holds the data: look with a throwaway postgres.
    probe = run_container(
        c, images.ref("postgres"), name="lab-probe",
        volumes={"multivendor_postgres_data": {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while exec_in(c, "lab-probe", ["pg_isready", "-h", "/run/postgresql"], check=False)[0]:
            assert time.monotonic() < deadline, logs(c, "lab-probe")
            time.sleep(0.2)
        count = psql(c, "lab-probe", "multivendor", "multivendor", "SELECT count(*) FROM orders")
        assert count == "25"
    finally:
        probe.remove(force=True)


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_s2(lab: Lab) -> None:
    lab.scenario("S2")
    c = lab.docker("h1")
    dbs = psql(c, "shop_db_1", "shop", "postgres", "SELECT datname FROM pg_database").split()
    assert "shop" not in dbs
    assert health(c, "shop_db_1") == "healthy"
    assert health(c, "shop_backend_1") == "unhealthy"
    assert env_of(c, "shop_backend_1")["DATABASE_URL"].endswith("@db:5432/shop")
    assert 'database "shop" does not exist' in logs(c, "shop_backend_1")


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_s3(lab: Lab) -> None:
    lab.scenario("S3")
    c = lab.docker("h1")
    assert networks_of(c, "ventanas-test-app") == {"app-test_default"}
    assert networks_of(c, "ventanas-test-db") == {"app-test_ventanas-test-network"}
    assert networks_of(c, "ventanas-test-redis") == {"app-test_ventanas-test-network"}
    for name in ("ventanas-test-app", "ventanas-test-db", "ventanas-test-redis"):
        assert labels_of(c, name)["com.docker.compose.project"] == "app-test"
    assert volumes_of(c, "ventanas-test-db") == {
        "/var/lib/postgresql/data": "app-test_postgres_data"
    }
    url = env_of(c, "ventanas-test-app")["DATABASE_URL"]
    assert "@ventanas-test-db:5432/ventanas_test_db" in url
    on_disk = yaml.safe_load((STACKS_DIR / "app-test" / "docker-compose.yml").read_text())
    assert set(on_disk["services"]) == {"app"}
    assert health(c, "ventanas-test-app") == "unhealthy"
    assert health(c, "ventanas-test-db") == "healthy"


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_s4(lab: Lab) -> None:
    lab.scenario("S4")
    c = lab.docker("h1")
    assert health(c, "hanna_backend_1") == "exited"
    assert health(c, "hanna_db_1") == "healthy"
    assert "backend could not be resolved (3: Host not found)" in logs(c, "hanna_nginx_1")
    assert user_tables(c, "hanna_db_1", "hanna", "hanna") == set()
    out = c.containers.run(
        images.ref("backend"), ["python3", "/app/manage.py", "check_migrations"],
        network="hanna_default", environment=env_file(STACKS_DIR / "hanna" / ".env"),
        remove=False, detach=True,
    )  # fmt: skip
    try:
        assert out.wait(timeout=30)["StatusCode"] == 1
        assert "Pending migrations: 0001_initial" in out.logs().decode()
    finally:
        out.remove(force=True)


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_s5(lab: Lab) -> None:
    info = lab.scenario("S5")
    c = lab.docker("h1")
    d = STACKS_DIR / "filter-ical"
    assert {x.name for x in c.containers.list(all=True)} == set(info.containers)
    for name in ("filter-ical-db-production", "filter-ical-backend-production"):
        assert "com.docker.compose.project" not in labels_of(c, name)
        assert networks_of(c, name) == {"filter-ical_default"}
    for name in ("filter-ical-db-staging", "filter-ical-backend-staging"):
        assert labels_of(c, name)["com.docker.compose.project"] == "filter-ical"
        assert health(c, name) == "healthy"
    assert volumes_of(c, "filter-ical-db-production") == {
        "/var/lib/postgresql/data": "filter-ical_pgdata_production"
    }
    assert volumes_of(c, "filter-ical-db-staging") == {
        "/var/lib/postgresql/data": "filter-ical_pgdata_staging"
    }
    ports = c.containers.get("filter-ical-backend-production").attrs["HostConfig"]["PortBindings"]
    assert ports["8000/tcp"][0]["HostPort"] == "8001"
    on_disk = env_file(d / ".env")
    running = env_of(c, "filter-ical-backend-staging")
    assert on_disk["LOG_LEVEL"] == "debug" and running["LOG_LEVEL"] == "info"
    assert on_disk["JWT_SECRET_KEY"] == PLANTED_JWT and "JWT_SECRET_KEY" not in running
    assert env_file(d / ".env.production")["ENVIRONMENT"] == "production"
    out = compose(lab.hosts["h1"], d, "config", "--hash=*").stdout
    hashes = dict(line.split() for line in out.splitlines() if line.strip())
    for service in ("db", "backend"):
        label = labels_of(c, f"filter-ical-{service}-staging")["com.docker.compose.config-hash"]
        assert hashes[service] != label, f"{service}: no drift visible"


@pytest.mark.sampled("lab-scenarios", keep=2)
def test_scenario_s6(lab: Lab) -> None:
    info = lab.scenario("S6")
    root = lab.hosts["h2"].data_root
    st = os.statvfs(root)
    assert (st.f_blocks - st.f_bfree) / st.f_blocks > 0.95
    assert (st.f_files - st.f_ffree) / st.f_files > 0.85
    h2 = lab.docker("h2")
    assert [x.name for x in h2.containers.list()] == ["tiny-sleeper"]
    assert info.facts["data_root"] == str(root)
    assert health(lab.docker("h1"), "shop_backend_1") == "healthy"


async def test_df_over_ssh_sees_the_full_disk(lab: Lab) -> None:
    if lab.last_scenario is None or lab.last_scenario.name != "S6":
        lab.scenario("S6")  # the full disk (test_scenario_s6 builds it only on its sample days)
    async with await ssh(lab, "h2") as conn:
        out = str((await conn.run(f"df -P {lab.hosts['h2'].data_root}", check=True)).stdout)
    pct = int(out.splitlines()[-1].split()[4].rstrip("%"))
    assert pct >= 95


# ---------------------------------------------------------------- teardown (keep last)


def test_stop_leaves_nothing_then_restart(lab: Lab) -> None:
    h1_refs = [ref for name, ref in lab.images.items() if "@" not in name]
    h1_images = {ref: lab.docker("h1").images.get(ref).id for ref in h1_refs}
    assert len(h1_images) >= 5  # debian, busybox and the service images
    ours: list[int] = []
    for host in lab.hosts.values():
        ours += netns.pids_in(host.netns)
        for pidfile in (host.dockerd_pidfile, host.sshd_pidfile, host.dns_pidfile):
            pid = read_pidfile(pidfile)
            assert pid is not None and pid_alive(pid), pidfile
            ours.append(pid)
    lab.stop()
    try:
        still = [p for p in ours if pid_alive(p)]
        assert not still, [cmdline(p) for p in still]
        assert not netns.lab_netns_names()
        assert not netns.lab_links()
        assert not mounts_under(RUN_DIR, *(h.data_root for h in lab.hosts.values()))
        assert not RUN_DIR.exists()
        assert not Path("/etc/docker/key.json").exists() or Path("/run/docker.pid").exists()
    finally:
        lab.start()
    assert lab.docker("h1").ping()
    # the next start reuses the cached images: same references, same image ids, nothing rebuilt
    assert {ref: lab.docker("h1").images.get(ref).id for ref in h1_images} == h1_images
    assert set(h1_images) <= set(lab.images.values())
