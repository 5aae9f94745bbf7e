"""Where the lab lives: paths, names and addresses of its hosts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# STACKBOT_LAB_SLOT=N (1-9) runs a second, independent lab beside the default one
# (its own run dir, namespaces, addresses and data root), e.g. for a parallel session.
SLOT = int(os.environ.get("STACKBOT_LAB_SLOT", "0") or 0)
if not 0 <= SLOT <= 9:
    raise ValueError("STACKBOT_LAB_SLOT must be 0-9")
_SUFFIX = f"-s{SLOT}" if SLOT else ""
RUN_DIR = Path(f"/run/stackbot-lab{_SUFFIX}")
# STACKBOT_LAB_CACHE=DIR keeps the lab's images, rootfs and Compose download somewhere else,
# e.g. an empty directory to prove the uncached path without losing the usual cache.
CACHE_DIR = Path(os.environ.get("STACKBOT_LAB_CACHE") or "/var/cache/stackbot-lab")
STACK_SRC = Path(__file__).resolve().parent / "stack"
STACKS_DIR = RUN_DIR / "stacks"
KEYS_DIR = RUN_DIR / "keys"
SSH_DIR = RUN_DIR / "ssh"
LAB_USER = "stackbot-lab"
DOCKER_GROUP = "docker"
NETNS_PREFIX = f"sblab{SLOT or ''}-"
# A host that refuses connections, on loopback: lab traffic never leaves this machine.
UNREACHABLE_ADDRESS = "127.0.0.1"
UNREACHABLE_PORT = 1

# Values planted in the stacks: tests assert that they never leak into stackbot output.
PLANTED_SECRET = "planted-secret-7f3a9c"
PLANTED_PASSWORD = "pw-planted-4e1d"
PLANTED_JWT = "planted-jwt-51c2"


@dataclass(frozen=True)
class HostSpec:
    """One lab Docker host: a network namespace with its own dockerd and sshd."""

    name: str
    index: int
    tmpfs_root: bool = False

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.name}"

    @property
    def veth(self) -> str:
        """Root-side veth name (the netns side is eth0)."""
        return f"{NETNS_PREFIX}{self.name}"

    @property
    def root_address(self) -> str:
        return f"10.213.{self.index + 10 * SLOT}.1"

    @property
    def address(self) -> str:
        return f"10.213.{self.index + 10 * SLOT}.2"

    @property
    def dir(self) -> Path:
        return RUN_DIR / self.name

    @property
    def private_dir(self) -> Path:
        """Root-only files of the host: sshd host key and config, dockerd exec root."""
        return RUN_DIR / f"{self.name}-private"

    @property
    def docker_socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def data_root(self) -> Path:
        if self.tmpfs_root:
            return RUN_DIR / f"{self.name}-root"
        return CACHE_DIR / f"{self.name}{_SUFFIX}-docker"

    @property
    def exec_root(self) -> Path:
        return self.private_dir / "exec"

    @property
    def dockerd_pidfile(self) -> Path:
        return self.private_dir / "dockerd.pid"

    @property
    def dockerd_log(self) -> Path:
        return self.private_dir / "dockerd.log"

    @property
    def dns_pidfile(self) -> Path:
        return self.private_dir / "dnsstub.pid"

    @property
    def sshd_pidfile(self) -> Path:
        return self.private_dir / "sshd.pid"

    @property
    def sshd_log(self) -> Path:
        return self.private_dir / "sshd.log"

    @property
    def sshd_config(self) -> Path:
        return self.private_dir / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.private_dir / "ssh_host_ed25519_key"


H1 = HostSpec("h1", 1)
H2 = HostSpec("h2", 2, tmpfs_root=True)
HOSTS: dict[str, HostSpec] = {h.name: h for h in (H1, H2)}
H2_TMPFS_OPTIONS = "size=192m,nr_inodes=20000,mode=0711"
