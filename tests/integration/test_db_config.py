"""Apps configured with libpq ``PG*`` or split ``SHOP_DB_*`` variables get ``db.empty`` and
``db.missing`` like URL-configured ones; a down container's finding carries its last log
lines. Built on a real Docker engine (h1, beside the ``healthy`` scenario), read over SSH.

Two compose projects, each a Postgres service (the lab's image, ``.env`` holding its
``POSTGRES_*``) and a busybox sleeper as the app (the diagnosis never needs the app to
work, only its environment):

- ``pgvars``: the app has ``PGHOST=db PGPORT PGDATABASE=pgshop PGUSER PGPASSWORD``;
- ``splitvars``: the app has ``SHOP_DB_HOST=db SHOP_DB_NAME=shop SHOP_DB_USER
  SHOP_DB_PASSWORD`` beside the shared ``POSTGRES_*``; its ``worker`` prints the
  password and a fatal line, then exits 3 (restart ``no``): ``container.down``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.framework.action import ActionResult
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import DiagnosisReport
from bot.model.findings import Finding
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.integration.test_diagnose import describe, diagnose
from tests.integration.test_fix_data import run
from tests.lab import images
from tests.lab.config import H1, PLANTED_PASSWORD, PLANTED_SECRET, STACKS_DIR
from tests.lab.lab import Lab
from tests.lab.scenarios import SLEEPER_CMD
from tests.lab.stack import (
    cname,
    compose,
    db_service,
    exec_in,
    wait_health,
    write_compose,
    write_env,
)

pytestmark = pytest.mark.lab


@dataclass(frozen=True)
class Spec:
    db: dict[str, str]  # the database service's POSTGRES_*
    app: dict[str, str]  # what the app adds to the shared .env
    source: str  # config_source the findings must name
    database: str


PROJECTS = {
    "pgvars": Spec(
        db={"POSTGRES_USER": "pgowner", "POSTGRES_PASSWORD": PLANTED_PASSWORD,
            "POSTGRES_DB": "pgshop"},
        app={"PGHOST": "db", "PGPORT": "5432", "PGDATABASE": "pgshop", "PGUSER": "pgowner",
             "PGPASSWORD": PLANTED_PASSWORD, "SECRET_KEY": PLANTED_SECRET},
        source="PG*",
        database="pgshop",
    ),
    "splitvars": Spec(
        db={"POSTGRES_USER": "shop", "POSTGRES_PASSWORD": PLANTED_PASSWORD,
            "POSTGRES_DB": "shop"},
        app={"SHOP_DB_HOST": "db", "SHOP_DB_NAME": "shop", "SHOP_DB_USER": "shop",
             "SHOP_DB_PASSWORD": PLANTED_PASSWORD, "SECRET_KEY": PLANTED_SECRET},
        source="DB_* (prefix SHOP_DB_)",
        database="shop",
    ),
}  # fmt: skip
# `$$`: compose would interpolate `$X` itself; the shell in the container must
SLEEPER = [arg.replace("$", "$$") for arg in SLEEPER_CMD]
WORKER_SCRIPT = (
    'echo "worker starting"; echo "connecting as $$SHOP_DB_USER with $$SHOP_DB_PASSWORD"; '
    'echo "FATAL: cannot reach the queue"; exit 3'
)


def _compose_file(project: str) -> dict[str, Any]:
    app = {
        "image": images.ref("busybox"),
        "command": SLEEPER,
        "env_file": [".env"],
        "restart": "unless-stopped",
    }
    services: dict[str, Any] = {"db": db_service(), "app": app}
    if project == "splitvars":
        services["worker"] = {
            "image": images.ref("busybox"),
            "command": ["sh", "-c", WORKER_SCRIPT],
            "env_file": [".env"],
            "restart": "no",
        }
    return {"services": services, "volumes": {"postgres_data": {}}}


@pytest.fixture(scope="module")
def stacks(lab: Lab) -> Iterator[dict[str, Path]]:
    """The two projects on h1 beside the healthy ``shop``; removed afterwards."""
    ensure_scenario(lab, "healthy")
    dirs: dict[str, Path] = {}
    try:
        for project, spec in PROJECTS.items():
            d = STACKS_DIR / project
            write_env(d, {**spec.db, **spec.app})
            write_compose(d, _compose_file(project))
            dirs[project] = d
            compose(H1, d, "up", "-d", project=project)
        wait_health(lab.docker("h1"), {cname(p, "db"): "healthy" for p in PROJECTS})
        wait_health(lab.docker("h1"), {cname("splitvars", "worker"): "exited"})
        yield dirs
    finally:
        for project, d in dirs.items():
            compose(H1, d, "down", "-v", "--remove-orphans", project=project, check=False)
        lab.last_scenario = None  # h1 is no longer exactly `healthy`


@pytest.fixture(scope="module")
def inventory(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = write_inventory(
        tmp_path_factory.mktemp("db-config") / "inv.yaml",
        lab,
        {"lab": {"hosts": {"h1": lab_host(lab, "h1")}}},
    )
    return load_inventory(path)


def _db_finding(report: DiagnosisReport, code: str, project: str) -> Finding:
    found = [f for f in report.findings if f.code == code and f.subject.project == project]
    assert len(found) == 1, f"{code} of {project}:\n{describe(report)}"
    return found[0]


def _no_secret(report: DiagnosisReport) -> None:
    text = json.dumps(report.model_dump(mode="json"))
    assert PLANTED_PASSWORD not in text and PLANTED_SECRET not in text


def test_pg_and_split_variables_get_db_empty(
    lab: Lab, stacks: dict[str, Path], inventory: Inventory
) -> None:
    report = diagnose(inventory, "lab")
    for project, spec in PROJECTS.items():
        empty = _db_finding(report, "db.empty", project)
        assert empty.evidence["database"] == spec.database
        assert empty.evidence["tables"] == 0
        assert empty.evidence["config_source"] == spec.source
        keys = empty.evidence["config_keys"]
        assert isinstance(keys, list) and keys, empty.evidence
        assert set(keys) <= set(spec.app) and "SECRET_KEY" not in keys
        assert empty.fixes and empty.fixes[0].action == "db.migrate"
    # the URL-configured healthy stack beside them stays quiet
    assert not [
        f for f in report.findings if f.code.startswith("db.") and f.subject.project == "shop"
    ]
    _no_secret(report)


def test_a_down_container_carries_its_last_log_lines_redacted(
    lab: Lab, stacks: dict[str, Path], inventory: Inventory
) -> None:
    report = diagnose(inventory, "lab")
    down = [
        f
        for f in report.findings
        if f.code == "container.down" and f.subject.container == cname("splitvars", "worker")
    ]
    assert len(down) == 1, describe(report)
    (finding,) = down
    assert finding.evidence["exit_code"] == 3
    assert finding.evidence["last_log_lines"] == [
        "worker starting",
        "connecting as shop with ***",
        "FATAL: cannot reach the queue",
    ]
    _no_secret(report)


def test_pg_and_split_variables_get_db_missing(
    lab: Lab, stacks: dict[str, Path], inventory: Inventory, tmp_path: Path
) -> None:
    h1 = lab.docker("h1")
    for project, spec in PROJECTS.items():
        exec_in(
            h1,
            cname(project, "db"),
            ["psql", "-h", "/run/postgresql", "-U", spec.db["POSTGRES_USER"], "-d",
             "postgres", "-Atc", f"DROP DATABASE IF EXISTS {spec.database} WITH (FORCE)"],
        )  # fmt: skip
    report = diagnose(inventory, "lab")
    for project, spec in PROJECTS.items():
        missing = _db_finding(report, "db.missing", project)
        assert missing.evidence["database"] == spec.database
        assert missing.evidence["sqlstate"] == "3D000"
        assert missing.evidence["config_source"] == spec.source
        (fix,) = missing.fixes
        assert fix.action == "db.create"
        assert fix.params["database"] == spec.database
        assert fix.params["owner"] == spec.db["POSTGRES_USER"]
    _no_secret(report)
    # the offered db.create finds the server from the same settings, and cures it
    results: list[ActionResult] = []
    for project in PROJECTS:
        (fix,) = _db_finding(report, "db.missing", project).fixes
        params = {k: v for k, v in fix.params.items() if k != "host"}
        plan, result = run(inventory, "db.create", tmp_path, results, **params)
        assert plan.refusal is None and len(plan.steps) == 1, plan
        assert cname(project, "db") in plan.steps[0].description
        assert result.status == "applied", result
        assert result.post_check is not None and result.post_check.cleared, result
    after = diagnose(inventory, "lab")
    assert not [
        f for f in after.findings if f.code == "db.missing" and f.subject.project in PROJECTS
    ], describe(after)
