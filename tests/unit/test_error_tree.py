"""The error tree drawn in ``bot/model/errors.py``'s docstring is the whole tree.

Every ``StackbotError`` subclass defined in ``bot/`` or ``runbooks/`` must be drawn
there, under its real parent, with the exit status it really has where the tree
names one, and listed under the module it is defined in when that is not
``bot.model.errors``. The classes are found by importing every module of both
packages and walking ``__subclasses__()``, so a new error anywhere fails this test
until the docstring names it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import bot
import runbooks
from bot.model import errors
from bot.model.errors import StackbotError

NODE = re.compile(r"^(?P<lead>[│ ]*)[├└]── (?P<name>[A-Z]\w+)\b(?P<rest>.*)$")
EXIT = re.compile(r"\(exit (\d+)\)")
HEADER = "Defined beside their code, not here:"


def _import_everything() -> None:
    for package in (bot, runbooks):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.rsplit(".", 1)[-1] != "__main__":  # `python -m`: runs on import
                importlib.import_module(info.name)


def _subclasses(cls: type[StackbotError]) -> Iterator[type[StackbotError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def defined_errors() -> dict[str, type[StackbotError]]:
    """Every ``StackbotError`` subclass the project's own packages define, by name."""
    _import_everything()
    found: dict[str, type[StackbotError]] = {"StackbotError": StackbotError}
    for cls in _subclasses(StackbotError):
        if cls.__module__.split(".")[0] in ("bot", "runbooks"):
            assert found.setdefault(cls.__name__, cls) is cls, f"two classes named {cls.__name__}"
    return found


def drawn_tree() -> dict[str, tuple[str | None, int | None]]:
    """The docstring's tree: name → (parent, the exit status its line names, if any)."""
    doc = errors.__doc__ or ""
    block = doc.split("\n\n    StackbotError", 1)[1].split("\n\n", 1)[0]
    root, *rest = block.splitlines()
    tree: dict[str, tuple[str | None, int | None]] = {}
    status = EXIT.search(root)
    tree["StackbotError"] = (None, int(status[1]) if status else None)
    path = ["StackbotError"]
    for raw in rest:
        node = NODE.match(raw.removeprefix("    "))
        if node is None:
            continue  # a description running on below its node
        depth = len(node["lead"]) // 4 + 1
        assert 1 <= depth <= len(path), f"a node deeper than its parent: {raw!r}"
        del path[depth:]
        name = node["name"]
        assert name not in tree, f"{name} is drawn twice"
        status = EXIT.search(node["rest"])
        tree[name] = (path[-1], int(status[1]) if status else None)
        path.append(name)
    return tree


def drawn_modules() -> dict[str, str]:
    """The list under the tree: class name → the file it is said to live in."""
    doc = errors.__doc__ or ""
    listing = doc.split(HEADER, 1)[1]
    where: dict[str, str] = {}
    current = ""
    for raw in listing.strip("\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(("bot/", "runbooks/")):
            current, _, line = line.partition(" ")
        assert current, f"a name before any file in the list: {raw!r}"
        for name in (n.strip() for n in line.split(",")):
            if name:
                where[name] = current
    return where


def _file_of(cls: type) -> str:
    return cls.__module__.replace(".", "/") + ".py"


def test_every_error_class_is_drawn_in_the_tree() -> None:
    defined, tree = defined_errors(), drawn_tree()
    assert sorted(set(defined) - set(tree)) == [], "errors missing from the tree"
    assert sorted(set(tree) - set(defined)) == [], "the tree draws errors that do not exist"


def test_each_error_hangs_under_its_real_parent() -> None:
    defined, tree = defined_errors(), drawn_tree()
    for name, cls in defined.items():
        parents = [b.__name__ for b in cls.__bases__ if issubclass(b, StackbotError)]
        expected = parents[0] if parents else None
        assert tree[name][0] == expected, f"{name} is drawn under {tree[name][0]}, not {expected}"


def test_the_exit_statuses_drawn_are_the_real_ones() -> None:
    """Where a line names a status it is the class's; where a class exits other than its
    parent, its line must say so."""
    defined, tree = defined_errors(), drawn_tree()
    for name, cls in defined.items():
        parent, drawn = tree[name]
        if drawn is not None:
            assert cls.exit_status == drawn, f"{name} exits {cls.exit_status}, drawn {drawn}"
        inherited = defined[parent].exit_status if parent else None
        if cls.exit_status != inherited:
            assert drawn is not None, f"{name} exits {cls.exit_status}: the tree must say so"


def test_errors_defined_elsewhere_are_listed_under_their_module() -> None:
    defined, where = defined_errors(), drawn_modules()
    elsewhere = {n: _file_of(c) for n, c in defined.items() if c.__module__ != errors.__name__}
    assert where == elsewhere
