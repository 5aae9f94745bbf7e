"""Strict host-key policy: known_hosts decides; a refusal says which key and why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh

from bot.inventory.config.models import ResolvedHost
from bot.model.errors import HostKeyNotVerified, HostKeyRejected, HostUnreachable

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()


def known_hosts_path(host: ResolvedHost) -> Path:
    """The file that vouches for ``host``; refusing to go on without one."""
    path = host.known_hosts or DEFAULT_KNOWN_HOSTS
    if not path.is_file():
        raise HostKeyNotVerified(
            host.label,
            f"no known_hosts file at {path}: refusing to connect to a host whose key "
            "nobody vouched for (add its key with ssh-keyscan after checking it)",
        )
    return path


async def explain_rejection(host: ResolvedHost, known_hosts: Path) -> HostKeyRejected:
    """Ask the host for its key (no login) and say whether it is unknown or changed."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(host.address, host.port, config=[]),
            timeout=host.connect_timeout,
        )
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise HostUnreachable(host.label, f"host key check failed: {exc}") from exc
    fingerprint = key.get_fingerprint("sha256") if key is not None else "no key"
    entries = asyncssh.read_known_hosts(str(known_hosts))
    host_keys, ca_keys, *_ = entries.match(host.address, host.address, host.port)
    changed = bool(host_keys or ca_keys)
    return HostKeyRejected(
        host.label, changed=changed, fingerprint=fingerprint, known_hosts=str(known_hosts)
    )
