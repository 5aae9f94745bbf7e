"""The runbooks: checks and actions written against ``bot.framework.session.HostSession``.

Every module here (not starting with ``_``) must declare ``RUNBOOK`` (a report; a
package declares it in its ``runbook`` module) or, named ``fix_*``, ``ACTION`` (a fix).
One naming scheme (``bot.framework.runbook.module_for``): the module's name is the
declared name, dots as underscores, ``fix_`` before a fix's. Loading fails loudly,
naming the module, when a module declares neither or is named otherwise.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from bot.framework.action import Action
from bot.framework.runbook import Risk, Runbook, RunbookDefinitionError, module_for


def load_runbooks() -> dict[str, Runbook[Any, Any]]:
    found: dict[str, Runbook[Any, Any]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        suffix = ".runbook" if info.ispkg else ""
        module = importlib.import_module(f"{__name__}.{info.name}{suffix}")
        if isinstance(getattr(module, "ACTION", None), Action):
            continue
        runbook = getattr(module, "RUNBOOK", None)
        if not isinstance(runbook, Runbook):
            raise RunbookDefinitionError(
                f"runbooks.{info.name} declares neither RUNBOOK = Runbook(...) "
                "nor ACTION = Action(...)"
            )
        if runbook.name in found:
            raise RunbookDefinitionError(f"runbook name {runbook.name!r} is declared twice")
        _named_as_declared(info.name, runbook.name, Risk.READ_ONLY)
        found[runbook.name] = runbook
    return found


def load_runbook(name: str) -> Runbook[Any, Any]:
    """Import just the named runbook (fast start-up for one command)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name == name.replace(".", "_") and not info.name.startswith("_"):
            suffix = ".runbook" if info.ispkg else ""
            runbook = getattr(
                importlib.import_module(f"{__name__}.{info.name}{suffix}"), "RUNBOOK", None
            )
            if isinstance(runbook, Runbook) and runbook.name == name:
                return runbook
    raise RunbookDefinitionError(f"no runbook named {name!r}")


def load_actions() -> dict[str, Action[Any]]:
    """Every fix (modules ``fix_*``), by action name."""
    found: dict[str, Action[Any]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("fix_"):
            continue
        action = getattr(importlib.import_module(f"{__name__}.{info.name}"), "ACTION", None)
        if not isinstance(action, Action):
            raise RunbookDefinitionError(f"runbooks.{info.name} declares no ACTION = Action(...)")
        _named_as_declared(info.name, action.name, action.risk)
        found[action.name] = action
    return found


def _named_as_declared(module: str, name: str, risk: Risk) -> None:
    """The one naming scheme: ``runbooks.<module>`` is where ``name`` must live."""
    expected = module_for(name, risk)
    if module != expected:
        raise RunbookDefinitionError(
            f"runbooks.{module} declares {name!r}, which belongs in runbooks.{expected}"
        )
