"""CLI: python -m tests.lab up [--scenario NAME] | scenario NAME | down | status."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .inventory import ENVIRONMENT_OF_HOST
from .lab import Lab
from .scenarios import SCENARIOS
from .util import LabError, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the lab (or attach) and leave it running")
    up.add_argument("--scenario", choices=sorted(SCENARIOS), help="then build this scenario")
    up.add_argument("--compose", choices=("v2", "v1"), help="build it with (default: v2)")
    sc = sub.add_parser("scenario", help="build a scenario in the running lab")
    sc.add_argument("name", choices=sorted(SCENARIOS))
    sc.add_argument("--compose", choices=("v2", "v1"), help="build it with (default: v2)")
    sub.add_parser("down", help="stop the lab and remove everything of it but the image cache")
    sub.add_parser("status", help="what runs")
    args = parser.parse_args(argv)

    lab = Lab()
    t0 = time.monotonic()
    try:
        if args.command == "up":
            lab.start()
            env = "lab"
            if args.scenario:
                info = lab.scenario(args.scenario, args.compose)
                print(json.dumps(info.__dict__, indent=1))
                env = ENVIRONMENT_OF_HOST[info.host]
            log(f"up done in {time.monotonic() - t0:.1f}s")
            print(f"inventory: {lab.inventory_path}")
            print(f"environment: {env}")  # where the scenario's incident is
        elif args.command == "scenario":
            if not lab.is_running():
                lab.start()
            print(json.dumps(lab.scenario(args.name, args.compose).__dict__, indent=1))
        elif args.command == "down":
            lab.stop()
        else:
            print(json.dumps(lab.status(), indent=1, default=str))
    except LabError as exc:
        print(f"lab error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
