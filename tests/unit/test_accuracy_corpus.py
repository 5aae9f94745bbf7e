"""Every scenario file of the accuracy corpus loads and is well-formed (no lab needed)."""

from __future__ import annotations

import inspect
import re
from collections import Counter
from pathlib import Path

import pytest

from bench.accuracy import corpus
from bench.accuracy.model import ALWAYS_TOLERATED, FAMILIES, Scenario
from tests.lab.inventory import base_inventory

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"  # where the README points; absent outside the workspace
SEED_FILES = ("000_11c094d2cc4c67ab.txt", "001_102ac80cae658f17.txt", "002_927f202b09f4bdfc.txt",
              "003_3fdc45080e43865e.txt", "004_ac68c628d6dae2c0.txt")  # fmt: skip


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return corpus.load()


def catalogue_codes() -> set[str]:
    """The codes docs/FINDINGS.md's tables define (first column, in backticks)."""
    text = (ROOT / "docs" / "FINDINGS.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", text, flags=re.MULTILINE))


def test_the_corpus_is_large_enough(scenarios: list[Scenario]) -> None:
    assert len(scenarios) >= 30
    families = Counter(s.family for s in scenarios)
    assert families["healthy"] >= 6
    incidents = [s for s in scenarios if s.family not in ("seed", "healthy")]
    assert len(incidents) >= 18
    assert {s.id for s in scenarios} >= {"S1", "S2", "S3", "S4", "S5", "S6"}
    assert set(families) <= set(FAMILIES)


def test_ids_are_unique_and_files_are_named_after_their_family(scenarios: list[Scenario]) -> None:
    assert len({s.id for s in scenarios}) == len(scenarios)
    for name, s in zip(corpus.module_names(), scenarios, strict=True):
        assert name.startswith(f"{s.family}_"), f"{name}.py holds a {s.family} scenario"


def test_every_expected_code_is_in_the_catalogue(scenarios: list[Scenario]) -> None:
    known = catalogue_codes()
    assert "container.down" in known and "disk.low" in known  # the parse itself works
    missing = {
        code: sorted(s.id for s in scenarios if code in s.expect.codes())
        for s in scenarios
        for code in s.expect.codes()
        if code not in known
    }
    missing.update({code: ["ALWAYS_TOLERATED"] for code in ALWAYS_TOLERATED if code not in known})
    assert not missing, f"codes not in docs/FINDINGS.md (code: scenarios): {missing}"


def test_the_seed_scenarios_name_their_seed_files(scenarios: list[Scenario]) -> None:
    seeds = {s.id: s.seed for s in scenarios if s.family == "seed"}
    assert [seeds[f"S{i}"] for i in range(1, 6)] == list(SEED_FILES)
    assert seeds["S6"] is None  # the brief's full disk has no seed file
    if SEEDS.is_dir():
        assert all((SEEDS / name).is_file() for name in SEED_FILES)


def test_every_scenario_is_a_file_a_contributor_can_copy(scenarios: list[Scenario]) -> None:
    environments = set(base_inventory()["environments"])
    for name, s in zip(corpus.module_names(), scenarios, strict=True):
        module = inspect.getmodule(s.build)
        assert module is not None and module.__name__.endswith(f".{name}")
        assert (module.__doc__ or "").strip(), f"{name}.py: the docstring tells the story"
        assert list(inspect.signature(s.build).parameters) == ["lab"], name
        assert s.environment in environments, f"{s.id}: no environment {s.environment!r}"
        assert s.skip_reason is None or len(s.skip_reason) > 20
        assert all(r.subject.strip() for r in s.expect.required)


def test_skipped_scenarios_are_few_and_said(scenarios: list[Scenario]) -> None:
    skipped = [s.id for s in scenarios if s.skip_reason]
    assert len(skipped) <= 2, skipped


def test_select_only_family_and_fast(scenarios: list[Scenario]) -> None:
    assert [s.id for s in corpus.select(scenarios, only=["S2", "S1"])] == ["S1", "S2"]
    assert {s.family for s in corpus.select(scenarios, family="database")} == {"database"}
    fast = corpus.select(scenarios, fast=True)
    families = [s.family for s in fast]
    assert len(families) == len(set(families))
    assert set(families) == {s.family for s in scenarios if s.skip_reason is None}
    assert all(s.skip_reason is None for s in fast)
    with pytest.raises(corpus.CorpusError, match="unknown scenario"):
        corpus.select(scenarios, only=["nope"])
    with pytest.raises(corpus.CorpusError, match="unknown family"):
        corpus.select(scenarios, family="nope")


def test_the_script_lists_the_corpus_without_a_lab(capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import bench_accuracy

    bench_accuracy.main(["--list", "--family", "healthy"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 6 and all(" healthy " in line for line in lines)
    with pytest.raises(SystemExit) as exit_info:
        bench_accuracy.main(["--only", "no-such-scenario"])
    assert exit_info.value.code == 2


def test_contributing_shows_a_real_scenario_file_whole() -> None:
    example = ROOT / "bench" / "accuracy" / "scenarios" / "compose_01_config_stale.py"
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert "## Adding an accuracy scenario" in text
    assert f"```python\n{example.read_text()}```" in text


def test_inventory_overrides_reach_the_inventory_diagnosed(tmp_path: Path) -> None:
    from bench.accuracy.run import inventory_path
    from bot.inventory.config import load_inventory
    from tests.lab.lab import Lab

    lab = Lab()  # cheap: paths only, nothing started
    plain = corpus.select(corpus.load(), only=["S2"])[0]
    assert inventory_path(lab, plain, tmp_path) == lab.inventory_path
    stack = {"shop": {"required_env": ["REDIS_URL"]}}
    declared = plain.model_copy(update={"inventory": {"environments": {"lab": {"stacks": stack}}}})
    written = inventory_path(lab, declared, tmp_path)
    assert written.parent == tmp_path
    inventory = load_inventory(written)
    assert inventory.environments["lab"].stacks["shop"].required_env == ("REDIS_URL",)
    assert set(inventory.environments) >= {"lab", "small"}  # the rest of the lab's inventory
