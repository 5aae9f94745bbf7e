"""Small helpers shared by the lab modules: commands, progress lines, pidfiles, mounts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

_T0 = time.monotonic()


class LabError(RuntimeError):
    """The lab could not be built or torn down; the message says which step."""


def log(message: str) -> None:
    """A progress line with the seconds since the process started."""
    print(f"[lab {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(what: str, *, quiet_below: float = 0.0) -> Iterator[None]:
    """Log how long a step took."""
    t0 = time.monotonic()
    try:
        yield
    except BaseException:
        log(f"{what}: FAILED after {time.monotonic() - t0:.1f}s")
        raise
    elapsed = time.monotonic() - t0
    if elapsed >= quiet_below:
        log(f"{what}: {elapsed:.1f}s")


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_bytes: bytes | None = None,
    timeout: float = 600.0,
) -> subprocess.CompletedProcess[str]:
    """Run argv (never a shell), capture text output; raise LabError with stderr on failure."""
    proc = subprocess.run(
        list(argv),
        input=input_bytes.decode() if input_bytes is not None else None,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise LabError(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n"
            f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
        )
    return proc


def wait_for(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1, what: str
) -> None:
    """Poll predicate until true; LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # noqa: S110 - a predicate that raises is simply not true yet
            pass
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- processes


def cmdline(pid: int) -> list[str]:
    """argv of a live process, [] when it does not exist (or is a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def owned_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in pidfile if that process is alive and its cmdline contains marker."""
    pid = read_pidfile(pidfile)
    if pid is None or not pid_alive(pid):
        return None
    if not any(marker in part for part in cmdline(pid)):
        return None
    return pid


def terminate(pid: int, marker: str, *, timeout: float = 20.0, what: str = "process") -> None:
    """SIGTERM a process we own (cmdline checked), SIGKILL it after timeout; reap if child."""
    if not any(marker in part for part in cmdline(pid)):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if pid_alive(pid):
        log(f"{what} {pid} ignored SIGTERM for {timeout:.0f}s: SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), timeout=10, what=f"{what} {pid} to die")
    _reap(pid)


def stop_pidfile(pidfile: Path, marker: str, *, timeout: float = 20.0, what: str) -> bool:
    """Stop the process named by pidfile if it is ours; remove the pidfile. True if it ran."""
    pid = owned_pid(pidfile, marker)
    if pid is not None:
        terminate(pid, marker, timeout=timeout, what=what)
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()
    return pid is not None


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# ---------------------------------------------------------------- mounts


def mounts_under(*prefixes: Path) -> list[str]:
    """Mount points at or below any prefix, deepest first."""
    found: list[str] = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = fields[1].replace("\\040", " ")
        for prefix in prefixes:
            p = str(prefix)
            if point == p or point.startswith(p.rstrip("/") + "/"):
                found.append(point)
                break
    return sorted(set(found), key=lambda m: (-m.count("/"), m))


def unmount_all(*prefixes: Path) -> None:
    """Unmount everything at or below the prefixes (lazily if busy)."""
    for _ in range(3):
        points = mounts_under(*prefixes)
        if not points:
            return
        for point in points:
            if run(["umount", point], check=False).returncode != 0:
                run(["umount", "-l", point], check=False)
    left = mounts_under(*prefixes)
    if left:
        raise LabError(f"could not unmount: {left}")
