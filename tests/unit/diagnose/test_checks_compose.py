"""Compose checks: project mismatch, orphan containers, environment collisions, health checks."""

from __future__ import annotations

from typing import Any

from bot.config.models import StackConfig
from bot.docker_objects import ContainerDetails
from bot.findings import Finding, Severity
from runbooks.diagnose import checks_compose
from runbooks.diagnose.checks_compose import core_words, env_of
from runbooks.diagnose.facts import HostFacts
from tests.unit.diagnose.factories import (
    HOST,
    PLANTED_SECRET,
    ago,
    container,
    facts,
    lab_env,
    lab_stack,
)


def run(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_compose.CHECKS for finding in check(f)]


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def serious(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is not Severity.INFO]


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_names() -> None:
    assert env_of("filter-ical-backend-production") == "production"
    assert env_of("multivendor_db_staging") == "staging"
    assert env_of("app-test_default") == "test"
    assert env_of("shop-backend-1") is None
    assert env_of("prod-to-staging-sync") is None  # two environments: no single one
    assert core_words("filter-ical-backend-prod") == {"filter", "ical", "backend"}
    assert core_words("docker-deploy") == frozenset()


def test_healthy_lab_stack_has_no_findings() -> None:
    assert run(facts(lab_stack(), env_files={"/srv/shop/.env": lab_env()})) == []


# --- seed 000: multivendor_db_staging beside indexo_db_staging ------------------------

WD = "/home/deploy/docker-deploy"


def seed_000_containers(shared_volume: str | None = None) -> list[ContainerDetails]:
    """compose v1, one checkout: the old project 'docker-deploy' (container_name
    multivendor_*_staging) still runs beside 'indexo-staging' created today."""
    v1: dict[str, Any] = {"working_dir": WD, "config_files": "docker-compose.staging.yml"}
    return [
        container(
            "multivendor_db_staging",
            project="docker-deploy",
            service="db",
            image="postgres:15-alpine",
            env={"POSTGRES_PASSWORD": PLANTED_SECRET},
            networks={"docker-deploy_internal_staging": ["db"]},
            volumes=[shared_volume or "docker-deploy_postgres_data_staging"],
            created=ago(days=40),
            **v1,
        ),
        container(
            "multivendor_backend_staging",
            project="docker-deploy",
            service="backend",
            image="multivendor-backend:staging",
            env={"DB_HOST": "db", "DB_PASSWORD": PLANTED_SECRET},
            networks={
                "docker-deploy_multivendor_network": ["backend"],
                "docker-deploy_internal_staging": ["backend"],
            },
            created=ago(days=40),
            **v1,
        ),
        container(
            "indexo_db_staging",
            project="indexo-staging",
            service="db",
            image="postgres:15-alpine",
            env={"POSTGRES_PASSWORD": PLANTED_SECRET},
            networks={"indexo-staging_internal_staging": ["db"]},
            volumes=[shared_volume or "indexo-staging_postgres_data_staging"],
            healthcheck=["CMD-SHELL", "pg_isready -U postgres"],
            created=ago(hours=2),
            **v1,
        ),
    ]


def test_seed_000_old_db_is_an_orphan_and_the_old_backend_a_project_mismatch() -> None:
    f = facts(seed_000_containers(), declared={"indexo-staging": StackConfig()})
    findings = run(f)
    assert codes(serious(findings)) == ["compose.orphan_container", "compose.project_mismatch"]

    [orphan] = only(findings, "compose.orphan_container")
    assert orphan.severity is Severity.WARNING
    assert orphan.subject.container == "multivendor_db_staging"
    assert orphan.subject.project == "docker-deploy"
    ev = orphan.evidence
    assert ev["current_project"] == "indexo-staging"
    assert ev["current_containers"] == ["indexo_db_staging"]
    assert ev["volumes"] == ["docker-deploy_postgres_data_staging"]
    assert ev["current_volumes"] == ["indexo-staging_postgres_data_staging"]
    assert ev["relation"] == f"same compose file {WD}/docker-compose.staging.yml"
    assert "multivendor_db_staging" in orphan.title
    assert "indexo_db_staging" in orphan.title
    assert [fix.action for fix in orphan.fixes] == ["volumes.list"]
    assert orphan.fixes[0].params == {"host": HOST}

    [mismatch] = only(findings, "compose.project_mismatch")
    assert mismatch.severity is Severity.WARNING
    assert mismatch.subject.project == "indexo-staging"
    assert mismatch.evidence["running_project"] == "docker-deploy"
    assert mismatch.evidence["services"] == ["backend"]
    assert mismatch.evidence["containers"] == ["multivendor_backend_staging"]
    # the old database has no health check; the new one has
    [info] = only(findings, "compose.no_healthcheck")
    assert info.subject.container == "multivendor_db_staging"
    for finding in findings:
        assert PLANTED_SECRET not in finding.model_dump_json()


def test_seed_000_undeclared_the_older_project_is_the_leftover() -> None:
    findings = run(facts(seed_000_containers()))
    orphans = only(findings, "compose.orphan_container")
    assert sorted(f.subject.container for f in orphans) == [  # type: ignore[type-var]
        "multivendor_backend_staging",
        "multivendor_db_staging",
    ]
    assert only(findings, "compose.project_mismatch") == []
    assert only(findings, "compose.env_collision") == []


def test_seed_000_explicit_volume_name_shared_by_both_databases_is_a_collision() -> None:
    findings = run(
        facts(
            seed_000_containers(shared_volume="postgres_data_staging"),
            declared={"indexo-staging": StackConfig()},
        )
    )
    [collision] = only(findings, "compose.env_collision")
    assert collision.severity is Severity.CRITICAL
    assert collision.subject.volume == "postgres_data_staging"
    assert collision.evidence["shared"] == "named volume"
    assert collision.evidence["containers"] == ["indexo_db_staging", "multivendor_db_staging"]
    assert "two databases on one data directory" in collision.title


def test_declared_stack_running_under_the_directory_default_project() -> None:
    """The inventory says -p indexo-staging; everything runs as 'docker-deploy'."""
    old = [c for c in seed_000_containers() if c.compose_project == "docker-deploy"]
    cfg = StackConfig(compose_project="indexo-staging", working_dir=WD)
    findings = run(facts(old, declared={"indexo": cfg}))
    [mismatch] = only(findings, "compose.project_mismatch")
    assert mismatch.subject.project == "indexo-staging"
    assert mismatch.evidence["configured_found"] is False
    assert mismatch.evidence["running_project"] == "docker-deploy"
    assert mismatch.evidence["containers"] == [
        "multivendor_backend_staging",
        "multivendor_db_staging",
    ]
    assert "none of its containers runs under that project" in mismatch.title
    assert only(findings, "compose.orphan_container") == []


def test_renamed_container_name_in_one_project_leaves_the_old_container() -> None:
    old = container(
        "multivendor_db_staging",
        project="staging",
        service="db",
        image="postgres:15-alpine",
        created=ago(days=20),
        healthcheck=["CMD", "pg_isready"],
    )
    new = container(
        "indexo_db_staging",
        project="staging",
        service="db",
        image="postgres:15-alpine",
        created=ago(hours=1),
        healthcheck=["CMD", "pg_isready"],
    )
    [orphan] = run(facts([old, new]))
    assert orphan.code == "compose.orphan_container"
    assert orphan.subject.container == "multivendor_db_staging"
    assert orphan.evidence["current_containers"] == ["indexo_db_staging"]


# --- seed 004: staging and production of one app on one host ------------------------

FI = "/home/ec2-user/filter-ical"


def fi(
    name: str, *, project: str | None, service: str, env_file: str | None = None, **kw: Any
) -> ContainerDetails:
    return container(
        name,
        project=project,
        service=service if project else None,
        image=f"filter-ical-{service}",
        working_dir=FI,
        environment_file=env_file,
        networks=["platform"],
        **kw,
    )


def test_seed_004_production_run_by_hand_beside_compose_staging() -> None:
    """The workaround: staging via docker-compose, production via 'docker run --env-file'."""
    stack = [
        fi("filter-ical-backend-staging", project="filter-ical", service="backend"),
        fi("filter-ical-frontend-staging", project="filter-ical", service="frontend"),
        fi(
            "filter-ical-backend-production",
            project=None,
            service="backend",
            env={"JWT_SECRET_KEY": PLANTED_SECRET},
        ),
    ]
    findings = run(facts(stack))
    assert codes(findings) == ["compose.env_collision", "compose.project_mismatch"]
    [mismatch] = only(findings, "compose.project_mismatch")
    assert mismatch.subject.model_dump(exclude_none=True) == {
        "environment": "staging",
        "host": HOST,
        "project": "filter-ical",
        "service": "backend",
        "container": "filter-ical-backend-production",
    }
    assert mismatch.evidence["matched_by"] == "name and image"
    assert mismatch.evidence["matched_container"] == "filter-ical-backend-staging"
    assert mismatch.evidence["environment"] == "production"
    assert "started with docker run" in mismatch.title
    [collision] = only(findings, "compose.env_collision")
    assert collision.severity is Severity.CRITICAL
    assert collision.evidence["shared"] == "container name pattern"
    assert collision.evidence["containers"] == [
        "filter-ical-backend-production",
        "filter-ical-backend-staging",
    ]
    assert "filter-ical-backend-{env}" in collision.title
    for finding in findings:
        assert PLANTED_SECRET not in finding.model_dump_json()


def test_seed_004_both_environments_in_one_compose_project() -> None:
    """Before the workaround: container_name from ${ENVIRONMENT}, one project, one service."""
    stack = [
        fi("filter-ical-backend-staging", project="filter-ical", service="backend"),
        fi("filter-ical-backend-production", project="filter-ical", service="backend"),
    ]
    [collision] = run(facts(stack))
    assert collision.code == "compose.env_collision"
    assert collision.subject.project == "filter-ical"
    assert collision.subject.service == "backend"
    assert collision.evidence["shared"] == "compose project and service"
    assert collision.evidence["container_environments"] == [
        "filter-ical-backend-production: production",
        "filter-ical-backend-staging: staging",
    ]
    assert "production and staging share compose project filter-ical" in collision.title


def test_seed_004_recommended_fix_separate_projects_and_env_files_is_quiet() -> None:
    stack = [
        fi(
            f"filter-ical-{svc}-{env}",
            project=f"filter-ical-{env}",
            service=svc,
            env_file=f"{FI}/.env.{env}",
            port_bindings={"8000/tcp": f"127.0.0.1:{port}"} if svc == "backend" else None,
            created=ago(hours=hours),
        )
        for env, port, hours in (("staging", 8001, 1), ("production", 8000, 30))
        for svc in ("backend", "frontend")
    ]
    assert run(facts(stack)) == []


def test_separate_projects_still_sharing_the_implied_env_file_collide() -> None:
    """'-p filter-ical-$ENV' without '--env-file': both read <working dir>/.env."""
    stack = [
        fi(f"filter-ical-backend-{env}", project=f"filter-ical-{env}", service="backend")
        for env in ("staging", "production")
    ]
    [collision] = run(facts(stack))
    assert collision.code == "compose.env_collision"
    assert collision.evidence["shared"] == "env file"
    assert collision.subject.path == f"{FI}/.env"
    assert "whichever was copied there last configures both" in collision.title


def test_two_environments_publishing_one_host_port() -> None:
    stack = [
        fi(
            f"filter-ical-backend-{env}",
            project=f"filter-ical-{env}",
            service="backend",
            env_file=f"{FI}/.env.{env}",
            port_bindings={"8000/tcp": binding},
            state=state,
        )
        for env, binding, state in (
            ("staging", "8000", "created"),
            ("production", "0.0.0.0:8000", "running"),
        )
    ]
    findings = run(facts(stack))
    [collision] = only(findings, "compose.env_collision")
    assert collision.evidence["shared"] == "host port"
    assert collision.evidence["ports"] == ["8000/tcp"]
    assert collision.evidence["containers"] == [
        "filter-ical-backend-production: running",
        "filter-ical-backend-staging: created",
    ]


def test_one_project_deployed_from_two_checkouts() -> None:
    stack = [
        container("app-backend-1", project="app", service="backend", working_dir="/srv/prod/app"),
        container("app-worker-1", project="app", service="worker", working_dir="/srv/staging/app"),
    ]
    [collision] = run(facts(stack))
    assert collision.code == "compose.env_collision"
    assert collision.subject.project == "app"
    assert collision.evidence["working_dirs"] == ["/srv/prod/app", "/srv/staging/app"] or (
        collision.evidence["working_dirs"] == ["/srv/staging/app", "/srv/prod/app"]
    )
    assert collision.evidence["shared"] == "compose project"


# --- what must stay quiet ---------------------------------------------------------------


def test_unrelated_stacks_with_the_same_database_image_are_not_orphans() -> None:
    findings = run(facts([*lab_stack("shop"), *lab_stack("blog", created=ago(hours=2))]))
    assert findings == []


def test_a_second_compose_file_in_the_same_directory_is_another_stack() -> None:
    monitoring = [
        container(
            "shop-monitoring-grafana-1",
            project="shop-monitoring",
            service="grafana",
            image="grafana/grafana:10",
            working_dir="/srv/shop",
            config_files="/srv/shop/docker-compose.monitoring.yml",
            created=ago(days=90),
        )
    ]
    assert run(facts([*lab_stack(), *monitoring])) == []


def test_generic_hand_run_containers_do_not_match_a_stack() -> None:
    scratch = [
        container("pg-scratch", image="lab/postgres:16"),
        container("portainer", image="portainer/portainer-ce:2.19"),
        container("shop-backend-old", image="shop-backend:latest", state="exited"),
    ]
    assert run(facts([*lab_stack(), *scratch])) == []


def test_hand_run_database_on_the_stacks_data_volume() -> None:
    rogue = container("pg-debug", image="postgres:16", volumes=["shop_pgdata"])
    findings = run(facts([*lab_stack(), rogue]))
    [collision] = only(findings, "compose.env_collision")
    assert collision.subject.volume == "shop_pgdata"
    assert collision.evidence["projects"] == ["shop", "docker run pg-debug"]


def test_declared_stack_not_running_matched_by_a_hand_run_container() -> None:
    prod = container("filter-ical-backend-production", image="filter-ical-backend")
    findings = run(facts([prod], declared={"filter-ical-production": StackConfig()}))
    [mismatch] = findings
    assert mismatch.code == "compose.project_mismatch"
    assert mismatch.subject.project == "filter-ical-production"
    assert mismatch.evidence["matched_service"] is None
    assert mismatch.evidence["compose_service_running"] is False


# --- compose.no_healthcheck -------------------------------------------------------------


def test_database_without_health_check_is_info() -> None:
    stack = [c for c in lab_stack() if c.compose_service != "db"]
    stack.append(
        container(
            "shop-db-1",
            project="shop",
            service="db",
            image="postgres:16",
            volumes=["shop_pgdata"],
        )
    )
    stack.append(
        container(
            "blog-db-1", project="blog", service="db", image="postgres:16", healthcheck=["NONE"]
        )
    )
    findings = run(facts(stack))
    assert codes(findings) == ["compose.no_healthcheck", "compose.no_healthcheck"]
    by_project = {f.subject.project: f for f in findings}
    assert by_project["shop"].severity is Severity.INFO
    assert by_project["shop"].subject.container == "shop-db-1"
    assert by_project["shop"].evidence["healthcheck"] == "none"
    assert by_project["shop"].evidence["dependants"] == ["backend"]
    assert by_project["blog"].evidence["healthcheck"] == "disabled"
    assert "service_healthy" in by_project["shop"].title
