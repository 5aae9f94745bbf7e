"""Typed views of the Docker Engine API objects stackbot reads.

Only the fields stackbot uses are declared; everything else in the API's JSON
is ignored. Field names are snake_case; the API's PascalCase names are aliases.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_WORKING_DIR = "com.docker.compose.project.working_dir"
COMPOSE_CONFIG_FILES = "com.docker.compose.project.config_files"
COMPOSE_ENV_FILE = "com.docker.compose.project.environment_file"
COMPOSE_CONFIG_HASH = "com.docker.compose.config-hash"
COMPOSE_CONTAINER_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
COMPOSE_VOLUME = "com.docker.compose.volume"
COMPOSE_NETWORK = "com.docker.compose.network"


_FRACTION = re.compile(r"(\.\d+)")


class EngineModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def parse_docker_time(value: object) -> datetime | None:
    """Engine timestamps: RFC 3339 with nanoseconds, or unix seconds; zero time is None."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    text = str(value)
    if text.startswith("0001-01-01"):
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: m.group(1)[:7], text)  # nanoseconds → microseconds
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


DockerTime = Annotated[datetime | None, BeforeValidator(parse_docker_time)]


class EngineVersion(EngineModel):
    version: str = Field(alias="Version")
    api_version: str = Field(alias="ApiVersion")
    os: str = Field("", alias="Os")
    arch: str = Field("", alias="Arch")


class EngineInfo(EngineModel):
    name: str = Field("", alias="Name")
    docker_root_dir: str = Field("/var/lib/docker", alias="DockerRootDir")
    server_version: str = Field("", alias="ServerVersion")
    containers: int = Field(0, alias="Containers")
    containers_running: int = Field(0, alias="ContainersRunning")


class Mount(EngineModel):
    type: str = Field(alias="Type")
    name: str | None = Field(None, alias="Name")
    source: str = Field("", alias="Source")
    destination: str = Field(alias="Destination")
    rw: bool = Field(True, alias="RW")


class EndpointSettings(EngineModel):
    network_id: str = Field("", alias="NetworkID")
    ip_address: str = Field("", alias="IPAddress")
    aliases: tuple[str, ...] = Field((), alias="Aliases")
    dns_names: tuple[str, ...] = Field((), alias="DNSNames")
    ipam_config: dict[str, Any] | None = Field(None, alias="IPAMConfig")  # static addresses

    @field_validator("aliases", "dns_names", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value


class ContainerSummary(EngineModel):
    """One row of ``GET /containers/json?all=1``."""

    id: str = Field(alias="Id")
    names: tuple[str, ...] = Field((), alias="Names")
    image: str = Field("", alias="Image")
    state: str = Field("", alias="State")
    status: str = Field("", alias="Status")
    created: DockerTime = Field(None, alias="Created")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    mounts: tuple[Mount, ...] = Field((), alias="Mounts")
    networks: dict[str, EndpointSettings] = Field(
        default_factory=dict, validation_alias=AliasPath("NetworkSettings", "Networks")
    )

    @field_validator("labels", "networks", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: object) -> object:
        return {} if value is None else value

    @property
    def name(self) -> str:
        return self.names[0].lstrip("/") if self.names else self.id[:12]

    @property
    def compose_project(self) -> str | None:
        return self.labels.get(COMPOSE_PROJECT)

    @property
    def compose_service(self) -> str | None:
        return self.labels.get(COMPOSE_SERVICE)


class Health(EngineModel):
    status: str = Field("", alias="Status")
    failing_streak: int = Field(0, alias="FailingStreak")
    log: tuple[dict[str, Any], ...] = Field((), alias="Log")

    @field_validator("log", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value


class ContainerState(EngineModel):
    status: str = Field("", alias="Status")
    running: bool = Field(False, alias="Running")
    restarting: bool = Field(False, alias="Restarting")
    oom_killed: bool = Field(False, alias="OOMKilled")
    exit_code: int = Field(0, alias="ExitCode")
    error: str = Field("", alias="Error")
    started_at: DockerTime = Field(None, alias="StartedAt")
    finished_at: DockerTime = Field(None, alias="FinishedAt")
    health: Health | None = Field(None, alias="Health")


class ContainerConfig(EngineModel):
    image: str = Field("", alias="Image")
    env: tuple[str, ...] = Field((), alias="Env", repr=False)  # values may be secrets
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    cmd: tuple[str, ...] = Field((), alias="Cmd")
    entrypoint: tuple[str, ...] = Field((), alias="Entrypoint")
    healthcheck: dict[str, Any] | None = Field(None, alias="Healthcheck")
    exposed_ports: dict[str, Any] = Field(default_factory=dict, alias="ExposedPorts")
    volumes: dict[str, Any] = Field(default_factory=dict, alias="Volumes")
    user: str = Field("", alias="User")
    working_dir: str = Field("", alias="WorkingDir")
    stop_signal: str | None = Field(None, alias="StopSignal")
    stop_timeout: int | None = Field(None, alias="StopTimeout")
    tty: bool = Field(False, alias="Tty")
    open_stdin: bool = Field(False, alias="OpenStdin")

    @field_validator("env", "cmd", "entrypoint", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else value

    @field_validator("labels", "exposed_ports", "volumes", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: object) -> object:
        return {} if value is None else value

    def env_map(self) -> dict[str, str]:
        """The environment as a mapping (``KEY`` with no ``=`` maps to "")."""
        pairs = (item.partition("=") for item in self.env)
        return {key: value for key, _, value in pairs}


class ContainerDetails(EngineModel):
    """``GET /containers/{id}/json``."""

    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    created: DockerTime = Field(None, alias="Created")
    image_id: str = Field("", alias="Image")
    restart_count: int = Field(0, alias="RestartCount")
    log_path: str = Field("", alias="LogPath")
    state: ContainerState = Field(alias="State")
    config: ContainerConfig = Field(alias="Config")
    host_config: dict[str, Any] = Field(default_factory=dict, alias="HostConfig")
    mounts: tuple[Mount, ...] = Field((), alias="Mounts")
    networks: dict[str, EndpointSettings] = Field(
        default_factory=dict,
        validation_alias=AliasChoices(AliasPath("NetworkSettings", "Networks"), "networks"),
    )

    @field_validator("name", mode="before")
    @classmethod
    def _strip_slash(cls, value: object) -> object:
        return value.lstrip("/") if isinstance(value, str) else value

    @field_validator("networks", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: object) -> object:
        return {} if value is None else value

    @property
    def labels(self) -> dict[str, str]:
        return self.config.labels

    @property
    def compose_project(self) -> str | None:
        return self.labels.get(COMPOSE_PROJECT)

    @property
    def compose_service(self) -> str | None:
        return self.labels.get(COMPOSE_SERVICE)


class VolumeUsage(EngineModel):
    size: int = Field(-1, alias="Size")
    ref_count: int = Field(-1, alias="RefCount")


class Volume(EngineModel):
    name: str = Field(alias="Name")
    driver: str = Field("local", alias="Driver")
    mountpoint: str = Field("", alias="Mountpoint")
    created_at: DockerTime = Field(None, alias="CreatedAt")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    scope: str = Field("local", alias="Scope")
    usage: VolumeUsage | None = Field(None, alias="UsageData")

    @field_validator("labels", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: object) -> object:
        return {} if value is None else value

    @property
    def compose_project(self) -> str | None:
        return self.labels.get(COMPOSE_PROJECT)

    @property
    def compose_volume(self) -> str | None:
        return self.labels.get(COMPOSE_VOLUME)


class NetworkSummary(EngineModel):
    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    driver: str = Field("", alias="Driver")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    internal: bool = Field(False, alias="Internal")

    @field_validator("labels", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: object) -> object:
        return {} if value is None else value


class ImageUsage(EngineModel):
    id: str = Field(alias="Id")
    size: int = Field(0, alias="Size")
    shared_size: int = Field(0, alias="SharedSize")
    containers: int = Field(0, alias="Containers")
    repo_tags: tuple[str, ...] = Field((), alias="RepoTags")

    @field_validator("repo_tags", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value


class ContainerUsage(EngineModel):
    id: str = Field(alias="Id")
    size_rw: int = Field(0, alias="SizeRw")
    state: str = Field("", alias="State")


class BuildCacheUsage(EngineModel):
    id: str = Field(alias="ID")
    size: int = Field(0, alias="Size")
    in_use: bool = Field(False, alias="InUse")


class DiskUsage(EngineModel):
    """``GET /system/df``: what ``docker system df`` summarises."""

    layers_size: int = Field(0, alias="LayersSize")
    images: tuple[ImageUsage, ...] = Field((), alias="Images")
    containers: tuple[ContainerUsage, ...] = Field((), alias="Containers")
    volumes: tuple[Volume, ...] = Field((), alias="Volumes")
    build_cache: tuple[BuildCacheUsage, ...] = Field((), alias="BuildCache")

    @field_validator("images", "containers", "volumes", "build_cache", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value
