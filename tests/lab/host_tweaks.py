"""What a lab host's SSH sessions see, changed for a scenario and undone after: a made-up
``/proc/meminfo`` in its sshd's own mount namespace, and stat access to Docker's
container logs. Shared by the incident builders and the accuracy corpus."""

from __future__ import annotations

import shutil

from .config import LAB_USER, HostSpec
from .util import LabError, run

FAKE_MEMINFO = "corpus-meminfo"


def _sshd_mounts(host: HostSpec) -> list[str]:
    """argv prefix entering the mount namespace of ``host``'s sshd (``ip netns exec``
    gave it one of its own): what the SSH sessions see, and nothing else on the machine."""
    pid = host.sshd_pidfile.read_text().strip()
    if not pid.isdigit():
        raise LabError(f"no sshd pid in {host.sshd_pidfile}")
    return ["nsenter", "-t", pid, "-m"]


def fake_meminfo(host: HostSpec, text: str) -> None:
    """Make ``host``'s SSH sessions read ``text`` as /proc/meminfo (a bind mount in its
    sshd's own mount namespace; the machine's memory and /proc are not touched)."""
    fake = host.private_dir / FAKE_MEMINFO
    fake.write_text(text)
    fake.chmod(0o644)
    run([*_sshd_mounts(host), "mount", "--bind", str(fake), "/proc/meminfo"])


def clear_fake_meminfo(host: HostSpec) -> None:
    """Undo ``fake_meminfo`` (and any other bind mount on /proc/meminfo of that sshd)."""
    if not host.sshd_pidfile.exists():
        return
    prefix = _sshd_mounts(host)
    for _ in range(10):
        found = run([*prefix, "grep", "-q", " /proc/meminfo ", "/proc/self/mountinfo"], check=False)
        if found.returncode != 0:
            return
        run([*prefix, "umount", "/proc/meminfo"])
    raise LabError(f"{host.name}: /proc/meminfo is still mounted over")


def allow_log_stat(host: HostSpec) -> None:
    """Let the lab's SSH user traverse Docker's ``containers/`` directories on ``host``
    (``x`` only: it can stat a log file, list and read nothing), as a root login or an
    ACL given to a log shipper would: without it the log check judges nothing. An ACL for
    that user where ``setfacl`` exists, else ``o+x``."""
    root = host.data_root
    dirs = [root, root / "containers", *(p for p in (root / "containers").iterdir() if p.is_dir())]
    if shutil.which("setfacl"):
        run(["setfacl", "-m", f"u:{LAB_USER}:x", *map(str, dirs)])
    else:
        for p in dirs:
            p.chmod(p.stat().st_mode | 0o001)


__all__ = ["FAKE_MEMINFO", "allow_log_stat", "clear_fake_meminfo", "fake_meminfo"]
