"""The corpus: every module of ``bench/accuracy/scenarios/``, each declaring ``SCENARIO``.

Loading fails loudly (a module without a ``Scenario``, two with one id), as runbook
discovery does: a malformed scenario never silently drops out of the score.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from bench.accuracy import scenarios as package
from bench.accuracy.model import FAMILIES, Scenario


class CorpusError(ValueError):
    """A scenario file is malformed, or a selection names nothing."""


def module_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg)


def load() -> list[Scenario]:
    """Every scenario, in file name order."""
    out: list[Scenario] = []
    seen: dict[str, str] = {}
    for name in module_names():
        module = importlib.import_module(f"{package.__name__}.{name}")
        scenario = getattr(module, "SCENARIO", None)
        if not isinstance(scenario, Scenario):
            raise CorpusError(f"{name}.py declares no SCENARIO = Scenario(...)")
        if scenario.id in seen:
            raise CorpusError(f"scenario id {scenario.id!r} in both {seen[scenario.id]} and {name}")
        seen[scenario.id] = name
        out.append(scenario)
    return out


def select(
    scenarios: Iterable[Scenario],
    *,
    only: Iterable[str] = (),
    family: str | None = None,
    fast: bool = False,
) -> list[Scenario]:
    """``only`` these ids, or one ``family``, or (``fast``) the first of each family."""
    chosen = list(scenarios)
    wanted = [i for i in only if i]
    if wanted:
        known = {s.id for s in chosen}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise CorpusError(f"unknown scenario(s): {', '.join(unknown)}")
        chosen = [s for s in chosen if s.id in wanted]
    if family is not None:
        if family not in FAMILIES:
            raise CorpusError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
        chosen = [s for s in chosen if s.family == family]
    if fast:
        first: dict[str, Scenario] = {}
        for s in chosen:
            if s.skip_reason is None:
                first.setdefault(s.family, s)
        chosen = [s for s in chosen if first.get(s.family) is s]
    return chosen
