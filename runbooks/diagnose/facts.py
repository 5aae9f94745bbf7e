"""What the diagnosis reads from one host, gathered once, then judged by pure checks.

Gathering (gather.py) is the only part that talks to the host; every check in
checks_*.py is a pure function ``(HostFacts) -> list[Finding]``, so it can be
tested with facts built by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.inventory.discovery import HostStacks
from bot.model.docker_objects import ContainerDetails, EngineInfo, NetworkSummary, Volume
from runbooks.diagnose.db_facts import DataFilesystem, DbActivity


class _Facts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilesystemFacts(_Facts):
    """One filesystem as ``df`` reports it, with the paths asked about that live on it."""

    mount: str
    paths: tuple[str, ...]  # e.g. ("/", "/var/lib/docker")
    size: int
    used: int
    available: int
    inodes_total: int | None = None
    inodes_used: int | None = None

    @property
    def percent_used(self) -> float:
        total = self.used + self.available
        return 100.0 * self.used / total if total else 0.0

    @property
    def inodes_percent_used(self) -> float | None:
        if not self.inodes_total or self.inodes_used is None:
            return None
        return 100.0 * self.inodes_used / self.inodes_total


class EnvFileFacts(_Facts):
    """An env file on the host, parsed like compose does (values kept in memory only)."""

    path: str
    values: dict[str, str] = Field(default_factory=dict, repr=False)
    error: str | None = None  # why it could not be read


class DatabaseFacts(_Facts):
    """What connecting to a stack's database with the app's own credentials showed."""

    stack: str
    app_service: str | None
    db_service: str | None
    db_container: str | None
    host: str | None  # the host name the app uses (e.g. "db")
    address: str | None  # where stackbot dialled (the container's IP on the host)
    port: int = 5432
    dbname: str | None = None
    user: str | None = None
    # where the app's environment said the database is (runbooks.diagnose.dbconfig): key
    # names only, never values; "no_url": it said nothing we understand (see ``error``)
    source: str | None = None  # "DATABASE_URL", "PG*", "DB_* (prefix SHOP_DB_)"
    keys: tuple[str, ...] = ()  # the app's keys read
    db_keys: tuple[str, ...] = ()  # the database service's POSTGRES_* keys filling gaps
    # "exhausted": the server refused the connection for want of a free slot
    # ("too many clients already", "remaining connection slots are reserved")
    status: Literal["ok", "missing", "unreachable", "refused", "exhausted", "no_url", "skipped"] = (
        "skipped"
    )
    tables: int | None = None  # tables in the app's schemas (not pg_catalog / information_schema)
    cluster_initialized_at: datetime | None = None  # from pg_control_system()
    error: str | None = None  # redacted
    activity: DbActivity | None = None  # sessions, connection use, lock waits (db_facts)
    data_filesystem: DataFilesystem | None = None  # df of the data dir in the db container


class Resolution(_Facts):
    """Whether ``hostname`` resolves inside ``container`` (checked with its own resolver)."""

    container: str
    hostname: str
    resolved: bool | None  # None: could not be checked (no getent, container not running)
    addresses: tuple[str, ...] = ()


class MigrationCheck(_Facts):
    """The stack's migration-check command, run in its app container."""

    stack: str
    container: str
    argv: tuple[str, ...]
    exit_code: int | None
    output: str = ""  # redacted, tail


class ComposeServices(_Facts):
    """The services a compose project's files define now (``compose config --services``).

    Read in the project's working dir with the compose files its newest container
    was created from; service names only, never the file itself.
    """

    project: str
    working_dir: str | None
    config_files: tuple[str, ...]
    services: tuple[str, ...] | None  # None: could not be read, see ``error``
    error: str | None = None  # why not (one line, redacted)
    named_volumes: tuple[str, ...] = ()  # volume keys the files give an explicit `name:`
    stale: tuple[str, ...] = ()  # containers compose would recreate now (files changed)
    stale_by: str | None = None  # how that was read; None: it could not be told
    service_env_files: dict[str, tuple[str, ...]] = {}  # service → its `env_file:` (absolute)
    # service → keys its `environment:` sets itself (they win over env files)
    service_environment_keys: dict[str, frozenset[str]] = {}
    env_files_read: tuple[EnvFileFacts, ...] = Field((), repr=False)  # those files, parsed
    # service → `env_file:` entries (absolute, required ones) that do not exist on the host
    missing_env_files: dict[str, tuple[str, ...]] = {}
    optional_env_files: tuple[str, ...] = ()  # `env_file:` entries with `required: false`
    # networks compose would create or reuse for the files (not external): name → compose key
    expected_networks: dict[str, str] = {}


class PathFacts(_Facts):
    """A path on the host as one ``stat`` saw it: a bind mount's source or a container log."""

    path: str
    kind: Literal["dir", "file", "missing", "unknown"]  # unknown: not readable by the user
    empty: bool | None = None  # for a directory: it has no entries (None: could not list)
    size: int | None = None  # bytes, for a file
    modified: datetime | None = None  # mtime


class MemoryFacts(_Facts):
    """``/proc/meminfo`` of the host, in bytes."""

    total: int
    available: int
    swap_total: int = 0
    swap_free: int = 0

    @property
    def available_percent(self) -> float:
        return 100.0 * self.available / self.total if self.total else 100.0

    @property
    def swap_used(self) -> int:
        return max(self.swap_total - self.swap_free, 0)

    @property
    def swap_percent(self) -> float:
        return 100.0 * self.swap_used / self.swap_total if self.swap_total else 0.0


class PortHolder(_Facts):
    """A host port a container of another environment (or none) publishes on this engine."""

    project: str | None  # its compose project; None: started with docker run
    host_ip: str
    host_port: str
    proto: str
    running: bool


class HostFacts(_Facts):
    environment: str
    host: str
    now: datetime
    info: EngineInfo
    uptime_seconds: float | None = None
    filesystems: tuple[FilesystemFacts, ...] = ()
    docker_reclaimable: int | None = None  # bytes `docker system df` says could be reclaimed
    containers: tuple[ContainerDetails, ...] = Field(default=(), repr=False)
    networks: tuple[NetworkSummary, ...] = ()
    volumes: tuple[Volume, ...] = ()  # from /system/df: with UsageData sizes
    stacks: HostStacks
    env_files: dict[str, EnvFileFacts] = Field(default_factory=dict, repr=False)  # by path
    proxy_logs: dict[str, str] = Field(default_factory=dict, repr=False)  # container → tail
    # the last lines of down or restarting containers (not proxies: see proxy_logs), redacted
    container_logs: dict[str, str] = Field(default_factory=dict, repr=False)
    resolutions: tuple[Resolution, ...] = ()
    databases: tuple[DatabaseFacts, ...] = ()
    migration_checks: tuple[MigrationCheck, ...] = ()
    compose_services: tuple[ComposeServices, ...] = ()  # one per compose project found
    unfinished: tuple[str, ...] = ()  # gathering steps cut off by the deadline
    # bind mount sources and unrotated json-file logs, by path (one stat over SSH)
    paths: dict[str, PathFacts] = Field(default_factory=dict)
    memory: MemoryFacts | None = None  # /proc/meminfo; None: not read
    image_tags: dict[str, str] = Field(default_factory=dict)  # "repo:tag" → image id, now
    foreign_ports: tuple[PortHolder, ...] = ()  # published by containers not judged here
    # listening TCP/UDP sockets ("ip:port/proto"), read only when a container could not
    # bind its port; None: not read
    listening: tuple[str, ...] | None = None

    def container(self, name: str) -> ContainerDetails | None:
        return next((c for c in self.containers if c.name == name), None)

    def defined_services(self, project: str) -> ComposeServices | None:
        return next((s for s in self.compose_services if s.project == project), None)
