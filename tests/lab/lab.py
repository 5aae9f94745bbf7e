"""The Lab: two Docker hosts in network namespaces, reachable over SSH, with scenarios.

lab = Lab()
started = lab.start()          # or attaches to a lab left running by `up`
info = lab.scenario("S2")      # resets h1/h2 and builds one state
client = lab.docker("h1")      # docker-py client on h1's socket
lab.stop()                     # everything of ours gone (images stay cached)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker

from . import compose_tools, dockerd, images, netns, scenarios, sshd
from .config import CACHE_DIR, HOSTS, RUN_DIR, SLOT, HostSpec
from .inventory import base_inventory, negative_environments, write_inventory
from .scenarios import ScenarioInfo
from .util import LabError, log, step, unmount_all

LOCK_FILE = CACHE_DIR / f"lab{SLOT or ''}.lock"
STATE_FILE = RUN_DIR / "state.json"
CREATED_FILE = CACHE_DIR / "created-system-paths.json"
# Paths dockerd 20.10 creates outside its data/exec roots; removed at stop if we made them.
SYSTEM_PATHS = (Path("/run/docker/plugins"), Path("/run/docker"))
REQUIRED_TOOLS = (
    "ip", "nsenter", "mount", "umount", "tar", "useradd", "usermod", "ssh-keygen",
    "/usr/sbin/dockerd", "/usr/sbin/sshd", "/usr/sbin/debootstrap", "/usr/bin/docker-compose",
)  # fmt: skip


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the stackbot lab needs root (network namespaces, dockerd, sshd): "
            "run as root, or deselect lab tests with -m 'not lab'"
        )


def require_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise LabError(
            f"missing tools: {', '.join(missing)}; apt-get install -y docker.io docker-compose "
            "openssh-server busybox-static debootstrap iptables iproute2"
        )


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """One lab operation at a time on this machine."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Lab:
    """Handle on the lab; cheap to construct, `start()` does the work."""

    def __init__(self) -> None:
        keys = sshd.keys_paths()
        self.run_dir: Path = RUN_DIR
        self.cache_dir: Path = CACHE_DIR
        self.hosts: dict[str, HostSpec] = dict(HOSTS)
        self.client_key: Path = keys.client_key
        self.wrong_client_key: Path = keys.wrong_client_key
        self.known_hosts: Path = keys.known_hosts
        self.wrong_known_hosts: Path = keys.wrong_known_hosts
        self.authorized_keys: Path = keys.authorized_keys
        self.inventory_path: Path = RUN_DIR / "inventory.yaml"
        self.negative_inventory_path: Path = RUN_DIR / "inventory-negative.yaml"
        self.stacks_dir: Path = RUN_DIR / "stacks"
        self.images: dict[str, str] = {}
        self.last_scenario: ScenarioInfo | None = None
        self._clients: dict[str, docker.DockerClient] = {}

    # ------------------------------------------------------------ state

    def is_running(self) -> bool:
        """Every host's netns, dockerd and sshd are up and the lab finished starting."""
        if not STATE_FILE.exists():
            return False
        for host in self.hosts.values():
            if not netns.netns_exists(host.netns):
                return False
            if dockerd.dockerd_pid(host) is None or not dockerd.ping(host):
                return False
            if sshd.sshd_pid(host) is None:
                return False
        return True

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"running": self.is_running(), "run_dir": str(self.run_dir)}
        for name, host in self.hosts.items():
            entry: dict[str, Any] = {
                "address": host.address,
                "netns": netns.netns_exists(host.netns),
                "dockerd_pid": dockerd.dockerd_pid(host),
                "sshd_pid": sshd.sshd_pid(host),
                "dns_pid": dockerd.dns_pid(host),
                "docker_socket": str(host.docker_socket),
            }
            if entry["dockerd_pid"] is not None and dockerd.ping(host):
                client = self.docker(name)
                entry["containers"] = {c.name: c.status for c in client.containers.list(all=True)}
            out[name] = entry
        if STATE_FILE.exists():
            out["state"] = json.loads(STATE_FILE.read_text())
        return out

    # ------------------------------------------------------------ start / stop

    def start(self) -> bool:
        """Start the lab, or attach to a running one. True if this call started it."""
        require_root()
        with lab_lock():
            if self.is_running():
                log("lab already running: attaching")
                self.images = json.loads(STATE_FILE.read_text()).get("images", {})
                self._write_inventories()
                self._refresh_sshd()
                return False
            require_tools()
            t0 = time.monotonic()
            with step("clean up state of an earlier run"):
                self._teardown()
            try:
                self._start()
            except BaseException:
                log("start failed: tearing down")
                with contextlib.suppress(Exception):
                    self._teardown()
                raise
            log(f"lab started in {time.monotonic() - t0:.1f}s; inventory: {self.inventory_path}")
            return True

    def _start(self) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        RUN_DIR.chmod(0o755)
        self._record_system_paths()
        with step("user, keys"):
            sshd.ensure_user()
            keys = sshd.ensure_keys(list(self.hosts.values()))
        for host in self.hosts.values():
            compose_tools.set_host_compose(host, compose_tools.kinds_for(compose_tools.flavor()))
            with step(f"{host.name}: netns, dockerd, sshd"):
                netns.create(host)
                dockerd.start(host)
                sshd.start(host, keys)
        with step("images"):
            self.images = images.ensure_all(self.docker("h1"))
            self.images["busybox@h2"] = images.ensure_busybox(self.docker("h2"), "h2")
        with step("reset hosts"):
            scenarios.reset(self._ctx())
        self._write_inventories()
        STATE_FILE.write_text(
            json.dumps({"started_at": time.time(), "images": self.images}, indent=1) + "\n"
        )

    def stop(self) -> None:
        """Stop everything the lab started; remove netns, veths, mounts, run dir."""
        require_root()
        with lab_lock(), step("lab stop"):
            self._teardown()

    def _refresh_sshd(self) -> None:
        """A lab started by an older checkout: its sshd lacks the compose SetEnv."""
        for host in self.hosts.values():
            if "SetEnv" not in host.sshd_config.read_text():
                compose_tools.set_host_compose(
                    host, compose_tools.kinds_for(compose_tools.flavor())
                )
                sshd.stop(host)
                sshd.start(host, sshd.ensure_keys(list(self.hosts.values())))

    def close(self) -> None:
        """Close this handle's Docker clients (the lab keeps running)."""
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()

    def _teardown(self) -> None:
        self.close()
        for host in self.hosts.values():
            sshd.stop(host)
            dockerd.stop(host)
        for host in self.hosts.values():
            netns.destroy(host.netns)
        # Whatever dockerd could not unmount (a crash): container rootfs, netns files, tmpfs.
        unmount_all(RUN_DIR, *(h.data_root for h in self.hosts.values()))
        self._remove_system_paths()
        if RUN_DIR.exists():
            shutil.rmtree(RUN_DIR)

    def _record_system_paths(self) -> None:
        created = self._created_paths()
        for path in SYSTEM_PATHS:
            if not path.exists() and str(path) not in created:
                created.append(str(path))
        CREATED_FILE.write_text(json.dumps(created) + "\n")

    def _created_paths(self) -> list[str]:
        try:
            return [str(p) for p in json.loads(CREATED_FILE.read_text())]
        except (OSError, ValueError):
            return []

    def _remove_system_paths(self) -> None:
        if Path("/run/docker.pid").exists() or Path("/run/docker.sock").exists():
            return  # a system dockerd uses them now: leave them
        for p in sorted(self._created_paths(), key=lambda s: -s.count("/")):
            with contextlib.suppress(OSError):
                Path(p).rmdir()
        with contextlib.suppress(FileNotFoundError):
            CREATED_FILE.unlink()

    # ------------------------------------------------------------ pieces

    def docker(self, host: str = "h1") -> docker.DockerClient:
        """A docker-py client on that host's socket (cached)."""
        if host not in self._clients:
            self._clients[host] = dockerd.client(self.hosts[host])
        return self._clients[host]

    def _ctx(self) -> scenarios.Ctx:
        return scenarios.Ctx(h1=self.docker("h1"), h2=self.docker("h2"))

    def scenario(self, name: str, compose: str | None = None) -> ScenarioInfo:
        """Reset h1 (and h2's baseline), build the named state with ``compose`` (v1 or
        v2; default: $STACKBOT_LAB_COMPOSE, else v2), wait until it settles."""
        with lab_lock():
            which = compose or compose_tools.flavor()
            self.last_scenario = scenarios.build(self._ctx(), name, which)
            return self.last_scenario

    def stop_sshd(self, host: str) -> None:
        sshd.stop(self.hosts[host])

    def start_sshd(self, host: str) -> None:
        sshd.start(self.hosts[host], sshd.ensure_keys(list(self.hosts.values())))

    def stop_dockerd(self, host: str) -> None:
        """Stop that host's dockerd (containers stop with it; restart policies revive them)."""
        client = self._clients.pop(host, None)
        if client is not None:
            client.close()
        dockerd.stop(self.hosts[host], remove_containers=False)
        dockerd.start_dns(self.hosts[host])

    def start_dockerd(self, host: str) -> None:
        dockerd.start(self.hosts[host])

    def login_count(self, host: str) -> int:
        """`Accepted publickey` lines in that host's sshd log since the sshd started."""
        return sshd.login_count(self.hosts[host])

    def write_inventory(self, path: Path, **overrides: Any) -> Path:
        """An inventory variant: the lab's inventory deep-merged with overrides."""
        return write_inventory(path, base_inventory(), **overrides)

    def _write_inventories(self) -> None:
        write_inventory(self.inventory_path, base_inventory())
        write_inventory(
            self.negative_inventory_path,
            {**base_inventory(), "environments": negative_environments()},
        )
