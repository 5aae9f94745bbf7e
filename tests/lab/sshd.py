"""The SSH side of the lab: the login user, client keys, known_hosts, one sshd per host."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from .compose_tools import session_env
from .config import DOCKER_GROUP, KEYS_DIR, LAB_USER, RUN_DIR, SSH_DIR, HostSpec
from .netns import in_netns
from .util import LabError, owned_pid, run, stop_pidfile, wait_for

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class ClientKeys:
    client_key: Path
    wrong_client_key: Path
    known_hosts: Path
    wrong_known_hosts: Path
    authorized_keys: Path


def keys_paths() -> ClientKeys:
    return ClientKeys(
        client_key=KEYS_DIR / "client_ed25519",
        wrong_client_key=KEYS_DIR / "wrong_client_ed25519",
        known_hosts=KEYS_DIR / "known_hosts",
        wrong_known_hosts=KEYS_DIR / "wrong_known_hosts",
        authorized_keys=SSH_DIR / "authorized_keys",
    )


def ensure_user() -> None:
    """System user stackbot-lab in group docker, usable by sshd with UsePAM no."""
    try:
        grp.getgrnam(DOCKER_GROUP)
    except KeyError:
        run(["groupadd", "--system", DOCKER_GROUP])
    try:
        pwd.getpwnam(LAB_USER)
    except KeyError:
        run([
            "useradd", "--system", "--user-group", "--no-create-home",
            "--home-dir", str(RUN_DIR / "home"), "--shell", "/bin/sh",
            "--groups", DOCKER_GROUP, LAB_USER,
        ])  # fmt: skip
    entry = pwd.getpwnam(LAB_USER)
    if DOCKER_GROUP not in [g.gr_name for g in grp.getgrall() if LAB_USER in g.gr_mem]:
        run(["usermod", "-aG", DOCKER_GROUP, LAB_USER])
    with open("/etc/shadow") as f:
        locked = any(
            line.startswith(f"{LAB_USER}:") and line.split(":")[1].startswith("!") for line in f
        )
    if locked:
        run(["usermod", "-p", "*", LAB_USER])
    home = Path(entry.pw_dir)
    if home.is_relative_to(RUN_DIR):
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        home.chmod(0o750)


def _keygen(path: Path, comment: str) -> None:
    if path.exists() and path.with_suffix(".pub").exists():
        return
    for p in (path, path.with_suffix(".pub")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _pub(path: Path) -> str:
    kind, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {blob}"


def ensure_keys(hosts: list[HostSpec]) -> ClientKeys:
    """Client keys, host keys, authorized_keys and the two known_hosts files."""
    keys = keys_paths()
    KEYS_DIR.mkdir(parents=True, exist_ok=True)
    KEYS_DIR.chmod(0o700)
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    SSH_DIR.chmod(0o755)
    _keygen(keys.client_key, "stackbot-lab client")
    _keygen(keys.wrong_client_key, "stackbot-lab wrong client")
    wrong_host_key = KEYS_DIR / "wrong_host_ed25519"
    _keygen(wrong_host_key, "stackbot-lab wrong host key")
    keys.authorized_keys.write_text(_pub(keys.client_key) + " stackbot-lab-client\n")
    keys.authorized_keys.chmod(0o644)
    right, wrong = [], []
    for host in hosts:
        host.private_dir.mkdir(parents=True, exist_ok=True)
        host.private_dir.chmod(0o700)
        _keygen(host.host_key, f"stackbot-lab {host.name} host key")
        right.append(f"{host.address} {_pub(host.host_key)}\n")
        wrong.append(f"{host.address} {_pub(wrong_host_key)}\n")
    keys.known_hosts.write_text("".join(right))
    keys.wrong_known_hosts.write_text("".join(wrong))
    return keys


def write_config(host: HostSpec, keys: ClientKeys) -> None:
    host.sshd_config.write_text(
        "\n".join(
            [
                f"ListenAddress {host.address}:22",
                f"HostKey {host.host_key}",
                f"PidFile {host.sshd_pidfile}",
                f"AuthorizedKeysFile {keys.authorized_keys}",
                f"AllowUsers {LAB_USER}",
                "PermitRootLogin no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "AuthenticationMethods publickey",
                "AllowStreamLocalForwarding yes",
                "AllowTcpForwarding yes",
                "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
                "LogLevel VERBOSE",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "MaxStartups 64:30:128",
                "MaxSessions 64",
                "Subsystem sftp internal-sftp",
                # which compose the host has (tests/lab/compose_tools.py)
                "SetEnv " + " ".join(f"{k}={v}" for k, v in session_env(host).items()),
                "",
            ]
        )
    )


def sshd_pid(host: HostSpec) -> int | None:
    return owned_pid(host.sshd_pidfile, str(host.sshd_config))


def start(host: HostSpec, keys: ClientKeys) -> None:
    if sshd_pid(host) is not None:
        return
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    write_config(host, keys)
    with contextlib.suppress(FileNotFoundError):
        host.sshd_pidfile.unlink()
    host.sshd_log.write_text("")  # login_count() counts since this start
    run(in_netns(host.netns, SSHD, "-t", "-f", str(host.sshd_config)))
    run(in_netns(host.netns, SSHD, "-f", str(host.sshd_config), "-E", str(host.sshd_log)))
    wait_for(lambda: sshd_pid(host) is not None, timeout=10, what=f"sshd of {host.name}")


def stop(host: HostSpec) -> None:
    stop_pidfile(host.sshd_pidfile, str(host.sshd_config), timeout=10, what="sshd")


def login_count(host: HostSpec) -> int:
    try:
        text = host.sshd_log.read_text(errors="replace")
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if "Accepted publickey" in line)


def which_ok() -> None:
    for tool in ("ssh-keygen", SSHD):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is missing: apt-get install -y openssh-server")
