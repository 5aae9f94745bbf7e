"""The runbooks: checks and actions written against ``bot.session.HostSession``.

Every module here (not starting with ``_``) must declare ``RUNBOOK``; loading
fails loudly, naming the module, when one does not.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from bot.runbook import Runbook, RunbookDefinitionError


def load_runbooks() -> dict[str, Runbook[Any, Any]]:
    found: dict[str, Runbook[Any, Any]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        runbook = getattr(module, "RUNBOOK", None)
        if not isinstance(runbook, Runbook):
            raise RunbookDefinitionError(f"runbooks.{info.name} declares no RUNBOOK = Runbook(...)")
        if runbook.name in found:
            raise RunbookDefinitionError(f"runbook name {runbook.name!r} is declared twice")
        found[runbook.name] = runbook
    return found
