"""Containers left by ``docker compose run`` without ``--rm``.

Project ``shop`` is healthy; over a few days people ran the migrations and a
``showmigrations`` through ``compose run backend …`` (no ``--rm``), leaving exited
one-off containers (``shop-backend-run-…``), plus one ``compose run -d`` that is still
running a sleep someone forgot. The backend service itself runs fine.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import H1, compose, shop
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    d = shop(lab)
    for argv in (
        ["python3", "/app/manage.py", "migrate"],
        ["python3", "/app/manage.py", "showmigrations"],
    ):
        compose(H1, d, "run", "-T", "--no-deps", "backend", *argv)
    compose(H1, d, "run", "-d", "-T", "--no-deps", "backend", "sleep", "86400")


SCENARIO = Scenario(
    id="compose-run-leftovers",
    title="one-off containers left by compose run (two exited, one still running)",
    family="compose",
    build=build,
    expect=Expect(
        required=(Required(code="compose.run_leftover", subject="backend"),),
        forbidden=("container.down", "compose.orphan_container", "compose.project_mismatch"),
    ),
)
