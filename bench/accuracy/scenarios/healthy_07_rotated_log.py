"""Healthy, with a trap: a chatty service whose json-file log is big but rotated.

Project ``shop`` plus a ``tracker`` that logs a lot (about 20 MB), with
``logging: json-file, max-size 2m, max-file 3``: Docker rotates it, so it never holds
more than 6 MB. Loud, not a problem.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import H1, allow_log_stat, backend_service, shop
from tests.lab.lab import Lab

LINE = "tracker: event page_view user=4711 path=/products/42 " + "y" * 60


def build(lab: Lab) -> None:
    tracker = {
        "image": backend_service()["image"],
        "command": ["sh", "-c", f'yes "{LINE}" | head -n 170000; exec sleep 86400'],
        "logging": {"driver": "json-file", "options": {"max-size": "2m", "max-file": "3"}},
        "restart": "unless-stopped",
    }
    shop(lab, extra={"tracker": tracker})
    allow_log_stat(H1)  # the log check can see every log: the trap is really looked at


SCENARIO = Scenario(
    id="healthy-rotated-log",
    title="healthy; trap: a loud tracker whose json-file log is rotated (2m x 3)",
    family="healthy",
    build=build,
    expect=Expect(forbidden=("disk.logs_unrotated", "disk.low")),
)
