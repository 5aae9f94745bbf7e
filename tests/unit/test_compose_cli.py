"""Which compose a host has, and the program a diagnosis's compose reads run.

The search for the program ``docker compose`` runs is a shell script: it is run
here by this machine's real ``sh``, in a made-up home with made-up plugin folders
(the system's folders are moved under a temporary directory), so what is tested
is the script itself, not a copy of its logic.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.framework.compose_cli import (
    PLUGIN_DIRS,
    V1,
    V2,
    compose_for_reading,
    detect_compose,
    prefetch_compose,
)
from bot.framework.session import CommandResult
from tests.unit.fakes import FakeHostSession

PLUGIN_VERSION = "2.40.3"


class ShellSession(FakeHostSession):
    """A ``HostSession`` whose commands run on this machine, in ``env`` only."""

    def __init__(self, env: dict[str, str], system_dirs: Sequence[Path]) -> None:
        super().__init__()
        self._env = env
        self._system = [str(d) for d in system_dirs]

    async def run(
        self, argv: Sequence[str], *, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        self.commands.append(tuple(argv))
        real = list(argv)
        if tuple(real[-len(PLUGIN_DIRS) :]) == PLUGIN_DIRS:  # the system's folders, moved
            real = real[: -len(PLUGIN_DIRS)] + self._system
        try:
            proc = await asyncio.to_thread(
                subprocess.run, real, env=self._env, capture_output=True, text=True, timeout=30
            )
        except FileNotFoundError:
            return CommandResult(
                argv=tuple(argv), exit_status=127, stdout="", stderr="", duration=0
            )
        return CommandResult(
            argv=tuple(argv),
            exit_status=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            duration=0,
        )


def program(path: Path, version: str = PLUGIN_VERSION, *, executable: bool = True) -> Path:
    """A stand-in compose program that answers ``version --short``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n[ "$1 $2" = "version --short" ] && echo {version}\n')
    path.chmod(0o755 if executable else 0o644)
    return path


class Host:
    """A made-up host: a home, a docker CLI stand-in on PATH (and nothing else of this
    machine's but ``sh``, ``grep`` and ``stat``), four system plugin folders."""

    def __init__(self, root: Path, *, docker: bool = True) -> None:
        self.root = root
        self.home = root / "home"
        self.config = self.home / ".docker"
        self.bin = root / "bin"
        self.tools = root / "tools"  # what the script needs of this machine: sh, grep, stat
        self.system = [root / "system" / str(n) for n in range(len(PLUGIN_DIRS))]
        for d in (self.config, self.bin, self.tools, *self.system):
            d.mkdir(parents=True, exist_ok=True)
        for tool in ("sh", "grep", "stat"):
            found = shutil.which(tool)
            assert found is not None, f"this machine has no {tool}"
            (self.tools / tool).symlink_to(found)
        if docker:  # `docker compose version --short` answers as the plugin would
            docker_cli = self.bin / "docker"
            docker_cli.write_text(
                '#!/bin/sh\n[ "$*" = "compose version --short" ] && echo 2.39.0 && exit 0\n'
                "echo \"docker: '$1' is not a docker command.\" >&2; exit 1\n"
            )
            docker_cli.chmod(0o755)

    def session(self, **env: str) -> ShellSession:
        base = {"HOME": str(self.home), "PATH": f"{self.bin}:{self.tools}"}
        return ShellSession({**base, **env}, self.system)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def docker_compose_versions(session: ShellSession) -> list[tuple[str, ...]]:
    return [a for a in session.commands if a[-2:] == ("version", "--short")]


async def test_the_plugin_in_the_users_config_dir_runs_the_reads_without_docker(
    host: Host,
) -> None:
    found = program(host.config / "cli-plugins" / "docker-compose")
    program(host.system[0] / "docker-compose", "2.1.0")  # shadowed, as the docker CLI does
    session = host.session()
    reading = await compose_for_reading(session)
    assert reading is not None
    assert (reading.argv, reading.kind, reading.version) == (V2, "plugin", PLUGIN_VERSION)
    assert reading.direct_argv == (str(found),)
    assert docker_compose_versions(session) == []  # no docker CLI, no metadata call
    assert reading.label == f"docker compose {PLUGIN_VERSION} (v2 plugin)"


async def test_docker_config_moves_the_users_folder(host: Host, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    program(host.config / "cli-plugins" / "docker-compose", "2.1.0")  # not looked at
    found = program(elsewhere / "cli-plugins" / "docker-compose")
    reading = await compose_for_reading(host.session(DOCKER_CONFIG=str(elsewhere)))
    assert reading is not None and reading.direct_argv == (str(found),)


async def test_the_system_folders_in_the_docker_clis_order(host: Host) -> None:
    program(host.system[3] / "docker-compose", "2.1.0")
    found = program(host.system[1] / "docker-compose")
    (host.system[0] / "docker-compose").symlink_to(host.root / "gone")  # dangling: skipped
    reading = await compose_for_reading(host.session())
    assert reading is not None and reading.direct_argv == (str(found),)
    assert reading.version == PLUGIN_VERSION


@pytest.mark.parametrize(
    "case",
    ["extra plugin folders", "not executable", "no docker CLI", "a v1 answer", "nothing there"],
)
async def test_when_the_search_cannot_tell_docker_compose_itself_is_asked(
    tmp_path: Path, case: str
) -> None:
    host = Host(tmp_path, docker=case != "no docker CLI")
    plugin = host.config / "cli-plugins" / "docker-compose"
    if case == "extra plugin folders":
        program(plugin)
        (host.config / "config.json").write_text('{"cliPluginsExtraDirs": ["/opt/plugins"]}')
    elif case == "not executable":  # the docker CLI refuses it rather than skip it
        program(plugin, executable=False)
        program(host.system[0] / "docker-compose")
    elif case == "a v1 answer":
        program(plugin, "1.29.2")
    elif case == "no docker CLI":
        program(plugin)
    session = host.session()
    reading = await compose_for_reading(session)
    if case == "no docker CLI":  # then neither does `docker compose` run; no v1 either
        assert reading is None
        return
    assert reading is not None and reading.program is None
    assert reading.direct_argv == reading.argv == V2 and reading.version == "2.39.0"
    assert docker_compose_versions(session) == [("docker", "compose", "version", "--short")]


async def test_v1_alone_is_detect_composes_answer(host: Host) -> None:
    (host.bin / "docker").unlink()
    program(host.bin / "docker-compose", "1.29.2")
    reading = await compose_for_reading(host.session())
    assert reading is not None
    assert (reading.argv, reading.direct_argv, reading.version) == (V1, V1, "1.29.2")


async def test_searched_once_per_connection_and_started_by_prefetch(host: Host) -> None:
    program(host.config / "cli-plugins" / "docker-compose")
    session = host.session()
    prefetch_compose(session)
    prefetch_compose(session)
    first, second = await asyncio.gather(compose_for_reading(session), compose_for_reading(session))
    assert first == second and first is not None and first.program is not None
    assert len([a for a in session.commands if a[:2] == ("sh", "-c")]) == 1


async def test_detect_compose_never_searches_and_keeps_docker_compose(host: Host) -> None:
    """What changes a host (container.recreate) runs `docker compose` as the person would."""
    program(host.config / "cli-plugins" / "docker-compose")
    session = host.session()
    found = await detect_compose(session)
    assert found is not None and found.argv == V2 and found.program is None
    assert session.commands == [("docker", "compose", "version", "--short")]


def counting_program(path: Path, version: str, log: Path) -> Path:
    """A stand-in compose program that notes in ``log`` each time it is asked its version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'#!/bin/sh\n[ "$1 $2" = "version --short" ] && echo asked >>{log} && echo {version}\n'
    )
    path.chmod(0o755)
    return path


async def test_a_new_connection_asks_an_unchanged_program_no_version(
    host: Host, tmp_path: Path
) -> None:
    log = tmp_path / "asked"
    plugin = counting_program(host.config / "cli-plugins" / "docker-compose", "2.40.3", log)
    first = await compose_for_reading(host.session())  # a connection: the version is asked
    second = await compose_for_reading(host.session())  # another: the same file, unchanged
    assert first == second and second is not None and second.version == "2.40.3"
    assert second.direct_argv == (str(plugin),)
    assert log.read_text().splitlines() == ["asked"]  # once, by the first connection


async def test_a_changed_program_is_asked_again(host: Host, tmp_path: Path) -> None:
    log = tmp_path / "asked"
    plugin = host.config / "cli-plugins" / "docker-compose"
    counting_program(plugin, "2.40.3", log)
    assert (await compose_for_reading(host.session())) is not None
    # upgraded in place to a compose whose dry run stackbot must not run (v5)
    counting_program(plugin, "5.0.1", log)
    upgraded = await compose_for_reading(host.session())
    assert upgraded is not None and upgraded.version == "5.0.1"
    assert not upgraded.dry_run_stays_dry
    # replaced by another file (a package upgrade writes a new one): asked too
    replacement = tmp_path / "new-docker-compose"
    counting_program(replacement, "2.41.0", log)
    replacement.replace(plugin)
    replaced = await compose_for_reading(host.session())
    assert replaced is not None and replaced.version == "2.41.0"
    assert log.read_text().splitlines() == ["asked"] * 3


async def test_without_stat_the_version_is_asked_each_time(host: Host, tmp_path: Path) -> None:
    log = tmp_path / "asked"
    counting_program(host.config / "cli-plugins" / "docker-compose", "2.40.3", log)
    (host.tools / "stat").unlink()  # nothing tells the file is the same: never assumed
    for _ in range(2):
        found = await compose_for_reading(host.session())
        assert found is not None and found.version == "2.40.3"
    assert log.read_text().splitlines() == ["asked"] * 2
