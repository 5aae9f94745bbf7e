"""The CLI imports lazily: a command's parser and ``--help`` load no transport, driver or
runbook; asyncssh loads without running ldconfig, gcc or ld (bot/cli/libsearch.py)."""

from __future__ import annotations

import argparse
import ctypes.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.libsearch import find_library
from bot.cli.parsers import FIXED_COMMANDS, build_parser, command_word

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("asyncssh", "psycopg", "docker", "psycopg_pool", "runbooks", "bot.operations")


def _loaded_after(code: str) -> dict[str, object]:
    probe = (
        f"import sys, json\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_transport_driver_or_runbook() -> None:
    loaded = _loaded_after("import bot.cli.main")
    assert loaded == dict.fromkeys(HEAVY, False)


def test_diagnose_help_loads_none_of_them() -> None:
    code = (
        "from bot.cli.main import main\n"
        "try:\n    main(['diagnose', '--help'])\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(code) == dict.fromkeys(HEAVY, False)


def test_the_whole_help_still_lists_the_report_commands() -> None:
    assert _loaded_after("from bot.cli.parsers import build_parser\nbuild_parser()")["runbooks"]
    names = {
        name
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    assert {"disk", "volumes", "ps", "logs"} <= names
    assert names >= FIXED_COMMANDS


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["diagnose", "prod"], "diagnose"),
        (["--config", "x.yaml", "--debug", "fix", "a"], "fix"),
        (["--config", "diagnose", "disk", "prod"], "disk"),  # the option's value is skipped
        (["--help"], None),
        ([], None),
    ],
)
def test_command_word(argv: list[str], word: str | None) -> None:
    assert command_word(argv) == word


def test_a_fixed_commands_parser_parses_as_the_whole_one() -> None:
    argv = ["--config", "inv.yaml", "diagnose", "prod", "shop", "--host", "web1"]
    assert vars(build_parser("diagnose").parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_asyncssh_loads_without_spawning_a_process() -> None:
    code = (
        "import sys\n"
        "spawned = []\n"
        "sys.addaudithook(lambda e, a: spawned.append(a[0]) if e in "
        "('subprocess.Popen', 'os.posix_spawn', 'os.exec') else None)\n"
        "from bot.cli.libsearch import import_asyncssh\n"
        "import_asyncssh()\n"
        "import ctypes.util\n"
        "assert ctypes.util.find_library.__module__ == 'ctypes.util'\n"  # restored
        "print(len(spawned), 'asyncssh' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["0", "True"]


@pytest.mark.parametrize("name", ["c", "z", "ssl", "nettle", "oqs", "no-such-library-zz"])
def test_find_library_finds_what_ldconfig_finds(name: str) -> None:
    real = ctypes.util.find_library(name)  # runs ldconfig: fine in a test
    ours = find_library(name)
    if real is None:
        assert ours is None
    else:
        assert ours is not None
        assert Path(ours).name.startswith(f"lib{name}.so")
        assert Path(ours).exists()
        ctypes.CDLL(ours)  # loadable, as asyncssh loads it
