"""The disk holding Docker's data is full (the brief's incident; no seed file).

The lab's S6: h2's 192 MiB data root filled above 96 % (and its inodes above 90 %).
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import seed_scenario
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    seed_scenario(lab, "S6")


SCENARIO = Scenario(
    id="S6",
    title="the disk holding Docker's data is full (the brief's incident, no seed file)",
    family="seed",
    environment="small",
    seed=None,
    build=build,
    expect=Expect(
        required=(Required(code="disk.low", subject="h2"),),
        tolerated=("disk.inodes_low",),
        forbidden=("volume.orphaned_data",),
    ),
)
