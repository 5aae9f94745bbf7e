"""What a fresh install gives a user: exactly the locked versions, and no library
warnings on the terminal (the `stackbot` executable itself, as a user runs it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.entry import wants_warnings

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
STACKBOT = Path(sys.executable).with_name("stackbot")
INVENTORY = """
environments:
  prod:
    hosts:
      web1: {address: 192.0.2.10, known_hosts: known_hosts}
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            pins[_canonical(match[1])] = match[2]
    return pins


def test_every_locked_distribution_has_hashes() -> None:
    text = LOCK.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1])
    pinned = [e for e in entries if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==", e)]
    assert len(pinned) == len(locked()) > 20
    for entry in pinned:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


@pytest.mark.skipif(
    bool(os.environ.get("STACKBOT_LATEST")), reason="scripts/check --latest: newest, not locked"
)
def test_the_venv_is_exactly_the_lock() -> None:
    argv = [sys.executable, "-m", "pip", "freeze", "--exclude-editable"]
    freeze = subprocess.run(
        [*argv, "--disable-pip-version-check"], capture_output=True, text=True, check=True,
        timeout=60,
    )  # fmt: skip
    installed = {}
    for line in freeze.stdout.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            installed[_canonical(name)] = version
    assert installed == locked()


def test_debug_or_python_options_keep_warnings() -> None:
    assert wants_warnings(["--debug", "diagnose", "prod"])
    assert wants_warnings(["--config", "x.yaml", "--debug", "diagnose", "prod"])
    # after the command name, --debug is not the global option (and no -W was given)
    assert wants_warnings(["diagnose", "prod", "--debug"]) is bool(sys.warnoptions)
    assert wants_warnings(["--config", "x.yaml", "diagnose"]) is bool(sys.warnoptions)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONWARNINGS", "STACKBOT_CONFIG"}}
    return subprocess.run(
        [str(STACKBOT), *argv], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _warning_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "Warning" in line or "warnings.warn" in line]


def test_help_prints_no_warning() -> None:
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert _warning_lines(proc.stdout) == []


def test_an_unknown_environment_is_one_line_and_no_warning(tmp_path: Path) -> None:
    inventory = tmp_path / "stackbot.yaml"
    inventory.write_text(INVENTORY)
    proc = _run("--config", str(inventory), "diagnose", "nosuch")
    assert proc.returncode == 2
    assert proc.stderr == "stackbot: error: unknown environment 'nosuch' (known: prod)\n"
    assert proc.stdout == ""


def test_debug_lets_library_warnings_through(tmp_path: Path) -> None:
    """The filter is what keeps them away: with --debug, a warning given while the
    command runs shows (planted here, so the test does not depend on a library's mood)."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    code = (
        "import warnings, sys\n"
        "from bot.cli.entry import main\n"
        "warnings.simplefilter('default')\n"
        "def noisy():\n"
        "    warnings.warn('planted library warning', UserWarning, stacklevel=1)\n"
        "import bot.cli.main as m\n"
        "orig = m.main\n"
        "m.main = lambda argv=None: (noisy(), orig(argv))[1]\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code, "--debug", "--help"],
        capture_output=True, text=True, env=base, check=False,
    )  # fmt: skip
    hidden = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        capture_output=True, text=True, env=base, check=False,
    )  # fmt: skip
    assert "planted library warning" in shown.stderr
    assert "planted library warning" not in hidden.stderr
