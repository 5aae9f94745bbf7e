"""Seed 000 / lab scenario S1 as a ``DiagnosisReport``, built from the unit factories.

No lab needed: the facts a real diagnosis of S1 gathers (tests/lab/scenarios.py ``s1``)
are built with ``tests.unit.diagnose.factories`` and judged by the real checks, so
the report holds what the checks say today. The project was first deployed as
``multivendor`` (its data, 72.7 MB, left in ``multivendor_postgres_data``), then
renamed ``indexo-staging``: the database runs on a new, nearly empty volume, only on
the ``internal`` network, and the backend, on ``default``, cannot resolve ``db``.
Thirteen anonymous volumes nobody mounts fill ``volume.unused``.
"""

from __future__ import annotations

from datetime import timedelta

from bot.inventory.config.models import StackConfig
from bot.model.diagnosis import DiagnosisReport, HostStatus
from bot.model.findings import Finding, Severity, sort_findings
from runbooks.diagnose.facts import DatabaseFacts, HostFacts, Resolution
from runbooks.diagnose.runbook import judge
from tests.unit.diagnose.factories import (
    NOW,
    ago,
    container,
    facts,
    object_id,
    volume,
)

ENVIRONMENT = "staging"
HOST = "web1"
PROJECT = "indexo-staging"
SECRET = "pw-planted-4e1d"
ORPHAN_SIZE = 72_744_892  # the "72.7 MB"
CURRENT_SIZE = 48_213_504
BACKEND = "indexo_backend_staging"
DB = "indexo_db_staging"
REQUESTED_BY = "U024BE7LH"


def s1_facts() -> HostFacts:
    current = f"{PROJECT}_postgres_data"
    orphan = "multivendor_postgres_data"
    db_env = {"POSTGRES_USER": "multivendor", "POSTGRES_PASSWORD": SECRET}
    db_env["POSTGRES_DB"] = "multivendor"
    url = f"postgresql://multivendor:{SECRET}@db:5432/multivendor"
    anonymous = [
        volume(object_id(f"anonymous-{n}"), size=0 if n % 3 else 4096 * n, created=ago(days=n))
        for n in range(13)
    ]
    return facts(
        [
            container(
                DB,
                project=PROJECT,
                service="db",
                image="postgres:15-alpine",
                env=db_env,
                networks={f"{PROJECT}_internal": ["db"]},
                volumes=[current],
                created=ago(hours=2),
                health="healthy",
                health_log=["accepting connections"],
            ),
            container(
                BACKEND,
                project=PROJECT,
                service="backend",
                image="indexo-backend:latest",
                env={"DATABASE_URL": url, "SECRET_KEY": SECRET},
                networks={f"{PROJECT}_default": ["backend"]},
                created=ago(hours=2),
                health="unhealthy",
                health_log=[
                    'could not translate host name "db" to address: Name or service not known'
                ]
                * 3,
            ),
        ],
        environment=ENVIRONMENT,
        host=HOST,
        declared={
            PROJECT: StackConfig(
                compose_project=PROJECT, migrate_command=("python3", "/app/manage.py", "migrate")
            )
        },
        volumes=[
            volume(
                current,
                project=PROJECT,
                compose_volume="postgres_data",
                size=CURRENT_SIZE,
                created=ago(hours=2),
            ),
            volume(
                orphan,
                project="multivendor",
                compose_volume="postgres_data",
                size=ORPHAN_SIZE,
                created=ago(days=3),
            ),
            *anonymous,
        ],
        resolutions=(Resolution(container=BACKEND, hostname="db", resolved=False),),
        databases=(
            DatabaseFacts(
                stack=PROJECT,
                app_service="backend",
                db_service="db",
                db_container=DB,
                host="db",
                address="172.19.0.2",
                dbname="multivendor",
                user="multivendor",
                source="DATABASE_URL",
                keys=("DATABASE_URL",),
                status="ok",
                tables=0,
                cluster_initialized_at=NOW - timedelta(hours=2),
            ),
        ),
    )


def report_of(findings: list[Finding], *, duration: float = 3.4) -> DiagnosisReport:
    counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
    verdict = "critical" if counts["critical"] else "warning" if counts["warning"] else "healthy"
    return DiagnosisReport(
        environment=ENVIRONMENT,
        started_at=NOW,
        duration=duration,
        verdict=verdict,
        counts=counts,
        hosts=[
            HostStatus(
                host=HOST,
                label=f"{ENVIRONMENT}/{HOST} (deploy@203.0.113.10:22)",
                reached=True,
                duration=duration,
                stacks=[PROJECT],
                containers=2,
            )
        ],
        findings=sort_findings(findings),
    )


def s1_report() -> DiagnosisReport:
    """What ``/stack diagnose staging`` finds in S1."""
    return report_of(list(judge(s1_facts()).findings))


def after_connect_report() -> DiagnosisReport:
    """S1 diagnosed again after the ``network.connect`` click: the split is gone."""
    return report_of(
        [f for f in s1_report().findings if f.code not in ("network.split", "container.unhealthy")]
    )
