"""Network namespaces with a veth pair: one per lab host."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from .config import NETNS_PREFIX, HostSpec
from .util import LabError, cmdline, log, pid_alive, run


def netns_path(name: str) -> Path:
    return Path("/var/run/netns") / name


def netns_exists(name: str) -> bool:
    return netns_path(name).exists()


def lab_netns_names() -> list[str]:
    """Our namespaces (by prefix) that exist now."""
    out = run(["ip", "netns", "list"], check=False).stdout
    return [
        line.split()[0]
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0].startswith(NETNS_PREFIX)
    ]


def lab_links() -> list[str]:
    """Our root-side veths (by prefix) that exist now."""
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            name = parts[1].strip().split("@", 1)[0]
            if name.startswith(NETNS_PREFIX):
                names.append(name)
    return names


def in_netns(name: str, *argv: str) -> list[str]:
    """argv to run a (non-dockerd) program inside the netns."""
    return ["ip", "netns", "exec", name, *argv]


def create(host: HostSpec) -> None:
    """Namespace, veth pair, addresses, lo up. Idempotent only after destroy()."""
    ns = host.netns
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "addr", "add", f"{host.root_address}/30", "dev", host.veth])
    run(["ip", "link", "set", host.veth, "up"])
    run(in_netns(ns, "ip", "link", "set", "lo", "up"))
    run(in_netns(ns, "ip", "addr", "add", f"{host.address}/30", "dev", "eth0"))
    run(in_netns(ns, "ip", "link", "set", "eth0", "up"))


def pids_in(name: str) -> list[int]:
    out = run(["ip", "netns", "pids", name], check=False).stdout
    return [int(tok) for tok in out.split() if tok.isdigit()]


def kill_all_in(name: str, *, timeout: float = 10.0) -> None:
    """Every process in our namespace is one the lab started: TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for p in pids_in(name) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            log(f"netns {name}: {signal.Signals(sig).name} leftover pid {pid} {cmdline(pid)[:3]}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.1)


def destroy(name: str) -> None:
    """Kill what is left inside, delete the namespace and our root-side veth."""
    if netns_exists(name):
        kill_all_in(name)
        run(["ip", "netns", "delete", name], check=False)
    # The veth dies with the namespace; remove it if an old run left only the root side.
    if name in lab_links():
        run(["ip", "link", "delete", name], check=False)
    if netns_exists(name):
        raise LabError(f"could not delete network namespace {name}")
