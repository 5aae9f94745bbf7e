"""Discovery: what a host runs, as typed compose stacks.

Pure functions over already-fetched Engine API objects (no I/O):

- ``discover_stacks(containers, declared) -> HostStacks``: containers grouped by
  compose project into ``DiscoveredStack`` objects (declared stacks first, in
  inventory order, then undeclared projects by name), plus the ``unmanaged``
  containers that carry no compose project label (started with ``docker run``).
  ``declared`` is the inventory's stacks meant for this host (the caller drops
  stacks pinned to another host); a declared stack that does not run here is
  still returned, with ``found=False``. With ``host`` given, only the projects its
  environment owns become stacks (``ResolvedHost.owner_of``); the others are listed
  in ``elsewhere`` with their owner, and unlabelled containers stay out of
  ``unmanaged`` unless the environment owns unlabelled objects on that engine.
- ``parse_database_url(url) -> DatabaseURL``: a Postgres URL, password kept as a
  ``SecretStr`` and never put in ``str()``, ``repr()`` or error messages.
- ``referenced_hosts(env) -> list[HostReference]``: the host names a container's
  environment points at (host, port and scheme only; never the value).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.inventory.config.models import (
    DatabaseRef,
    ResolvedHost,
    ServiceRoles,
    StackConfig,
    normalize_project,
)
from bot.model.docker_objects import (
    COMPOSE_CONFIG_FILES,
    COMPOSE_ENV_FILE,
    COMPOSE_ONEOFF,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    Mount,
)

__all__ = [
    "DatabaseURL",
    "DiscoveredStack",
    "ElsewhereProject",
    "HostReference",
    "HostStacks",
    "Roles",
    "Service",
    "discover_stacks",
    "parse_database_url",
    "referenced_hosts",
]

Role = Literal["app", "database", "proxy"]
POSTGRES_PORT = 5432
DEFAULT_PORTS = {
    "postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379, "amqp": 5672,
    "amqps": 5671, "http": 80, "https": 443, "mysql": 3306, "mongodb": 27017,
}  # fmt: skip
_PG_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?$")
_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<netloc>[^/?#]*)", re.IGNORECASE)
_HOSTPORT = re.compile(
    r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>\d{1,5}))?$"
)
_HOST_KEY = re.compile(r"^(?:PGHOST|.+_HOST(?:NAME)?)$")
_HOST_SUFFIX = re.compile(r"HOST(?:NAME)?$")
_URL_KEY = re.compile(r"^(?:DATABASE_URL|.+_(?:URL|URI|DSN))$")
_DB_IMAGE = re.compile(r"postgres|postgis|timescale")
_NOT_DB_IMAGE = re.compile(r"exporter|backup|bouncer|pool|admin")
_PROXY = re.compile(r"nginx|traefik|caddy|haproxy|envoy")
_WRAPPERS = {"docker-entrypoint.sh", "tini", "dumb-init", "gosu", "su-exec", "--"}
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_EPOCH = datetime.min.replace(tzinfo=UTC)
_UNSPECIFIED = {"0.0.0.0", "::", ""}  # noqa: S104 - listen addresses, not references


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Service(_Frozen):
    """One compose service and its (non one-off) containers."""

    name: str
    containers: tuple[ContainerDetails, ...] = Field(repr=False)  # env values: keep out of logs

    @property
    def running(self) -> bool:
        return any(c.state.running for c in self.containers)

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(c.state.status for c in self.containers)


class Roles(_Frozen):
    """Which service plays which part; ``reasons`` says how each was decided:
    ``"declared"``, ``"inferred: <why>"`` or ``"not found: <why>"``."""

    app: str | None = None
    database: str | None = None
    proxy: str | None = None
    apps: tuple[str, ...] = ()  # every service whose environment points at the database
    reasons: dict[Role, str] = {}


class DiscoveredStack(_Frozen):
    name: str  # declared stack name, else the compose project
    project: str
    declared: bool
    found: bool  # at least one container of the project exists on the host
    roles: Roles
    services: dict[str, Service] = {}
    oneoff: tuple[ContainerDetails, ...] = Field((), repr=False)  # `compose run` containers
    working_dir: str | None = None
    working_dirs: tuple[str, ...] = ()  # every distinct one seen: >1 means a name collision
    config_files: tuple[str, ...] = ()  # absolute
    config_file_sets: tuple[tuple[str, ...], ...] = ()  # every distinct set seen (>1: collision)
    env_files: tuple[str, ...] = ()  # absolute; label, declared, else <working_dir>/.env
    env_file_source: Literal["label", "declared", "implied", "unknown"] = "unknown"
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()  # named volumes mounted (anonymous ones left out)
    migrate_command: tuple[str, ...] = ()
    migration_check_command: tuple[str, ...] = ()
    backup_command: tuple[str, ...] = ()
    required_env: tuple[str, ...] = ()
    database: DatabaseRef = DatabaseRef()

    @property
    def env_file(self) -> str | None:
        return self.env_files[0] if self.env_files else None

    @property
    def containers(self) -> tuple[ContainerDetails, ...]:
        return tuple(c for s in self.services.values() for c in s.containers)


class ElsewhereProject(_Frozen):
    """A compose project on a shared engine that this environment does not own."""

    project: str
    owner: str | None  # the environment that owns it; None: no environment claims it
    containers: int


class HostStacks(_Frozen):
    """The result of ``discover_stacks``."""

    stacks: tuple[DiscoveredStack, ...]
    unmanaged: tuple[ContainerDetails, ...] = Field(repr=False)  # no compose project label
    elsewhere: tuple[ElsewhereProject, ...] = ()  # projects here owned by no/other envs
    unlabelled_elsewhere: int = 0  # unlabelled containers this environment does not own

    def owned(self, container: ContainerDetails) -> bool:
        """Whether ``container`` is one this environment's diagnosis may judge."""
        if container.compose_project:
            return any(s.project == container.compose_project for s in self.stacks if s.found)
        return any(c.id == container.id for c in self.unmanaged)

    def get(self, name: str) -> DiscoveredStack | None:
        return next((s for s in self.stacks if s.name == name), None)


class DatabaseURL(_Frozen):
    scheme: str
    user: str | None = None
    password: SecretStr | None = None
    host: str | None = None
    port: int = POSTGRES_PORT
    dbname: str | None = None
    options: dict[str, str] = {}  # query parameters, never the password

    def redacted(self) -> str:
        """The URL with the password replaced by ``***`` (port always written)."""
        auth = ""
        if self.user is not None or self.password is not None:
            secret = ":***" if self.password is not None else ""
            auth = f"{quote(self.user or '', safe='')}{secret}@"
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        hostport = f"{host}:{self.port}" if host else ""
        path = "/" + quote(self.dbname, safe="") if self.dbname else ""
        query = "?" + urlencode(self.options) if self.options else ""
        return f"{self.scheme}://{auth}{hostport}{path}{query}"


class HostReference(_Frozen):
    """``key`` of an environment refers to ``host`` (nothing else of the value)."""

    key: str
    host: str
    port: int | None = None
    scheme: str | None = None  # None for a bare ``*_HOST`` value

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The host as an IP address, or None for a name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def is_loopback(self) -> bool:
        ip = self.ip
        return self.host.lower() == "localhost" if ip is None else ip.is_loopback


# --- URLs and host references ------------------------------------------------


def parse_database_url(url: str) -> DatabaseURL:
    """Parse a Postgres URL; a ValueError's message never contains the password."""
    match = _URL.match(url.strip())
    if match is None:
        raise ValueError("not a URL of the form scheme://[user[:password]@]host[:port]/dbname")
    scheme = match["scheme"].lower()
    if not _PG_SCHEME.match(scheme):
        raise ValueError(f"not a PostgreSQL URL (scheme {scheme!r})")
    userinfo, _, hostinfo = match["netloc"].rpartition("@")
    user, has_password, password = userinfo.partition(":")
    rest = url.strip()[match.end() :].partition("#")[0]
    path, _, query = rest.partition("?")
    if "," in hostinfo:
        raise ValueError("URLs with several hosts are not supported")
    host: str | None = None
    port = POSTGRES_PORT
    if unquote(hostinfo).startswith("/"):  # a Unix socket directory, percent-encoded
        host = unquote(hostinfo)
    elif hostinfo:
        hp = _HOSTPORT.match(unquote(hostinfo))
        if hp is None or (hp["port"] and not 0 < int(hp["port"]) < 65536):
            raise ValueError("invalid host or port in the database URL")
        host = hp["v6"] or hp["host"]
        port = int(hp["port"]) if hp["port"] else POSTGRES_PORT
    dbname = unquote(path[1:]) if path.startswith("/") and len(path) > 1 else None
    if "@" in path or (dbname is not None and "/" in dbname):
        raise ValueError("invalid database name in the database URL")
    options = dict(parse_qsl(query, keep_blank_values=True))
    query_password = options.pop("password", None)
    host = host or options.pop("host", None)
    secret = unquote(password) if has_password else query_password
    return DatabaseURL(
        scheme=scheme,
        user=unquote(user) or None if userinfo else options.pop("user", None),
        password=None if secret is None else SecretStr(secret),
        host=host,
        port=port,
        dbname=dbname or options.pop("dbname", None),
        options=options,
    )


def _split_hostport(text: str) -> tuple[str, int | None] | None:
    match = _HOSTPORT.match(text.strip())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    return (match["v6"] or match["host"]), port


def referenced_hosts(env: Mapping[str, str]) -> list[HostReference]:
    """Hosts named by ``DATABASE_URL``, ``*_URL``/``*_URI``/``*_DSN`` (URLs),
    ``PGHOST``/``*_HOST``/``*_HOSTNAME`` (bare ``host[:port]``, or libpq's list
    ``a,b``; port also from the sibling ``*_PORT``) and by any value that is a URL
    with a known scheme."""
    refs: list[HostReference] = []
    upper = {k.upper(): v for k, v in env.items()}
    for key in sorted(env):
        value, ukey = env[key].strip(), key.upper()
        url = _URL.match(value)
        if url is not None and (_URL_KEY.match(ukey) or url["scheme"].lower() in DEFAULT_PORTS):
            scheme = url["scheme"].lower()
            hostinfo = url["netloc"].rpartition("@")[2]
            for part in hostinfo.split(","):  # libpq allows several hosts
                split = _split_hostport(unquote(part))
                if split is None or split[0] in _UNSPECIFIED:
                    continue
                default = DEFAULT_PORTS.get(scheme.split("+")[0])
                port = split[1] if split[1] is not None else default
                refs.append(HostReference(key=key, host=split[0], port=port, scheme=scheme))
        elif url is None and _HOST_KEY.match(ukey):
            sibling = upper.get(_HOST_SUFFIX.sub("PORT", ukey), "").strip()
            for part in value.split(","):  # libpq's PGHOST may list several
                split = _split_hostport(part)
                if split is None or split[0] in _UNSPECIFIED:
                    continue
                port = split[1]
                if port is None and sibling.isdigit() and 0 < int(sibling) < 65536:
                    port = int(sibling)
                refs.append(HostReference(key=key, host=split[0], port=port))
    return refs


# --- stacks -----------------------------------------------------------------


def _absolute(paths: Iterable[str], working_dir: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for path in paths:
        path = path.strip()
        if not path:
            continue
        if not posixpath.isabs(path) and working_dir:
            path = posixpath.join(working_dir, path)
        out.append(posixpath.normpath(path))
    return tuple(out)


def _named(mount: Mount) -> bool:
    """A named volume (anonymous ones are named by 64 hex digits)."""
    return mount.type == "volume" and bool(mount.name) and not _ANONYMOUS.match(mount.name or "")


def _image_repo(image: str) -> str:
    """``registry:5000/org/postgres:15@sha256:…`` → ``postgres``."""
    name = image.split("@")[0].rsplit("/", 1)[-1]
    return name.split(":")[0].lower()


def _names(service: Service) -> set[str]:
    """Every name the service answers to: service, container names, aliases."""
    names = {service.name}
    for c in service.containers:
        names.add(c.name)
        for endpoint in c.networks.values():
            names.update(endpoint.aliases)
            names.update(endpoint.dns_names)
    return {n.lower() for n in names}


def _database_reason(service: Service) -> tuple[int, str] | None:
    for c in service.containers:
        repo = _image_repo(c.config.image)
        if _DB_IMAGE.search(repo) and not _NOT_DB_IMAGE.search(repo):
            return 3, f"image {c.config.image}"
    for c in service.containers:
        argv = [posixpath.basename(a) for a in (*c.config.entrypoint, *c.config.cmd)]
        first = next((a for a in argv if a not in _WRAPPERS), "")
        if first in {"postgres", "postmaster"}:
            return 2, f"command {first}"
    for c in service.containers:
        bindings = c.host_config.get("PortBindings") or {}
        if not _NOT_DB_IMAGE.search(_image_repo(c.config.image)) and any(
            p.split("/")[0] == str(POSTGRES_PORT) for p in (*c.config.exposed_ports, *bindings)
        ):
            return 1, f"exposes {POSTGRES_PORT}"
    return None


def _proxy_reason(service: Service) -> tuple[int, str] | None:
    score, why = 0, ""
    if _PROXY.search(service.name.lower()):
        score, why = 2, f"service name {service.name}"
    for c in service.containers:
        if _PROXY.search(_image_repo(c.config.image)):
            return score + 1, f"image {c.config.image}"
    return (score, why) if score else None


def _infer(
    role: Literal["database", "proxy"],
    services: Mapping[str, Service],
    declared: str | None,
    missing: str,
) -> tuple[str | None, str]:
    if declared:
        return declared, "declared"
    infer = _database_reason if role == "database" else _proxy_reason
    candidates = {n: r for n, s in services.items() if (r := infer(s)) is not None}
    if not candidates:
        return None, missing or f"not found: no service looks like a {role}"
    name = min(candidates, key=lambda n: (-candidates[n][0], n))
    return name, f"inferred: {candidates[name][1]}"


def _roles(services: Mapping[str, Service], declared: ServiceRoles, found: bool) -> Roles:
    missing = "" if found else "not found: stack not running"
    db, db_reason = _infer("database", services, declared.database, missing)
    proxy, proxy_reason = _infer("proxy", services, declared.proxy, missing)
    reasons: dict[Role, str] = {"database": db_reason, "proxy": proxy_reason}
    apps: list[str] = []
    if db is not None:
        targets = _names(services[db]) if db in services else {db.lower()}
        for name in sorted(services):
            if name == db:
                continue
            env = {k: v for c in services[name].containers for k, v in c.config.env_map().items()}
            hit = next((r for r in referenced_hosts(env) if r.host.lower() in targets), None)
            if hit is not None:
                apps.append(name)
                reasons.setdefault("app", f"inferred: {hit.key} points at {hit.host} ({db})")
    if declared.app:
        reasons["app"] = "declared"
        apps = [declared.app, *(a for a in apps if a != declared.app)]
    elif not apps:
        reasons["app"] = missing or "not found: no service refers to the database"
    return Roles(
        app=apps[0] if apps else None,
        database=db,
        proxy=proxy,
        apps=tuple(apps),
        reasons=reasons,
    )


def _build(
    name: str, project: str, config: StackConfig | None, containers: Sequence[ContainerDetails]
) -> DiscoveredStack:
    cfg = config or StackConfig()
    newest = sorted(containers, key=lambda c: c.created or _EPOCH, reverse=True)
    labels = newest[0].labels if newest else {}
    seen_dirs = (c.labels.get(COMPOSE_WORKING_DIR, "") for c in newest)
    working_dirs = tuple(dict.fromkeys(d for d in seen_dirs if d))
    working_dir = labels.get(COMPOSE_WORKING_DIR) or cfg.working_dir
    config_files = _absolute(labels.get(COMPOSE_CONFIG_FILES, "").split(","), working_dir)
    file_sets = tuple(
        dict.fromkeys(
            tuple(sorted(_absolute(c.labels[COMPOSE_CONFIG_FILES].split(","), working_dir)))
            for c in newest
            if c.labels.get(COMPOSE_CONFIG_FILES)
            and c.labels.get(COMPOSE_ONEOFF, "False").lower() != "true"
        )
    )
    if not config_files:
        config_files = _absolute(cfg.compose_files, working_dir)
    env_files = _absolute(labels.get(COMPOSE_ENV_FILE, "").split(","), working_dir)
    source: Literal["label", "declared", "implied", "unknown"] = "label"
    if not env_files:
        if cfg.env_file:
            env_files, source = _absolute([cfg.env_file], working_dir), "declared"
        elif working_dir:
            env_files, source = (posixpath.join(working_dir, ".env"),), "implied"
        else:
            source = "unknown"
    grouped: dict[str, list[ContainerDetails]] = {}
    oneoff: list[ContainerDetails] = []
    for c in sorted(containers, key=lambda c: c.name):
        if c.labels.get(COMPOSE_ONEOFF, "False").lower() == "true":
            oneoff.append(c)
        else:
            grouped.setdefault(c.compose_service or c.name, []).append(c)
    services = {n: Service(name=n, containers=tuple(cs)) for n, cs in sorted(grouped.items())}
    return DiscoveredStack(
        name=name,
        project=project,
        declared=config is not None,
        found=bool(containers),
        roles=_roles(services, cfg.services, bool(containers)),
        services=services,
        oneoff=tuple(oneoff),
        working_dir=working_dir,
        working_dirs=working_dirs,
        config_files=config_files,
        config_file_sets=file_sets,
        env_files=env_files,
        env_file_source=source,
        networks=tuple(sorted({n for c in containers for n in c.networks})),
        volumes=tuple(sorted({m.name for c in containers for m in c.mounts if _named(m)})),
        migrate_command=cfg.migrate_command,
        migration_check_command=cfg.migration_check_command,
        backup_command=cfg.backup_command,
        required_env=cfg.required_env,
        database=cfg.database,
    )


def discover_stacks(
    containers: Sequence[ContainerDetails],
    declared: Mapping[str, StackConfig],
    host: ResolvedHost | None = None,
) -> HostStacks:
    """Group ``containers`` into stacks; see the module docstring for the shape."""
    projects: dict[str, list[ContainerDetails]] = {}
    unmanaged: list[ContainerDetails] = []
    for c in containers:
        if c.compose_project:
            projects.setdefault(c.compose_project, []).append(c)
        else:
            unmanaged.append(c)
    stacks: list[DiscoveredStack] = []
    claimed: set[str] = set()
    for name, cfg in declared.items():
        wanted = cfg.compose_project or name
        project = next((p for p in projects if p == wanted), None) or next(
            (p for p in projects if normalize_project(p) == normalize_project(wanted)), None
        )
        if project is not None:
            claimed.add(project)
        stacks.append(_build(name, project or wanted, cfg, projects.get(project or "", [])))
    elsewhere: list[ElsewhereProject] = []
    for project in sorted(set(projects) - claimed):
        owner = None if host is None else host.owner_of(project)
        if host is None or owner == host.env:
            stacks.append(_build(project, project, None, projects[project]))
        else:
            elsewhere.append(
                ElsewhereProject(project=project, owner=owner, containers=len(projects[project]))
            )
    unmanaged.sort(key=lambda c: c.name)
    foreign_unlabelled = 0
    if host is not None and not host.owns(None):
        foreign_unlabelled, unmanaged = len(unmanaged), []
    return HostStacks(
        stacks=tuple(stacks),
        unmanaged=tuple(unmanaged),
        elsewhere=tuple(elsewhere),
        unlabelled_elsewhere=foreign_unlabelled,
    )
