"""Healthy, with a trap: a one-shot migration container that exited (0) on purpose.

Project ``shop`` with a ``migrate`` service (restart ``no``) that runs the migrations
and exits 0; backend waits for it (``depends_on: migrate:
service_completed_successfully``). The stopped ``migrate`` container is how the stack
is meant to look, not a service down.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import backend_service, shop
from tests.lab.lab import Lab


def build(lab: Lab) -> None:
    migrate = backend_service(
        command=["python3", "/app/manage.py", "migrate"],
        healthcheck={"disable": True},
        restart="no",
    )
    backend = backend_service()
    backend["depends_on"] = {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    shop(lab, services={"backend": backend}, extra={"migrate": migrate}, migrate=False)


SCENARIO = Scenario(
    id="healthy-one-shot-migration",
    title="healthy; trap: a migrate one-shot container exited 0 with restart no",
    family="healthy",
    build=build,
    expect=Expect(forbidden=("container.down", "db.empty", "db.migrations_pending")),
)
