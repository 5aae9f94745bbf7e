"""What the docs name exists: every file, folder, test and module a Markdown page names.

The pages are the project's own Markdown (README.md, SECURITY.md, CONTRIBUTING.md,
docs/, and those under bench/ and tests/). Checked, wherever they appear (prose,
backticks, tables, code blocks):

- a repository path (``bot/…``, ``runbooks/…``, ``tests/…``, ``scripts/…``,
  ``docs/…``, ``bench/…``): the file or folder exists; a glob (``runbooks/fix_*.py``)
  matches at least one file; ``FILE::test_name`` names a test defined in FILE;
- a dotted module (``bot.framework.session.quote_argv``): the module exists, and the
  name after it, if any, is defined (or imported) at its top level;
- a relative Markdown link: its target exists.

Paths that are examples on purpose are listed in ``EXAMPLES`` with their reason.
Also: docs/ARCHITECTURE.md names every package folder of ``bot/`` and ``runbooks/``,
and it and CONTRIBUTING.md name every ``ruff.toml`` of ``bot/`` and ``runbooks/`` (each
holds an import contract, or lifts one for a front end).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    {
        *ROOT.glob("*.md"),
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "bench").rglob("*.md"),
        *(ROOT / "tests").rglob("*.md"),
    }
)
TOP = ("bot", "runbooks", "tests", "scripts", "docs", "bench")
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./*-]*[\w*/])(?:::(\w+))?", re.ASCII)
MODULE = re.compile(r"(?<![\w./-])((?:bot|runbooks|tests|scripts|bench)(?:\.\w+)+)", re.ASCII)
LINK = re.compile(r"\]\(([^)\s]+)\)")

# Named on purpose although they do not exist, with the reason.
EXAMPLES = {
    "runbooks/uptime.py": "CONTRIBUTING's example runbook, executed by "
    "tests/unit/test_ps.py::test_the_contributing_example_is_a_working_report",
    "tests/unit/test_NAME.py": "CONTRIBUTING: where a new runbook's unit tests go",
    "runbooks/_name.py": "CONTRIBUTING: the shape of a shared runbook helper's name",
}


def _lines() -> Iterator[tuple[str, int, str]]:
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        for number, line in enumerate(page.read_text().splitlines(), 1):
            yield name, number, line


def _exists(path: str) -> bool:
    if any(c in path for c in "*?["):
        return any(ROOT.glob(path.rstrip("/")))
    return (ROOT / path).exists()


@cache
def _top_level_names(file: Path) -> frozenset[str]:
    """Names a module defines or imports at its top level (no import is run)."""
    names: set[str] = set()
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If):  # TYPE_CHECKING blocks and the like
            names.update(
                (a.asname or a.name).split(".")[0]
                for n in ast.walk(node)
                if isinstance(n, ast.Import | ast.ImportFrom)
                for a in n.names
            )
    return frozenset(names)


def _module_problem(dotted: str) -> str | None:
    """None when ``dotted`` is a module, or a module and a name it defines."""
    parts = dotted.split(".")
    for size in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:size])
        file = (
            base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        )
        if file.is_file():
            break
    else:
        return "no such module"
    rest = parts[size:]
    if not rest:
        return None
    if rest[0] not in _top_level_names(file):
        module = ".".join(parts[:size])
        return f"{module} has no {rest[0]!r}" if size > 1 else "no such module"
    return None


def _test_defined(file: str, test: str) -> bool:
    tree = ast.parse((ROOT / file).read_text())
    return any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == test
        for n in ast.walk(tree)
    )


def test_every_path_the_docs_name_exists() -> None:
    missing = []
    for page, number, line in _lines():
        for found in PATH.finditer(line):
            path, test = found[1], found[2]
            if path in EXAMPLES:
                continue
            if not _exists(path):
                missing.append(f"{page}:{number}: {path}")
            elif test and not _test_defined(path, test):
                missing.append(f"{page}:{number}: {path}::{test} (no such test)")
    assert missing == []


def test_every_module_the_docs_name_exists() -> None:
    wrong = []
    for page, number, line in _lines():
        for found in MODULE.finditer(line):
            problem = _module_problem(found[1])
            if problem:
                wrong.append(f"{page}:{number}: {found[1]}: {problem}")
    assert wrong == []


def test_every_relative_link_of_the_docs_leads_somewhere() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, or an anchor on the same page
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_examples_that_do_not_exist_are_still_named() -> None:
    """An example no page names any more is taken off the list."""
    text = "\n".join(page.read_text() for page in PAGES)
    assert [p for p in EXAMPLES if p not in text] == []
    assert [p for p in EXAMPLES if (ROOT / p).exists()] == []


@pytest.mark.parametrize(
    "folder",
    sorted(
        p.parent.relative_to(ROOT).as_posix() + "/"
        for top in ("bot", "runbooks")
        for p in (ROOT / top).rglob("__init__.py")
    ),
)
def test_the_architecture_page_names_every_package_folder(folder: str) -> None:
    assert folder in (ROOT / "docs" / "ARCHITECTURE.md").read_text()


@pytest.mark.parametrize("page", ["docs/ARCHITECTURE.md", "CONTRIBUTING.md"])
def test_the_import_contracts_are_named_where_the_layers_are_explained(page: str) -> None:
    contracts = sorted(
        p.relative_to(ROOT).as_posix()
        for top in ("bot", "runbooks")
        for p in (ROOT / top).rglob("ruff.toml")
    )
    text = (ROOT / page).read_text()
    assert [c for c in contracts if c not in text] == []
