"""A private dockerd inside a host's network namespace (plus its NXDOMAIN DNS stub)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docker

from .config import DOCKER_GROUP, H2_TMPFS_OPTIONS, NETNS_PREFIX, HostSpec
from .netns import in_netns, netns_path
from .util import (
    LabError,
    cmdline,
    log,
    mounts_under,
    owned_pid,
    pid_alive,
    run,
    stop_pidfile,
    wait_for,
)

DOCKERD = "/usr/sbin/dockerd"
DNSSTUB = str(Path(__file__).resolve().parent / "dnsstub.py")


def client(host: HostSpec, timeout: int = 120) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{host.docker_socket}", timeout=timeout)


def ping(host: HostSpec, timeout: float = 3.0) -> bool:
    """GET /_ping on the socket (a raw request: a failing DockerClient() leaks a socket)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(host.docker_socket))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.") and b" 200 " in head


def dockerd_pid(host: HostSpec) -> int | None:
    return owned_pid(host.dockerd_pidfile, str(host.docker_socket))


def dns_pid(host: HostSpec) -> int | None:
    return owned_pid(host.dns_pidfile, "dnsstub.py")


def spawn_daemon(argv: list[str], logfile: Path) -> None:
    """Start argv detached (setsid --fork): not our child, it outlives this process."""
    with open(logfile, "ab") as logf:
        subprocess.run(
            ["setsid", "--fork", *argv],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            check=True,
        )


def mount_tmpfs_root(host: HostSpec) -> None:
    root = host.data_root
    root.mkdir(parents=True, exist_ok=True)
    if str(root) not in mounts_under(root):
        run(["mount", "-t", "tmpfs", "-o", H2_TMPFS_OPTIONS, f"{NETNS_PREFIX}h2-root", str(root)])


def start_dns(host: HostSpec) -> None:
    if dns_pid(host) is not None:
        return
    host.private_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        host.dns_pidfile.unlink()
    argv = in_netns(host.netns, sys.executable, DNSSTUB, host.address, str(host.dns_pidfile))
    spawn_daemon(argv, host.private_dir / "dnsstub.log")
    wait_for(lambda: dns_pid(host) is not None, timeout=10, what=f"{host.name} dns stub")


def start(host: HostSpec) -> None:
    """Start dockerd in the namespace unless it already answers."""
    if dockerd_pid(host) is not None and ping(host):
        return
    stop(host)  # a stale or wedged one
    start_dns(host)
    host.dir.mkdir(parents=True, exist_ok=True)
    host.dir.chmod(0o755)
    host.private_dir.mkdir(parents=True, exist_ok=True)
    host.private_dir.chmod(0o700)
    if host.tmpfs_root:
        mount_tmpfs_root(host)
    host.data_root.mkdir(parents=True, exist_ok=True)
    host.data_root.chmod(0o711)
    daemon_json = host.private_dir / "daemon.json"
    # Keep the trust key out of /etc/docker.
    config = {"deprecated-key-path": str(host.private_dir / "key.json")}
    daemon_json.write_text(json.dumps(config) + "\n")
    argv = [
        "nsenter", f"--net={netns_path(host.netns)}",
        DOCKERD,
        "--config-file", str(daemon_json),
        "--host", f"unix://{host.docker_socket}",
        "--data-root", str(host.data_root),
        "--exec-root", str(host.exec_root),
        "--pidfile", str(host.dockerd_pidfile),
        "--group", DOCKER_GROUP,
        "--dns", host.address,
        "--dns-search", ".",
        "--log-level", "warn",
    ]  # fmt: skip
    spawn_daemon(argv, host.dockerd_log)
    try:
        wait_for(lambda: ping(host), timeout=60, what=f"dockerd of {host.name}")
    except LabError as exc:
        tail = host.dockerd_log.read_text(errors="replace")[-3000:]
        raise LabError(f"{exc}\n--- {host.dockerd_log}:\n{tail}") from exc


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _container_cgroups(container_id: str) -> list[Path]:
    """cgroup dirs of one container of ours (cgroupfs driver, v1 or v2)."""
    candidates = [CGROUP_ROOT / "docker" / container_id]
    if CGROUP_ROOT.is_dir():
        for controller in CGROUP_ROOT.iterdir():
            candidates.append(controller / "docker" / container_id)
    return [c for c in candidates if (c / "cgroup.procs").exists()]


def _all_dead(pids: set[int]) -> Callable[[], bool]:
    return lambda: not any(pid_alive(p) for p in pids)


def kill_orphan_containers(host: HostSpec) -> None:
    """After a crashed dockerd: kill processes of containers recorded in its data root."""
    containers_dir = host.data_root / "containers"
    if not containers_dir.is_dir():
        return
    for entry in containers_dir.iterdir():
        groups = _container_cgroups(entry.name)
        pids: set[int] = set()
        for group in groups:
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
        for pid in pids:
            log(f"{host.name}: killing orphaned container process {pid} {cmdline(pid)[:2]}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if pids:
            with contextlib.suppress(LabError):
                wait_for(_all_dead(pids), timeout=10, what="orphaned container processes to die")
        for group in groups:
            with contextlib.suppress(OSError):
                group.rmdir()


def stop(host: HostSpec, *, remove_containers: bool = True) -> None:
    """Stop dockerd (removing its containers first, fast) and the DNS stub."""
    pid = dockerd_pid(host)
    if pid is not None and remove_containers and ping(host):
        c = client(host, timeout=30)
        try:
            for container in c.containers.list(all=True):
                with contextlib.suppress(Exception):
                    container.remove(force=True)
        finally:
            c.close()
    if stop_pidfile(host.dockerd_pidfile, str(host.docker_socket), timeout=30, what="dockerd"):
        log(f"{host.name}: dockerd stopped")
    kill_orphan_containers(host)
    stop_pidfile(host.dns_pidfile, "dnsstub.py", timeout=5, what="dns stub")
