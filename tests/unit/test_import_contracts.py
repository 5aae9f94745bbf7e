"""The import contracts (ruff TID251, nested ruff.toml files) hold and fail on a violation.

runbooks never import transports, Slack, stores or a database driver; the core never
imports a front end; renderers never import runbooks. `scripts/check` runs `ruff check .`,
so a violation fails CI; these tests prove the contracts are real: each deliberate
violation below, placed in a copy of the tree's ruff configuration, is reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    "pyproject.toml",
    "bot/ruff.toml",
    "bot/cli/ruff.toml",
    "bot/slack/ruff.toml",
    "bot/render/ruff.toml",
    "runbooks/ruff.toml",
]

VIOLATIONS = {
    "runbooks/bad_transport.py": "from bot.transport import Transport\n",
    "runbooks/bad_ssh.py": "import asyncssh\n",
    "runbooks/bad_psycopg.py": "import psycopg\n",
    "runbooks/bad_slack.py": "from bot.slack.app import build_app\n",
    "runbooks/bad_audit.py": "from bot.stores.audit.store import AuditStore\n",
    "bot/bad_core.py": "from bot.cli.main import main\n",
    "bot/operations/bad_ops.py": "from bot.slack import app\n",
    "bot/oncall/bad_watcher_user.py": "from bot.oncall.watcher import Watcher\n",
    "bot/render/bad_render.py": "from runbooks.disk import run\n",
    "bot/render/slack/bad_client.py": "from slack_sdk.web import WebClient\n",
}
ALLOWED = {
    "bot/cli/ok_front_end.py": "from bot.slack.serve import serve\n",
    "bot/cli/ok_transport.py": "from bot.transport import Transport\n",
    "bot/slack/ok_front_end.py": "from bot.oncall.watcher import Watcher\n",
    "bot/render/slack/ok_models.py": "from slack_sdk.models.blocks import SectionBlock\n",
    "runbooks/ok_core.py": "from bot.framework.session import HostSession\n",
}


def _ruff(path: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "json", "--no-cache", "."],
        cwd=path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return list(json.loads(done.stdout))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for config in CONFIGS:
        target = tmp_path / config
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / config, target)
    for name, text in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tmp_path


def test_the_tree_keeps_its_import_contracts() -> None:
    found = [d for d in _ruff(ROOT) if d["code"] == "TID251"]
    assert found == []


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_a_deliberate_violation_fails_the_check(tmp_path: Path, name: str) -> None:
    tree = _tree(tmp_path, {name: VIOLATIONS[name]})
    found = [d for d in _ruff(tree) if d["code"] == "TID251"]
    assert [Path(str(d["filename"])).relative_to(tree).as_posix() for d in found] == [name]


def test_front_ends_and_neutral_imports_are_allowed(tmp_path: Path) -> None:
    tree = _tree(tmp_path, ALLOWED)
    assert [d for d in _ruff(tree) if d["code"] == "TID251"] == []


def _runbook_modules() -> set[str]:
    """The runbooks and actions themselves (not `_` helpers, not the checks)."""
    top = {f"runbooks.{p.stem}" for p in (ROOT / "runbooks").glob("*.py") if p.stem[0] != "_"}
    return (top - {"runbooks.__init__"}) | {"runbooks.diagnose.gather", "runbooks.diagnose.runbook"}


def test_no_runbook_imports_another_runbook() -> None:
    """What two runbooks share lives in a `runbooks/_name.py` helper (CONTRIBUTING)."""
    import ast

    runbooks = _runbook_modules()
    found = []
    for path in (ROOT / "runbooks").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [(module, n) for n in names if n in runbooks and n != module]
    allowed = {("runbooks.diagnose.runbook", "runbooks.diagnose.gather")}  # one runbook
    assert set(found) - allowed == set()
