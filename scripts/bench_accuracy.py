"""`scripts/bench accuracy`: the corpus of Compose incidents, built on the lab and scored.

Builds every scenario of bench/accuracy/scenarios/ on the lab's real Docker engine,
diagnoses its environment as ``stackbot diagnose ENV --format json`` does, and prints
and writes (markdown) per scenario and in total: recall of required findings (code +
subject), false findings, false criticals, time per diagnosis, and what was skipped.

Exit status 1 when recall is below 95 %, any finding is a false critical, a healthy
control has a finding above info, or a scenario could not be built or diagnosed; 2 on a
bad selection. Needs root (the lab); starts the lab if it is not running and stops it
again at the end (a running lab is left running).

    scripts/bench accuracy                      # everything, writes bench/accuracy/RESULTS.md
    scripts/bench accuracy --fast               # the first scenario of each family
    scripts/bench accuracy --only oom-worker,S1 --output -   # print only
    scripts/bench accuracy --family database
    scripts/bench accuracy --list
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.accuracy import corpus
from bench.accuracy.markdown import machine, render
from bench.accuracy.model import FAMILIES, Scenario
from bench.accuracy.score import ScenarioScore, totals

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "bench" / "accuracy" / "RESULTS.md"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench accuracy", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--only", default="", metavar="ID,ID", help="only these scenarios")
    parser.add_argument("--family", choices=FAMILIES, help="only this family")
    parser.add_argument("--fast", action="store_true", help="the first scenario of each family")
    parser.add_argument(
        "--output", default=str(DEFAULT_OUTPUT), metavar="PATH",
        help="markdown file to write, '-' for none (default bench/accuracy/RESULTS.md)",
    )  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--findings", action="store_true", help="print every finding of each diagnosis"
    )
    return parser.parse_args(argv)


def _list(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        skip = f"  [skipped: {s.skip_reason}]" if s.skip_reason else ""
        print(f"{s.id:32} {s.family:10} {s.compose}  {s.title}{skip}")


def main(argv: list[str]) -> None:
    args = parse(argv)
    try:
        chosen = corpus.select(
            corpus.load(), only=args.only.split(","), family=args.family, fast=args.fast
        )
    except corpus.CorpusError as exc:
        print(f"bench accuracy: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.list:
        _list(chosen)
        return
    from bench.accuracy.run import run_scenario
    from tests.lab.lab import Lab

    lab = Lab()
    started_here = lab.start()
    pairs: list[tuple[Scenario, ScenarioScore]] = []
    try:
        for scenario in chosen:
            pairs.append((scenario, run_scenario(lab, scenario, verbose=args.findings)))
        engine = lab.docker("h1").version()
    finally:
        lab.close()
        if started_here:
            lab.stop()
    result = totals(s for _, s in pairs)
    text = render(
        pairs,
        result,
        command=shlex.join(["scripts/bench", "accuracy", *argv]),
        machine_lines=machine({"Docker engine (lab)": str(engine.get("Version", "?"))}),
    )
    print(text)
    if args.output != "-":
        Path(args.output).write_text(text)
        print(f"written: {args.output}", file=sys.stderr)
    if not result.ok:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
