"""The CLI's answers to bad input, without any host: one line, the right exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.main import main
from bot.model.errors import UnknownEnvironment

INVENTORY = """
environments:
  prod:
    hosts:
      web1: {address: 192.0.2.10, known_hosts: known_hosts}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "stackbot.yaml"
    path.write_text(INVENTORY)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("command", ["disk", "volumes", "diagnose"])
def test_unknown_environment(
    capsys: pytest.CaptureFixture[str], inventory: Path, command: str
) -> None:
    status, out, err = run(capsys, "--config", str(inventory), command, "staging")
    assert status == 2
    assert err == "stackbot: error: unknown environment 'staging' (known: prod)\n"
    assert out == ""


def test_unknown_host(capsys: pytest.CaptureFixture[str], inventory: Path) -> None:
    status, _, err = run(capsys, "--config", str(inventory), "disk", "prod", "--host", "web9")
    assert status == 2 and "has no host 'web9' (hosts: web1)" in err


def test_malformed_inventory_names_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVENTORY.replace("address", "adress"))
    status, _, err = run(capsys, "--config", str(bad), "check-config")
    assert status == 3
    assert "environments.prod.hosts.web1.adress: unknown key" in err
    assert "environments.prod.hosts.web1.address: required key is missing" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_inventory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "--config", str(tmp_path / "none.yaml"), "check-config")
    assert status == 3 and f"no inventory at {tmp_path / 'none.yaml'} (from --config)" in err


def test_check_config_without_connect(capsys: pytest.CaptureFixture[str], inventory: Path) -> None:
    status, out, _ = run(capsys, "--config", str(inventory), "check-config")
    assert status == 0 and out == "inventory OK: 1 environment, 1 host\n"


def test_bad_parameter_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], inventory: Path
) -> None:
    status, _, err = run(capsys, "--config", str(inventory), "diagnose", "prod", "--deadline", "0")
    assert status == 2 and "deadline" in err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_debug_reraises(inventory: Path) -> None:
    with pytest.raises(UnknownEnvironment):
        main(["--config", str(inventory), "--debug", "disk", "staging"])
