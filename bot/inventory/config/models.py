"""The inventory: environments → hosts → stacks, as pydantic models.

Every model forbids unknown keys, so a typo is an error that names the key
instead of a setting that silently does nothing.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import date, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
LOCAL_ADDRESS = "local"
SLACK_ID_PATTERN = re.compile(r"^[UWS][A-Z0-9]{2,31}$")  # U…/W… users, S… user groups
SLACK_CHANNEL_PATTERN = re.compile(r"^(?:[CG][A-Z0-9]{2,31}|#[a-z0-9][a-z0-9._-]{0,79})$")


def _slack_id(value: str) -> str:
    if not SLACK_ID_PATTERN.match(value):
        raise PydanticCustomError(
            "slack_id",
            "not a Slack user or group id (users: U…/W…, user groups: S…): {value}",
            {"value": repr(value)},
        )
    return value


def _slack_channel(value: str) -> str:
    if not SLACK_CHANNEL_PATTERN.match(value):
        raise PydanticCustomError(
            "slack_channel",
            "not a Slack channel (an id like C0123ABCD, or #name in lower case): {value}",
            {"value": repr(value)},
        )
    return value


SlackId = Annotated[str, AfterValidator(_slack_id)]
SlackChannel = Annotated[str, AfterValidator(_slack_channel)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SSHEndpoint(Strict):
    """How to reach an SSH server: used for a host and for its jump host."""

    address: str = Field(min_length=1, description="DNS name or IP; 'local' for this machine")
    port: int = Field(22, ge=1, le=65535)
    user: str | None = Field(None, description="login user; defaults.user when absent")
    private_key: Path | None = Field(None, description="private key file (OpenSSH format)")
    known_hosts: Path | None = Field(None, description="known_hosts file that vouches for the host")


class HostConfig(SSHEndpoint):
    """One Docker host of an environment."""

    jump_host: SSHEndpoint | None = Field(None, description="bastion to tunnel through")
    docker_socket: str = Field("/var/run/docker.sock", description="Docker socket on the host")
    connect_timeout: float = Field(10.0, gt=0, le=120)

    @property
    def is_local(self) -> bool:
        return self.address == LOCAL_ADDRESS


class ServiceRoles(Strict):
    """Which compose service plays which part; unset roles are inferred."""

    app: str | None = None
    database: str | None = None
    proxy: str | None = None


class DatabaseRef(Strict):
    """The app's database: a name, or read from a URL in the app's environment."""

    name: str | None = Field(None, description="database name")
    from_env: str = Field("DATABASE_URL", description="env key of the app holding the URL")


class StackConfig(Strict):
    """A compose stack. Only what differs from what discovery infers needs saying."""

    host: Name | None = Field(None, description="host it runs on; default: every host of the env")
    compose_project: str | None = Field(
        None, description="compose project (-p); default: stack name"
    )
    working_dir: str | None = None
    compose_files: tuple[str, ...] = ()
    env_file: str | None = None
    services: ServiceRoles = ServiceRoles()
    migrate_command: tuple[str, ...] = ()
    migration_check_command: tuple[str, ...] = ()
    backup_command: tuple[str, ...] = ()
    required_env: tuple[str, ...] = ()
    database: DatabaseRef = DatabaseRef()


class Defaults(Strict):
    """Values every host inherits unless it says otherwise."""

    user: str | None = None
    port: int = Field(22, ge=1, le=65535)
    private_key: Path | None = None
    known_hosts: Path | None = None


class AccessRules(Strict):
    """Who holds which role: Slack user ids (``U…``/``W…``) and user group ids (``S…``).

    Roles are ordered, each including the ones before it:
    viewer < operator < approver < admin (see ``bot/inventory/access.py`` and docs/ACCESS.md).
    """

    viewer: tuple[SlackId, ...] = ()
    operator: tuple[SlackId, ...] = ()
    approver: tuple[SlackId, ...] = ()
    admin: tuple[SlackId, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.viewer or self.operator or self.approver or self.admin)

    def merged(self, other: AccessRules) -> AccessRules:
        """Both sets of grants, per role (an environment adds to the top-level default)."""
        return AccessRules(
            viewer=_union(self.viewer, other.viewer),
            operator=_union(self.operator, other.operator),
            approver=_union(self.approver, other.approver),
            admin=_union(self.admin, other.admin),
        )


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
DURATION_PATTERN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """``90s``, ``5m``, ``1h30m``, ``2d``; a number is seconds; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    match = DURATION_PATTERN.match(text)
    if not text or not match:
        raise PydanticCustomError(
            "duration", "not a duration like 90s, 5m, 1h30m or 2d: {value}", {"value": repr(value)}
        )
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise PydanticCustomError("duration", "must be longer than zero", {})
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "not an IANA time zone like Europe/Berlin or UTC: {value}",
            {"value": repr(value)},
        ) from None
    return value


class Handoff(Strict):
    """When one person's week on call ends and the next one's begins (local time)."""

    weekday: Weekday = "monday"
    time: dt_time = dt_time(9, 0)


class Rotation(Strict):
    """Who is on call: ``users`` in turn, a week each, from ``start``.

    ``start`` is the date of the handoff at which ``users[0]`` began; the
    secondary is ``secondary`` when set, else the next person in the rotation.
    """

    users: tuple[SlackId, ...] = Field(min_length=1)
    start: date
    handoff: Handoff = Handoff()
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    secondary: SlackId | None = None

    @model_validator(mode="after")
    def _start_is_a_handoff_day(self) -> Rotation:
        if WEEKDAYS[self.start.weekday()] != self.handoff.weekday:
            raise ValueError(
                f"start {self.start.isoformat()} is a {WEEKDAYS[self.start.weekday()]}, "
                f"not the handoff weekday ({self.handoff.weekday})"
            )
        if any(user.startswith("S") for user in (*self.users, self.secondary or "")):
            raise ValueError("rotation users are people (U…/W…), not user groups (S…)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class EscalationStep(Strict):
    """``after`` the incident opened without an acknowledgement, page ``page``."""

    after: Duration
    page: Literal["primary", "secondary", "channel"]


DEFAULT_ESCALATION: tuple[EscalationStep, ...] = (
    EscalationStep(after=timedelta(minutes=5), page="primary"),
    EscalationStep(after=timedelta(minutes=10), page="secondary"),
    EscalationStep(after=timedelta(minutes=15), page="channel"),
)


class WatchConfig(Strict):
    """A light diagnosis every ``every``; a new critical finding opens an incident."""

    every: Duration = timedelta(minutes=5)


class CureWatchConfig(Strict):
    """After a fix, the environment is diagnosed again ``checks`` times over ``settle``;
    the incident resolves itself when the cure held (docs: README, *On call*)."""

    settle: Duration = Field(timedelta(minutes=10), description="how long a cure must hold")
    checks: int = Field(4, ge=1, le=60, description="diagnoses spread over the settle window")


class OnCallConfig(Strict):
    rotation: Rotation
    escalation: tuple[EscalationStep, ...] = Field(DEFAULT_ESCALATION, min_length=1)
    watch: WatchConfig | None = None
    cure_watch: CureWatchConfig = Field(
        CureWatchConfig(), description="the stability watch after every cure"
    )
    messages_per_minute: int = Field(
        5,
        ge=1,
        le=100,
        description="new incident messages a minute in the channel; beyond, one digest",
    )

    @model_validator(mode="after")
    def _escalation_in_order(self) -> OnCallConfig:
        afters = [step.after for step in self.escalation]
        if afters != sorted(afters) or len(set(afters)) != len(afters):
            raise ValueError("escalation steps must come in order of 'after', each later")
        return self


class EnvironmentConfig(Strict):
    description: str = ""
    hosts: dict[Name, HostConfig] = Field(min_length=1)
    stacks: dict[Name, StackConfig] = {}
    access: AccessRules = Field(
        AccessRules(), description="roles on this environment, added to the top-level access"
    )
    approval_required: bool = Field(
        False, description="destructive actions need a second person's approval in Slack"
    )
    slack_channel: SlackChannel | None = Field(None, description="where its alerts go")
    oncall: OnCallConfig | None = Field(None, description="rotation, escalation, watcher")
    projects: tuple[Annotated[str, Field(min_length=1, max_length=128)], ...] = Field(
        (),
        description=(
            "compose project name patterns (shell-style: crm-*) this environment owns on "
            "hosts it shares with another environment, beside its declared stacks"
        ),
    )

    def declared_projects(self, host: str) -> tuple[str, ...]:
        """The compose projects this environment declares on ``host``."""
        return tuple(
            stack.compose_project or name
            for name, stack in self.stacks.items()
            if stack.host in (None, host)
        )

    @model_validator(mode="after")
    def _oncall_has_a_channel(self) -> EnvironmentConfig:
        if self.oncall is not None and self.slack_channel is None:
            raise ValueError("oncall needs slack_channel: incidents are posted there")
        return self

    @model_validator(mode="after")
    def _stack_hosts_exist(self) -> EnvironmentConfig:
        for stack_name, stack in self.stacks.items():
            if stack.host is not None and stack.host not in self.hosts:
                raise ValueError(
                    f"stacks.{stack_name}.host: {stack.host!r} is not a host of this "
                    f"environment (hosts: {', '.join(self.hosts)})"
                )
        return self


class SSHSettings(Strict):
    """Connection-pool behaviour, shared by every host."""

    keepalive_interval: float = Field(15.0, gt=0)
    keepalive_count_max: int = Field(3, ge=1)
    idle_close: float = Field(300.0, gt=0, description="close a connection unused this long")
    max_concurrent_handshakes: int = Field(8, ge=1, le=256)
    command_timeout: float = Field(30.0, gt=0)


class Inventory(Strict):
    """The root of the configuration file."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    ssh: SSHSettings = SSHSettings()
    environments: dict[Name, EnvironmentConfig] = Field(min_length=1)
    database_url: SecretStr | None = Field(None, description="Postgres for the audit trail")
    data_dir: Path | None = None
    access: AccessRules = Field(AccessRules(), description="roles on every environment")

    @field_validator("environments")
    @classmethod
    def _names_lowercase(cls, envs: dict[str, EnvironmentConfig]) -> dict[str, EnvironmentConfig]:
        for name in envs:
            if name != name.lower():
                raise ValueError(f"environment names are lower case: {name!r}")
        return envs

    def access_for(self, env: str) -> AccessRules:
        """The top-level access merged with the environment's (``env`` must exist)."""
        return self.access.merged(self.environments[env].access)

    def engine_of(self, env: str, host: str) -> tuple[str, int, str]:
        """What identifies the Docker engine behind a host: address, SSH port, socket."""
        cfg = self.environments[env].hosts[host]
        port = cfg.port if "port" in cfg.model_fields_set else self.defaults.port
        return cfg.address.lower(), port, cfg.docker_socket

    def neighbours(self, env: str, host: str) -> tuple[Neighbour, ...]:
        """The other environments with a host on the same Docker engine as ``env/host``."""
        engine = self.engine_of(env, host)
        found: list[Neighbour] = []
        for other, cfg in self.environments.items():
            if other == env:
                continue
            shared = [h for h in cfg.hosts if self.engine_of(other, h) == engine]
            if shared:
                declared = {p for h in shared for p in cfg.declared_projects(h)}
                found.append(
                    Neighbour(
                        env=other,
                        hosts=tuple(shared),
                        projects=tuple(sorted(declared)),
                        patterns=cfg.projects,
                    )
                )
        return tuple(found)

    def resolved_host(self, env: str, host: str) -> ResolvedHost:
        """The host with defaults applied and every field that SSH needs set."""
        cfg = self.environments[env].hosts[host]
        return ResolvedHost(
            env=env,
            name=host,
            address=cfg.address,
            port=cfg.port if "port" in cfg.model_fields_set else self.defaults.port,
            user=cfg.user or self.defaults.user,
            private_key=cfg.private_key or self.defaults.private_key,
            known_hosts=cfg.known_hosts or self.defaults.known_hosts,
            jump_host=cfg.jump_host,
            docker_socket=cfg.docker_socket,
            connect_timeout=cfg.connect_timeout,
            stacks={
                name: stack
                for name, stack in self.environments[env].stacks.items()
                if stack.host in (None, host)
            },
            project_patterns=self.environments[env].projects,
            neighbours=self.neighbours(env, host),
        )


def normalize_project(name: str) -> str:
    """Compose's own normalisation of a project name: lower case, only [a-z0-9_-]."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


class Neighbour(Strict):
    """Another environment with a host on the same Docker engine."""

    env: str
    hosts: tuple[str, ...]
    projects: tuple[str, ...] = ()  # compose projects it declares there
    patterns: tuple[str, ...] = ()  # its `projects:` patterns

    @property
    def claims_any(self) -> bool:
        return bool(self.projects or self.patterns)


class ResolvedHost(Strict):
    """A host with the inventory's defaults applied: what the transport gets."""

    env: str
    name: str
    address: str
    port: int
    user: str | None
    private_key: Path | None
    known_hosts: Path | None
    jump_host: SSHEndpoint | None
    docker_socket: str
    connect_timeout: float
    stacks: dict[str, StackConfig] = {}  # the declared stacks that may run on this host
    project_patterns: tuple[str, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()  # other environments on the same Docker engine

    def owner_of(self, project: str | None) -> str | None:
        """The environment that owns compose ``project`` on this engine (None: no label).

        In order: the environment that declares it as a stack; the one whose
        ``projects:`` pattern matches it (this one's patterns first); else this
        environment when no other environment on the engine declares any stack or
        pattern; else nobody (None).
        """
        if project:
            name = normalize_project(project)
            mine = (stack.compose_project or key for key, stack in self.stacks.items())
            if any(normalize_project(p) == name for p in mine):
                return self.env
            for other in self.neighbours:
                if any(normalize_project(p) == name for p in other.projects):
                    return other.env
            if any(fnmatch.fnmatchcase(project, pat) for pat in self.project_patterns):
                return self.env
            for other in self.neighbours:
                if any(fnmatch.fnmatchcase(project, pat) for pat in other.patterns):
                    return other.env
        if any(other.claims_any for other in self.neighbours):
            return None
        return self.env

    def owns(self, project: str | None) -> bool:
        """Whether this host's environment owns ``project`` (None: an unlabelled object)."""
        return self.owner_of(project) == self.env

    @property
    def is_local(self) -> bool:
        return self.address == LOCAL_ADDRESS

    @property
    def label(self) -> str:
        """How messages name the host: ``prod/web1 (deploy@203.0.113.10:22)``."""
        if self.is_local:
            return f"{self.env}/{self.name} (local)"
        user = f"{self.user}@" if self.user else ""
        return f"{self.env}/{self.name} ({user}{self.address}:{self.port})"
