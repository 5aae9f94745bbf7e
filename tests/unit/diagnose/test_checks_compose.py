"""Compose checks: project mismatch, orphan containers, environment collisions, health checks."""

from __future__ import annotations

from typing import Any

from bot.inventory.config.models import StackConfig
from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_compose, checks_containers
from runbooks.diagnose.checks_compose import core_words, env_of
from runbooks.diagnose.facts import ComposeServices, HostFacts
from runbooks.diagnose.runbook import judge
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


def test_one_project_deployed_from_two_sets_of_compose_files() -> None:
    """What `compose ls` shows as one project with two sets of files (seed 004: staging's
    and production's files under one project name, from one directory)."""
    stack = [
        container("app-api-1", project="app", service="api", working_dir="/srv/app",
                  config_files="/srv/app/compose.yml,/srv/app/compose.prod.yml"),
        container("app-worker-1", project="app", service="worker", working_dir="/srv/app",
                  config_files="/srv/app/compose.yml,/srv/app/compose.staging.yml"),
    ]  # fmt: skip
    [collision] = run(facts(stack))
    assert collision.code == "compose.env_collision" and collision.subject.project == "app"
    assert sorted(collision.evidence["compose_file_sets"]) == [  # type: ignore[arg-type]
        "/srv/app/compose.prod.yml + /srv/app/compose.yml",
        "/srv/app/compose.staging.yml + /srv/app/compose.yml",
    ]
    same = [c.model_copy() for c in stack[:1]]
    assert run(facts(same)) == []  # one set: quiet


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


# --- seed 002: services cut from the compose file, their containers left running -------

WD_002 = "/home/ventanas/app"
FILE_002 = f"{WD_002}/docker-compose.test.yml"


def seed_002_containers(*, db_state: str = "running") -> list[ContainerDetails]:
    """compose v1 (relative config_files), project app-test: the file first defined app, db
    and redis on ventanas-test-network, then only app; ``up`` ran without --remove-orphans."""
    common: dict[str, Any] = {
        "project": "app-test",
        "working_dir": WD_002,
        "config_files": "docker-compose.test.yml",
    }
    url = f"postgresql://ventanas_user:{PLANTED_SECRET}@ventanas-test-db:5432/ventanas_test_db"
    return [
        container(
            "ventanas-test-app",
            service="app",
            image="ventanas-app:latest",
            env={"DATABASE_URL": url, "SECRET_KEY": PLANTED_SECRET},
            networks=["app-test_default"],
            **common,
        ),
        container(
            "ventanas-test-db",
            service="db",
            state=db_state,
            image="postgres:16",
            env={"POSTGRES_PASSWORD": PLANTED_SECRET},
            networks=["app-test_ventanas-test-network"],
            volumes=["app-test_postgres_data"],
            healthcheck=["CMD-SHELL", "pg_isready"],
            **common,
        ),
        container(
            "ventanas-test-redis",
            service="redis",
            image="redis:7",
            networks=["app-test_ventanas-test-network"],
            **common,
        ),
    ]


def defined(
    services: tuple[str, ...] | None, error: str | None = None, project: str = "app-test"
) -> ComposeServices:
    return ComposeServices(
        project=project,
        working_dir=WD_002,
        config_files=(FILE_002,),
        services=services,
        error=error,
    )


def test_seed_002_services_removed_from_the_compose_file_are_orphans() -> None:
    f = facts(seed_002_containers(), compose_services=(defined(("app",)),))
    orphans = only(run(f), "compose.orphan_container")
    by_container = {str(o.subject.container): o for o in orphans}
    assert sorted(by_container) == ["ventanas-test-db", "ventanas-test-redis"]
    db = by_container["ventanas-test-db"]
    assert db.severity is Severity.WARNING
    assert (db.subject.project, db.subject.service) == ("app-test", "db")
    ev = db.evidence
    assert ev["container"] == "ventanas-test-db"
    assert (ev["project"], ev["service"]) == ("app-test", "db")
    assert ev["compose_files"] == [FILE_002]
    assert ev["services_defined"] == ["app"]
    assert ev["networks"] == ["app-test_ventanas-test-network"]
    assert ev["volumes"] == ["app-test_postgres_data"]
    assert "docker-compose.test.yml no longer defines" in db.title
    assert "app-test_ventanas-test-network" in db.title
    # nothing that removes a container: only a backup of the data it mounts
    assert [(x.action, x.params, x.destructive) for x in db.fixes] == [
        ("volume.backup", {"host": HOST, "volume": "app-test_postgres_data"}, False)
    ]
    assert by_container["ventanas-test-redis"].fixes == ()
    for finding in orphans:
        assert PLANTED_SECRET not in finding.model_dump_json()


def test_every_service_still_defined_is_quiet() -> None:
    f = facts(seed_002_containers(), compose_services=(defined(("app", "db", "redis")),))
    assert only(run(f), "compose.orphan_container") == []
    healthy = facts(
        lab_stack(),
        env_files={"/srv/shop/.env": lab_env()},
        compose_services=(
            ComposeServices(
                project="shop",
                working_dir="/srv/shop",
                config_files=("/srv/shop/docker-compose.yml",),
                services=("backend", "db", "nginx"),
            ),
        ),
    )
    assert run(healthy) == []


def test_services_not_read_means_no_finding_and_a_note() -> None:
    why = "`compose config --services` exited with status 1: yaml: line 3: did not find key"
    for compose_services in ((), (defined(None, why),)):
        f = facts(seed_002_containers(), compose_services=compose_services)
        assert only(run(f), "compose.orphan_container") == []
    diagnosis = judge(f)
    assert "compose.orphan_container" not in {x.code for x in diagnosis.findings}
    assert len(diagnosis.notes) == 1
    assert "app-test" in diagnosis.notes[0] and why in diagnosis.notes[0]
    assert judge(f, "app-test").notes == diagnosis.notes
    assert judge(f, "other").notes == []


def test_a_stopped_removed_service_is_an_orphan_not_down() -> None:
    f = facts(seed_002_containers(db_state="exited"), compose_services=(defined(("app",)),))
    orphans = {o.subject.container for o in only(run(f), "compose.orphan_container")}
    assert "ventanas-test-db" in orphans
    down = [x for check in checks_containers.CHECKS for x in check(f) if x.code == "container.down"]
    assert down == []


def test_containers_from_another_checkout_are_left_to_env_collision() -> None:
    elsewhere = container(
        "ventanas-old-worker",
        project="app-test",
        service="worker",
        working_dir="/home/other/app",
        config_files="docker-compose.test.yml",
        created=ago(days=60),
    )
    f = facts([*seed_002_containers(), elsewhere], compose_services=(defined(("app",)),))
    orphans = {o.subject.container for o in only(run(f), "compose.orphan_container")}
    assert orphans == {"ventanas-test-db", "ventanas-test-redis"}
