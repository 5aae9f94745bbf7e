"""Volume checks: where each database keeps its data, and data left behind.

Pure functions over ``HostFacts``. The *database containers* are the current
containers of each stack's database service (running ones, else the newest),
plus unmanaged containers running a Postgres image. A database's *data dir* is
its ``PGDATA`` (default ``/var/lib/postgresql/data``); the mount that holds it
is the one whose destination is the data dir or one of its parents.

Sizes come from ``/system/df`` (``UsageData.Size``; -1 or absent: unknown). A
local volume's ``CreatedAt`` is the modification time of its data directory,
not its creation time (for Postgres: its last start or stop). It decides one
thing only, for a volume no container mounts: whether the current database's
cluster was initialised after that volume was last used (``volume.orphaned_data``).

How full a database's data filesystem is comes from one ``df`` in its container
(``DatabaseFacts.data_filesystem``): ``volume.nearly_full`` reports a filesystem of its
own; one of the host's (``/``, Docker's data root) is ``disk.low``'s, which names the
databases on it (``databases_on``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.model import units
from bot.model.docker_objects import (
    COMPOSE_PROJECT,
    COMPOSE_VOLUME,
    COMPOSE_WORKING_DIR,
    ContainerDetails,
    Mount,
    Volume,
)
from bot.model.findings import Finding, Fix, Severity, make_finding
from runbooks.diagnose.db_facts import DataFilesystem
from runbooks.diagnose.facts import FilesystemFacts, HostFacts
from runbooks.diagnose.subject import container_subject, subject

__all__ = [
    "CHECKS",
    "SCHEMA_ALLOWANCE",
    "VOLUME_CRITICAL_PERCENT",
    "VOLUME_WARNING_PERCENT",
    "born_after",
    "check_ephemeral_data",
    "check_orphaned_data",
    "check_project_prefixed",
    "check_unused_volumes",
    "check_volume_nearly_full",
    "cluster_born",
    "databases_on",
    "host_filesystem",
]

DEFAULT_PGDATA = "/var/lib/postgresql/data"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # set by Docker >= 23
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_POSTGRES_IMAGE = re.compile(r"postgres|postgis|timescale")
_NOT_POSTGRES_IMAGE = re.compile(r"exporter|backup|bouncer|pool|admin")
# Name keys too generic to tie two volumes together on their own.
_GENERIC_KEYS = frozenset({"data", "db", "database", "volume", "vol", "storage", "files"})
# Words that make an unmounted volume of the same project look like database data.
# Words that say nothing about which app a project is (environments, tooling).
_COMMON_WORDS = frozenset(
    {
        "staging", "stage", "prod", "production", "dev", "develop", "development", "test",
        "testing", "qa", "uat", "preview", "local", "app", "api", "web", "docker", "compose",
        "deploy", "stack", "main", "default", "data", "postgres", "postgresql", "backend",
        "frontend", "server", "db", "database", "volume", "new", "old",
    }
)  # fmt: skip
_DB_WORDS = re.compile(r"postgres|pg|db|database|sql")
_WRAPPERS = frozenset({"docker-entrypoint.sh", "tini", "dumb-init", "gosu", "su-exec", "--"})
_EPOCH = datetime.min.replace(tzinfo=UTC)
# A migration gives a fresh cluster a schema (catalog rows, empty relations, and maybe one
# more 16 MiB WAL segment): a volume born after the orphan was last used may grow by this
# much and still count as emptier than the orphan.
SCHEMA_ALLOWANCE = 16 * 1024 * 1024
# volume.nearly_full: a database's own data filesystem this full (percent used, as df)
VOLUME_WARNING_PERCENT = 90.0
VOLUME_CRITICAL_PERCENT = 97.0
_SAME_SIZE = 1024 * 1024
_CREATED_NOTE = (
    "CreatedAt of a local volume is the last modification time of its data directory, "
    "not its creation time"
)


@dataclass(frozen=True)
class _Database:
    container: ContainerDetails
    data_dir: str
    mount: Mount | None  # the mount holding the data dir


# --- helpers -------------------------------------------------------------------


def _image_repo(image: str) -> str:
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()


def _looks_like_postgres(c: ContainerDetails) -> bool:
    repo = _image_repo(c.config.image)
    if _POSTGRES_IMAGE.search(repo) and not _NOT_POSTGRES_IMAGE.search(repo):
        return True
    argv = [posixpath.basename(a) for a in (*c.config.entrypoint, *c.config.cmd)]
    first = next((a for a in argv if a not in _WRAPPERS), "")
    return first in {"postgres", "postmaster"}


def _current(containers: Iterable[ContainerDetails]) -> list[ContainerDetails]:
    items = list(containers)
    running = [c for c in items if c.state.running]
    if running or not items:
        return running
    return [max(items, key=lambda c: c.created or _EPOCH)]


def _covers(destination: str, path: str) -> bool:
    dest = posixpath.normpath(destination)
    return path == dest or path.startswith(dest.rstrip("/") + "/")


def _database(c: ContainerDetails) -> _Database:
    data_dir = posixpath.normpath(c.config.env_map().get("PGDATA") or DEFAULT_PGDATA)
    covering = [m for m in c.mounts if _covers(m.destination, data_dir)]
    mount = max(covering, key=lambda m: len(m.destination), default=None)
    return _Database(container=c, data_dir=data_dir, mount=mount)


def _databases(facts: HostFacts) -> list[_Database]:
    """The database containers of the host, each with its data dir and mount."""
    found: dict[str, ContainerDetails] = {}
    for stack in facts.stacks.stacks:
        role = stack.roles.database
        if role and role in stack.services:
            for c in _current(stack.services[role].containers):
                found[c.id] = c
    for c in _current_unmanaged(facts):
        found.setdefault(c.id, c)
    return [_database(c) for c in sorted(found.values(), key=lambda c: c.name)]


def _current_unmanaged(facts: HostFacts) -> list[ContainerDetails]:
    return [c for c in facts.stacks.unmanaged if _looks_like_postgres(c) and c.state.running]


def _volumes(facts: HostFacts) -> dict[str, Volume]:
    return {v.name: v for v in facts.volumes}


def _mounted(facts: HostFacts) -> dict[str, list[str]]:
    """Volume name → the containers (running or not) that mount it."""
    users: dict[str, list[str]] = {}
    for c in facts.containers:
        for m in c.mounts:
            if m.type == "volume" and m.name:
                users.setdefault(m.name, []).append(c.name)
    return users


def _anonymous(name: str, volume: Volume | None) -> bool:
    if volume is not None and volume.compose_volume is not None:
        return False
    labelled = volume is not None and ANONYMOUS_LABEL in volume.labels
    return labelled or bool(_ANONYMOUS.match(name))


def _size(volume: Volume | None) -> int | None:
    if volume is None or volume.usage is None or volume.usage.size < 0:
        return None
    return volume.usage.size


def human_size(size: int | None) -> str:
    return "unknown size" if size is None else units.human_size(size)


def _created(volume: Volume | None) -> str | None:
    return volume.created_at.isoformat() if volume and volume.created_at else None


def _key(volume: Volume) -> str:
    """The volume's name without its project: the compose volume key, else the name
    minus ``<project>_``, else the name."""
    if volume.compose_volume:
        return volume.compose_volume
    project = volume.compose_project
    if project and volume.name.startswith(f"{project}_"):
        return volume.name[len(project) + 1 :]
    return volume.name


def _suffixes(name: str) -> set[str]:
    """``a_b_c`` → {``a_b_c``, ``b_c``, ``c``}: the name after each possible project prefix."""
    parts = name.split("_")
    return {"_".join(parts[i:]) for i in range(len(parts))}


@dataclass(frozen=True)
class _Match:
    why: str
    old_project: str | None  # None: the volumes' names alone tie them (no project to relate)


def _related(current: Volume, other: Volume) -> _Match | None:
    """Why ``other`` looks like an earlier copy of ``current`` (None: it does not)."""
    if (
        current.compose_volume
        and other.compose_volume == current.compose_volume
        and other.compose_project != current.compose_project
    ):
        return _Match(
            f"same compose volume {current.compose_volume!r} under project "
            f"{other.compose_project or '(none)'}",
            other.compose_project,
        )
    mine, theirs = _key(current), _key(other)
    if theirs == other.name and current.name.endswith(f"_{other.name}"):
        # ``postgres_data`` (explicit name) then ``<project>_postgres_data``, or back.
        return _Match(f"{current.name} is {other.name} with a project prefix", None)
    if mine == current.name and other.name.endswith(f"_{current.name}"):
        return _Match(f"{other.name} is {current.name} with a project prefix", None)
    for key in (mine, theirs):
        if key.lower() in _GENERIC_KEYS or len(key) < 4:
            continue
        if key in _suffixes(other.name) and key in _suffixes(current.name):
            prefix = other.name[: -len(key) - 1] if other.name.endswith(f"_{key}") else None
            return _Match(
                f"same name after the project prefix: {key}", other.compose_project or prefix
            )
    return None


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if len(t) >= 3} - _COMMON_WORDS


def _relation(facts: HostFacts, db: ContainerDetails, old_project: str) -> str | None:
    """What ties project ``old_project`` to the database's own stack, if anything: a
    shared word in the project names (``simfab`` / ``simfab-facelift``), the old name
    in the stack's container, service or network names, working directory or
    environment (``POSTGRES_DB=multivendor``), or leftover containers of the old
    project in the same compose directory. Two unrelated apps that both call their
    volume ``postgres_data`` are not tied."""
    project = db.compose_project
    stack = next((s for s in facts.stacks.stacks if project and s.project == project), None)
    containers = list(stack.containers) if stack is not None else [db]
    shared = _tokens(old_project) & (
        _tokens(project or "") | {t for c in containers for t in _tokens(c.name)}
    )
    if shared:
        return f"project {old_project} shares the word {sorted(shared)[0]!r} with this stack"
    old = old_project.lower()
    if len(old) >= 4 and old not in _COMMON_WORDS:
        places = {
            "names": [c.name for c in containers]
            + [c.compose_service or "" for c in containers]
            + [n for c in containers for n in c.networks],
            "compose directory": list(stack.working_dirs) if stack is not None else [],
            "environment": [v for c in containers for v in c.config.env_map().values()],
        }
        for place, values in places.items():
            if any(old in value.lower() for value in values):
                return f"this stack's {place} mention {old_project}"
    if stack is not None and stack.working_dirs:
        old_dirs = {
            c.labels.get(COMPOSE_WORKING_DIR)
            for c in facts.containers
            if c.compose_project == old_project
        }
        if old_dirs & set(stack.working_dirs):
            return f"project {old_project} was run from the same compose directory"
    return None


def _declared_elsewhere(facts: HostFacts, project: str | None, own: str | None) -> bool:
    """``project`` is another stack the inventory declares on this host (another
    environment, not a leftover)."""
    return project is not None and any(
        s.declared and s.project == project and s.project != own for s in facts.stacks.stacks
    )


# --- volume.orphaned_data ------------------------------------------------------------


@dataclass(frozen=True)
class _Orphan:
    volume: Volume
    why: str
    # the current cluster was initialised after the orphan was last used (True), before
    # it (False: the current volume holds that data or older, e.g. restored), or unknown
    born_after: bool | None


def cluster_born(facts: HostFacts, c: ContainerDetails) -> datetime | None:
    """When the cluster ``c`` serves was initialised (``pg_control_system()``), if read."""
    return next(
        (
            d.cluster_initialized_at
            for d in facts.databases
            if d.db_container == c.name and d.cluster_initialized_at is not None
        ),
        None,
    )


def born_after(born: datetime | None, other: Volume) -> bool | None:
    """Whether a cluster initialised at ``born`` is younger than ``other``'s last use (its
    ``CreatedAt``: the last change of its data directory, i.e. its server's last start or
    stop; both in whole seconds); None when either time is unknown."""
    if born is None or other.created_at is None:
        return None
    return born >= other.created_at.replace(microsecond=0)


def _orphan_candidates(
    facts: HostFacts, db: _Database, volumes: dict[str, Volume], mounted: dict[str, list[str]]
) -> list[_Orphan]:
    c = db.container
    current_name = db.mount.name if db.mount and db.mount.type == "volume" else None
    current = volumes.get(current_name) if current_name else None
    named = current_name is not None and not _anonymous(current_name, current)
    born = cluster_born(facts, c)
    out: list[_Orphan] = []
    for other in volumes.values():
        if other.name == current_name or other.name in mounted or _anonymous(other.name, other):
            continue
        if _declared_elsewhere(facts, other.compose_project, c.compose_project):
            continue
        if named:
            if current is None:
                continue
            match = _related(current, other)
            why = match.why if match else None
            if match is not None and match.old_project is not None:
                relation = _relation(facts, c, match.old_project)
                why = f"{match.why}; {relation}" if relation else None
        else:
            # Data on an anonymous volume or in the container layer: an unmounted volume of
            # the same project whose name says database is the likely previous home.
            project = c.compose_project
            same = project is not None and (
                other.compose_project == project or other.name.startswith(f"{project}_")
            )
            why = (
                f"unmounted volume of project {project}"
                if same and _DB_WORDS.search(_key(other).lower())
                else None
            )
        if why is None:
            continue
        size, base = _size(other), (_size(current) if current is not None else None)
        if size is None or size <= 0:
            continue
        after = born_after(born, other) if named else None
        if after is False:
            continue  # the cluster in use predates the orphan's last use: not the newer one
        if named:
            # Born after the orphan was last used (seed 000's order): a schema does not make
            # it the fuller one. Otherwise only sizes speak.
            allowance = SCHEMA_ALLOWANCE if after else 0
            if base is None or size + allowance <= base:
                continue
        elif base is not None and size <= base:
            continue
        out.append(_Orphan(other, why, after))
    return sorted(out, key=lambda o: (-(_size(o.volume) or 0), o.volume.name))


def check_orphaned_data(facts: HostFacts) -> list[Finding]:
    """``volume.orphaned_data``: a database's current data volume V, and another volume O
    that no container mounts (running or not), that is V's earlier copy: the same
    compose volume key under another project, or the same name after the project
    prefix (``multivendor_postgres_data`` vs ``indexo-staging_postgres_data``;
    generic keys such as ``data`` alone do not count), and that holds more.

    Which is newer and emptier: when the diagnosis read V's cluster initialisation
    time (``db.*`` facts), a cluster initialised before O was last used (O's
    ``CreatedAt``) is not the newer one: V holds O's data or older (after
    ``volume.restore``), nothing is reported. A cluster initialised after it is seed
    000's order: O is reported while it is larger than V less ``SCHEMA_ALLOWANCE``
    (a migration of the empty V does not hide it). With the time unknown, O must be
    larger than V (both sizes known). When the data is on an anonymous volume or in the
    container layer, O is an unmounted volume of the same compose project with a
    database-like name. Volumes of another stack the inventory declares on this host
    are left out. Fixes: back O up; and, when the order is known (V born after O's last
    use), ``volume.restore`` (destructive) copies O back into V after archiving V."""
    volumes, mounted = _volumes(facts), _mounted(facts)
    findings: list[Finding] = []
    for db in _databases(facts):
        c = db.container
        current_name = db.mount.name if db.mount and db.mount.type == "volume" else None
        current = volumes.get(current_name) if current_name else None
        where = current_name or ("a tmpfs" if db.mount else "the container layer")
        born = cluster_born(facts, c)
        for orphan in _orphan_candidates(facts, db, volumes, mounted):
            other = orphan.volume
            key = c.compose_service or "db"
            summary = (
                f"archive {other.name} first. To use it again, declare it in the compose file "
                f"as an external volume (name: {other.name}, external: true) mounted at "
                f"{db.data_dir} for service {key}, then recreate that service; or copy it "
                f"back into {where} (volume.restore)"
            )
            fixes = [
                Fix(
                    action="volume.backup",
                    params={"host": facts.host, "volume": other.name},
                    summary=summary,
                )
            ]
            if orphan.born_after and current_name:
                fixes.append(
                    Fix(
                        action="volume.restore",
                        params={"host": facts.host, "container": c.name, "volume": other.name},
                        destructive=True,
                        summary=f"stop {c.name}, archive {current_name}, copy {other.name} "
                        f"into it, start {c.name} and count the rows",
                    )
                )
            findings.append(
                make_finding(
                    "volume.orphaned_data",
                    Severity.CRITICAL,
                    f"{c.name} keeps its data on {where} ({human_size(_size(current))}) while "
                    f"unmounted volume {other.name} holds {human_size(_size(other))}",
                    container_subject(facts, c, volume=other.name),
                    fixes=tuple(fixes),
                    db_container=c.name,
                    data_dir=db.data_dir,
                    current_volume=current_name,
                    current_volume_created=_created(current),
                    current_volume_size=_size(current),
                    current_cluster_initialized=born.isoformat() if born else None,
                    orphaned_volume=other.name,
                    orphaned_volume_project=other.compose_project,
                    orphaned_volume_created=_created(other),
                    orphaned_volume_size=_size(other),
                    match=orphan.why,
                    order=(
                        None
                        if orphan.born_after is None
                        else f"the cluster on {where} was initialised after {other.name} "
                        "was last used"
                    ),
                    created_note=_CREATED_NOTE,
                )
            )
    return findings


# --- volume.project_prefixed -----------------------------------------------------------


def check_project_prefixed(facts: HostFacts) -> list[Finding]:
    """``volume.project_prefixed``: a database's data volume carries compose's labels and
    is named exactly ``<project>_<volume key>`` and the compose file gives it no
    explicit ``name:`` (compose v2 labels an explicitly named volume too, and a name can
    equal the default: the file says which). Renaming the project (``-p``, another
    directory) silently starts an empty volume. Database volumes only."""
    volumes = _volumes(facts)
    findings: list[Finding] = []
    for db in _databases(facts):
        if db.mount is None or db.mount.type != "volume" or not db.mount.name:
            continue
        volume = volumes.get(db.mount.name)
        if volume is None:
            continue
        project, key = volume.labels.get(COMPOSE_PROJECT), volume.labels.get(COMPOSE_VOLUME)
        if not project or not key or volume.name != f"{project}_{key}":
            continue
        if any(s.project == project and key in s.named_volumes for s in facts.compose_services):
            continue  # `name: shop_postgres_data` in the file: it does not follow the project
        c = db.container
        findings.append(
            make_finding(
                "volume.project_prefixed",
                Severity.WARNING,
                f"{c.name} keeps its data on {volume.name}, named after compose project "
                f"{project}: under another project name compose starts an empty volume",
                container_subject(facts, c, volume=volume.name),
                db_container=c.name,
                volume=volume.name,
                compose_project=project,
                compose_volume=key,
                data_dir=db.data_dir,
                advice=f"give the volume an explicit name (volumes: {key}: name: ...) "
                "that does not depend on the project",
            )
        )
    return findings


# --- volume.ephemeral_data ---------------------------------------------------------------


def check_ephemeral_data(facts: HostFacts) -> list[Finding]:
    """``volume.ephemeral_data``: a database's data dir is on an anonymous volume (64-hex
    name, no compose volume label), on a tmpfs, or on no mount at all (the container's
    writable layer): recreating the container loses it. Bind mounts and named volumes
    are persistent. Fix for an anonymous volume: back it up."""
    volumes = _volumes(facts)
    findings: list[Finding] = []
    for db in _databases(facts):
        c, mount = db.container, db.mount
        fixes: tuple[Fix, ...] = ()
        if mount is None:
            where, kind = "in the container's writable layer", "container layer"
        elif mount.type == "tmpfs":
            where, kind = f"on a tmpfs at {mount.destination}", "tmpfs"
        elif (
            mount.type == "volume"
            and mount.name
            and _anonymous(mount.name, volumes.get(mount.name))
        ):
            where, kind = f"on anonymous volume {mount.name[:12]}", "anonymous volume"
            fixes = (
                Fix(
                    action="volume.backup",
                    params={"host": facts.host, "volume": mount.name},
                    summary=f"archive anonymous volume {mount.name[:12]} before anything "
                    "recreates the container",
                ),
            )
        else:
            continue
        volume = volumes.get(mount.name) if mount and mount.name else None
        findings.append(
            make_finding(
                "volume.ephemeral_data",
                Severity.CRITICAL,
                f"{c.name} keeps its database {where}: recreating the container loses it",
                container_subject(facts, c, path=db.data_dir),
                fixes=fixes,
                db_container=c.name,
                data_dir=db.data_dir,
                storage=kind,
                volume=mount.name if mount else None,
                volume_size=_size(volume),
                mounts=[f"{m.type} {m.name or m.source} -> {m.destination}" for m in c.mounts],
            )
        )
    return findings


# --- volume.unused ------------------------------------------------------------------


def check_unused_volumes(facts: HostFacts) -> list[Finding]:
    """``volume.unused`` (info): one finding listing every volume no container mounts
    (running or not), largest first, with sizes; volumes already reported by
    ``volume.orphaned_data`` are left out of it."""
    mounted = _mounted(facts)
    orphans = {str(f.evidence.get("orphaned_volume")) for f in check_orphaned_data(facts)}
    unused = [v for v in facts.volumes if v.name not in mounted and v.name not in orphans]
    if not unused:
        return []
    unused.sort(key=lambda v: (-(_size(v) or 0), v.name))
    known = [s for v in unused if (s := _size(v)) is not None]
    return [
        make_finding(
            "volume.unused",
            Severity.INFO,
            f"{len(unused)} volume{'s' if len(unused) != 1 else ''} mounted by no container"
            + (f" ({human_size(sum(known))})" if known else ""),
            subject(facts),
            fixes=(
                Fix(
                    action="volumes.list",
                    params={"host": facts.host},
                    summary="list every volume with its size, labels and users",
                ),
            ),
            count=len(unused),
            total_size=sum(known) if known else None,
            volumes=[
                f"{v.name} ({human_size(_size(v))}"
                + (f", project {v.compose_project}" if v.compose_project else "")
                + (", anonymous" if _anonymous(v.name, v) else "")
                + ")"
                for v in unused
            ],
        )
    ]


# --- volume.nearly_full -----------------------------------------------------------------


def host_filesystem(facts: HostFacts, fs: DataFilesystem) -> FilesystemFacts | None:
    """The host filesystem ``disk.low`` judges (``/``, Docker's data root) that ``fs`` is,
    if any: the same size to within ``_SAME_SIZE`` (``df`` in the container and on the
    host report one ``statfs``, in 1 KiB and 1 byte units)."""
    return next((h for h in facts.filesystems if abs(h.size - fs.size) <= _SAME_SIZE), None)


def databases_on(facts: HostFacts, mount: str) -> list[str]:
    """The database containers whose data directory is on the host filesystem ``mount``."""
    out = []
    for db in facts.databases:
        fs = db.data_filesystem
        if fs is not None and (host := host_filesystem(facts, fs)) and host.mount == mount:
            out.append(fs.container)
    return sorted(set(out))


def _volume_severity(percent: float) -> Severity | None:
    if percent >= VOLUME_CRITICAL_PERCENT:
        return Severity.CRITICAL
    if percent >= VOLUME_WARNING_PERCENT:
        return Severity.WARNING
    return None


def check_volume_nearly_full(facts: HostFacts) -> list[Finding]:
    """``volume.nearly_full``: the filesystem holding a database's data directory (``df``
    in its container) is at least ``VOLUME_WARNING_PERCENT`` (90) % full, critical from
    ``VOLUME_CRITICAL_PERCENT`` (97): Postgres stops writing (and may stop) when it is
    full. Only for a filesystem of its own (a tmpfs or size-limited volume, a bind of
    a small mount): on the host's ``/`` or Docker's data root ``disk.low`` reports it,
    naming the database (``databases_on``). Evidence: the volume, its filesystem, sizes,
    and the database's own size. Guidance: grow it or free space in it."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for db in facts.databases:
        fs = db.data_filesystem
        if fs is None or fs.container in seen:
            continue
        seen.add(fs.container)
        percent = fs.percent_used
        severity = _volume_severity(percent)
        if severity is None or host_filesystem(facts, fs) is not None:
            continue
        c = facts.container(fs.container)
        mount = _database(c).mount if c is not None else None
        volume = mount.name if mount is not None and mount.type == "volume" else None
        where = volume or (mount.source if mount is not None else None) or fs.mount
        size = db.activity.database_size if db.activity else None
        target = (
            container_subject(facts, c, volume=volume, path=fs.data_dir)
            if c is not None
            else subject(facts, container=fs.container, volume=volume, path=fs.data_dir)
        )
        findings.append(
            make_finding(
                "volume.nearly_full",
                severity,
                f"the data volume of {fs.container} ({where}) is {percent:.0f} % full "
                f"({human_size(fs.available)} free of {human_size(fs.size)})",
                target,
                db_container=fs.container,
                stack=db.stack,
                volume=volume,
                mount_type=mount.type if mount is not None else None,
                mount_source=mount.source if mount is not None and not volume else None,
                data_dir=fs.data_dir,
                filesystem=fs.filesystem,
                percent=round(percent, 1),
                size=fs.size,
                used=fs.used,
                available=fs.available,
                database=db.dbname,
                database_size=size,
                advice=(
                    f"give {where} more room (a larger disk or tmpfs size=, then recreate "
                    f"{fs.container}), or free space in it: drop or archive old data, "
                    "VACUUM FULL bloated tables, look for WAL kept by an inactive "
                    "replication slot (pg_replication_slots); never delete files under "
                    f"{fs.data_dir} by hand"
                ),
            )
        )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (
    check_orphaned_data,
    check_project_prefixed,
    check_ephemeral_data,
    check_unused_volumes,
    check_volume_nearly_full,
)
