"""Many SSH hosts for fan-out measurements: sshd in network namespaces, one shared engine.

Each fan-out host ``fI`` is a network namespace (``sblabN-fI``) with a veth pair
in 10.214.SLOT.0/24 (host ``I`` at ``.4I+2``, the root side at ``.4I+1``) and
its own sshd, in front of lab host h1's Docker engine (its socket and compose
tools are files, which a network namespace does not hide). So stackbot sees
``count`` hosts with their own addresses, host keys and logins, all backed by
one dockerd. One host may be black-holed: its namespace has the address but
drops every reply (a blackhole route back to the client), so a connection
attempt neither succeeds nor is refused; it times out.

    with FanoutHosts(lab, 50, black_holed=1) as fan:
        inventory_path = fan.write_inventory(path, data_dir=...)   # env fanN, fan1…
        ...

Everything is removed on exit (sshd by pid file, then the namespaces); a run
killed half-way is cleaned up by the next ``FanoutHosts`` (or
``python -m tests.lab.fanout down``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from . import netns, sshd
from .config import H1, LAB_USER, NETNS_PREFIX, RUN_DIR, SLOT, HostSpec
from .inventory import CONNECT_TIMEOUT
from .lab import Lab
from .util import LabError, log, run

MAX_HOSTS = 62  # /30 pairs in one /24
FAN_DIR = RUN_DIR / "fanout"
HOST_KEY = FAN_DIR / "ssh_host_ed25519_key"
KNOWN_HOSTS = FAN_DIR / "known_hosts"


@dataclass(frozen=True)
class FanoutHost(HostSpec):
    """A fan-out host: its own netns, address and sshd; h1's socket and tools."""

    @property
    def root_address(self) -> str:
        return f"10.214.{SLOT}.{4 * self.index + 1}"

    @property
    def address(self) -> str:
        return f"10.214.{SLOT}.{4 * self.index + 2}"

    @property
    def dir(self) -> Path:
        return H1.dir  # h1's docker.sock and compose tools

    @property
    def private_dir(self) -> Path:
        return FAN_DIR / self.name

    @property
    def host_key(self) -> Path:
        return HOST_KEY


def fanout_host(index: int) -> FanoutHost:
    return FanoutHost(f"f{index}", index)


class FanoutHosts:
    def __init__(self, lab: Lab, count: int, *, black_holed: int = 0) -> None:
        if count + black_holed > MAX_HOSTS:
            raise LabError(f"at most {MAX_HOSTS} fan-out hosts")
        self.lab = lab
        self.hosts = [fanout_host(i) for i in range(count)]
        self.black_holed = [fanout_host(count + i) for i in range(black_holed)]

    def __enter__(self) -> FanoutHosts:
        cleanup()
        try:
            self.start()
        except BaseException:
            cleanup()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        cleanup()

    def start(self) -> None:
        FAN_DIR.mkdir(parents=True, exist_ok=True)
        FAN_DIR.chmod(0o755)
        if not HOST_KEY.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(HOST_KEY)])
        public = " ".join(HOST_KEY.with_suffix(".pub").read_text().split()[:2])
        known = [f"{h.address} {public}\n" for h in self.hosts + self.black_holed]
        KNOWN_HOSTS.write_text("".join(known))
        keys = sshd.keys_paths()
        for host in self.hosts:
            host.private_dir.mkdir(parents=True, exist_ok=True)
            host.private_dir.chmod(0o700)
            netns.create(host)
            sshd.start(host, keys)
        for host in self.black_holed:
            netns.create(host)
            # every reply to the client is dropped: no SYN-ACK, no RST
            run(
                netns.in_netns(
                    host.netns, "ip", "route", "add", "blackhole", f"{host.root_address}/32"
                )
            )
        log(f"fan-out: {len(self.hosts)} sshd hosts, {len(self.black_holed)} black-holed")

    def environment(self, count: int, *, black_holed: bool = False) -> dict[str, Any]:
        """An environment of the first ``count`` hosts (plus the black-holed ones)."""
        keys = sshd.keys_paths()
        hosts = self.hosts[:count] + (self.black_holed if black_holed else [])
        return {
            "hosts": {
                h.name: {
                    "address": h.address,
                    "user": LAB_USER,
                    "private_key": str(keys.client_key),
                    "known_hosts": str(KNOWN_HOSTS),
                    "docker_socket": str(H1.docker_socket),
                    "connect_timeout": CONNECT_TIMEOUT,
                }
                for h in hosts
            }
        }

    def write_inventory(
        self, path: Path, sizes: list[int], *, black_holed_size: int | None = None, **extra: Any
    ) -> Path:
        """The lab's inventory plus ``fanN`` for each N in ``sizes`` (and ``fanNbh``: the
        same N hosts and the black-holed ones)."""
        envs = {f"fan{n}": self.environment(n) for n in sizes}
        if black_holed_size is not None:
            envs[f"fan{black_holed_size}bh"] = self.environment(black_holed_size, black_holed=True)
        return self.lab.write_inventory(path, environments=envs, **extra)

    def login_count(self) -> int:
        return sum(sshd.login_count(h) for h in self.hosts)


def cleanup() -> None:
    """Stop every fan-out sshd and remove every fan-out namespace of this slot."""
    for name in netns.lab_netns_names():
        suffix = name.removeprefix(NETNS_PREFIX)
        if suffix.startswith("f") and suffix[1:].isdigit():
            host = fanout_host(int(suffix[1:]))
            sshd.stop(host)
            netns.destroy(name)


def main(argv: list[str]) -> int:
    if argv[:1] == ["down"]:
        cleanup()
        return 0
    if argv[:1] == ["status"]:
        print(yaml.safe_dump({"namespaces": netns.lab_netns_names()}))
        return 0
    print("usage: python -m tests.lab.fanout down|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
