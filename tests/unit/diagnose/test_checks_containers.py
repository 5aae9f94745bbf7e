"""Container checks: down, restart loops, health, OOM kills, recently recreated databases."""

from __future__ import annotations

from typing import Any

from bot.inventory.config.models import StackConfig
from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_containers
from runbooks.diagnose.checks_containers import (
    MAX_LOG_LINE,
    MAX_LOG_LINES,
    MAX_LOG_TEXT,
    MAX_OUTPUT,
    wants_logs,
)
from runbooks.diagnose.facts import HostFacts
from tests.unit.diagnose.factories import (
    ENVIRONMENT,
    HOST,
    NOW,
    PLANTED_SECRET,
    ago,
    anonymous_mount,
    container,
    facts,
    lab_env,
    lab_stack,
)


def run(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_containers.CHECKS for finding in check(f)]


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def replace(stack: list[Any], name: str, **changes: Any) -> list[Any]:
    """The lab stack with container ``name`` rebuilt with ``changes``."""
    project = name.split("-")[0]
    service = name.split("-")[1]
    base: dict[str, Any] = {
        "backend": {
            "image": f"{project}-backend:latest",
            "env": {**lab_env(project), "PYTHONUNBUFFERED": "1"},
            "networks": {f"{project}_default": ["backend"]},
        },
        "db": {
            "image": "lab/postgres:16",
            "env": {k: v for k, v in lab_env(project).items() if k.startswith("POSTGRES_")},
            "networks": {f"{project}_default": ["db"]},
            "volumes": [f"{project}_pgdata"],
        },
        "nginx": {"image": "lab/nginx:latest", "networks": {f"{project}_default": ["nginx"]}},
    }[service]
    new = container(name, project=project, service=service, **{**base, **changes})
    return [new if c.name == name else c for c in stack]


def test_healthy_lab_stack_has_no_findings() -> None:
    assert run(facts(lab_stack(), env_files={"/srv/shop/.env": lab_env()})) == []


# --- container.down --------------------------------------------------------------------


def test_exited_backend_is_down_with_exit_code_time_and_restart_fix() -> None:
    stack = replace(
        lab_stack(), "shop-backend-1", state="exited", exit_code=1, finished=ago(minutes=20)
    )
    [finding] = run(facts(stack))
    assert finding.code == "container.down"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.model_dump(exclude_none=True) == {
        "environment": ENVIRONMENT,
        "host": HOST,
        "project": "shop",
        "service": "backend",
        "container": "shop-backend-1",
    }
    ev = finding.evidence
    assert ev["state"] == "exited"
    assert ev["exit_code"] == 1
    assert ev["finished_at"] == "2025-10-10T11:40:00+00:00"
    assert ev["restart_policy"] == "unless-stopped"
    assert "exited with code 1" in finding.title
    [fix] = finding.fixes
    assert fix.action == "container.restart"
    assert fix.params == {"host": HOST, "container": "shop-backend-1"}
    assert fix.destructive is True


def test_created_but_never_started_is_down() -> None:
    """compose up that failed half way (port taken, dependency unhealthy) leaves 'created'."""
    stack = replace(lab_stack(), "shop-nginx-1", state="created")
    [finding] = run(facts(stack))
    assert finding.code == "container.down"
    assert finding.evidence["state"] == "created"
    assert finding.evidence["started_at"] is None
    assert "never started" in finding.title


def test_finished_one_shot_job_is_not_down_but_a_stopped_service_is() -> None:
    migrate = container(
        "shop-migrate-1",
        project="shop",
        service="migrate",
        state="exited",
        exit_code=0,
        restart_policy="no",
    )
    assert run(facts([*lab_stack(), migrate])) == []
    stopped = container(
        "shop-worker-1", project="shop", service="worker", state="exited", exit_code=0
    )
    [finding] = run(facts([*lab_stack(), stopped]))
    assert finding.subject.service == "worker"
    failed_job = container(
        "shop-migrate-1", project="shop", service="migrate", state="exited", restart_policy="no"
    )
    [finding] = run(facts([*lab_stack(), failed_job]))
    assert finding.subject.service == "migrate"
    assert finding.evidence["exit_code"] == 1


def test_one_off_and_stopped_unmanaged_containers_are_not_judged() -> None:
    oneoff = container(
        "shop_backend_run_3f2a", project="shop", service="backend", state="exited", oneoff=True
    )
    leftover = container("scratch", image="busybox:latest", state="exited", exit_code=137)
    assert run(facts([*lab_stack(), oneoff, leftover])) == []


def test_a_whole_stopped_project_gives_one_finding_not_one_per_service() -> None:
    stack = [
        container(
            c.name,
            project="shop",
            service=c.compose_service,
            image=c.config.image,
            state="exited",
            exit_code=0 if c.compose_service != "db" else 137,
            finished=ago(hours=2),
        )
        for c in lab_stack()
    ]
    [finding] = run(facts(stack))
    assert finding.code == "container.down"
    assert finding.subject.project == "shop"
    assert finding.subject.container is None
    assert finding.evidence["services"] == ["backend", "db", "nginx"]
    assert "shop-db-1: exited (exit 137)" in finding.evidence["states"]  # type: ignore[operator]
    assert finding.evidence["last_finished_at"] == "2025-10-10T10:00:00+00:00"
    assert sorted(str(fix.params["container"]) for fix in finding.fixes) == [
        "shop-backend-1",
        "shop-db-1",
        "shop-nginx-1",
    ]


def test_long_stopped_undeclared_project_is_not_an_outage_but_a_declared_one_is() -> None:
    old = [
        container(
            "blog-web-1", project="blog", service="web", state="exited", finished=ago(days=40)
        )
    ]
    assert run(facts(old)) == []
    [finding] = run(facts(old, declared={"blog": StackConfig()}))
    assert finding.code == "container.down"
    assert finding.evidence["declared"] is True


def test_stopped_leftover_of_an_earlier_project_is_not_down() -> None:
    """Seed 000 after the deploy script stopped the old database: the orphan check names
    it; it is not an outage of the stack that replaced it."""
    wd: dict[str, Any] = {
        "working_dir": "/home/deploy/docker-deploy",
        "config_files": "docker-compose.staging.yml",
    }
    old_db = container(
        "multivendor_db_staging",
        project="docker-deploy",
        service="db",
        image="postgres:15-alpine",
        state="exited",
        exit_code=0,
        finished=ago(hours=3),
        created=ago(days=40),
        **wd,
    )
    new_db = container(
        "indexo_db_staging",
        project="indexo-staging",
        service="db",
        image="postgres:15-alpine",
        created=ago(hours=3),
        **wd,
    )
    findings = run(facts([old_db, new_db], declared={"indexo-staging": StackConfig()}))
    assert codes(findings) == ["container.recently_recreated"]
    assert findings[0].subject.container == "indexo_db_staging"
    # without the replacement it is a stopped stack like any other
    assert codes(run(facts([old_db]))) == ["container.down"]


def test_restarting_container_is_not_reported_as_down() -> None:
    stack = replace(lab_stack(), "shop-backend-1", state="restarting", restart_count=7)
    assert codes(run(facts(stack))) == ["container.restarting"]


# --- last log lines ------------------------------------------------------------------


def test_down_service_shows_its_last_log_lines_redacted_and_bounded() -> None:
    stack = replace(lab_stack(), "shop-backend-1", state="exited", exit_code=1)
    text = "".join(f"boot step {i}\n\n" for i in range(40))
    text += f"KeyError: SECRET_KEY={PLANTED_SECRET}\n" + "y" * 5000 + "\n"
    [finding] = run(facts(stack, container_logs={"shop-backend-1": text}))
    lines = finding.evidence["last_log_lines"]
    assert isinstance(lines, list) and len(lines) == MAX_LOG_LINES
    assert lines[0] == "boot step 22" and lines[-2] == "KeyError: SECRET_KEY=***"
    assert len(lines[-1]) == MAX_LOG_LINE and lines[-1].endswith("…")
    assert PLANTED_SECRET not in finding.model_dump_json()


def test_log_lines_beyond_the_total_bound_drop_the_oldest() -> None:
    stack = replace(lab_stack(), "shop-backend-1", state="exited", exit_code=1)
    text = "".join(f"{i:02d} " + "z" * 400 + "\n" for i in range(20))
    [finding] = run(facts(stack, container_logs={"shop-backend-1": text}))
    lines = finding.evidence["last_log_lines"]
    assert isinstance(lines, list)
    assert sum(len(line) for line in lines) <= MAX_LOG_TEXT
    assert len(lines) == MAX_LOG_TEXT // MAX_LOG_LINE and lines[-1].startswith("19 ")


def test_no_logs_read_is_no_evidence_and_a_proxys_tail_serves() -> None:
    stack = replace(lab_stack(), "shop-nginx-1", state="exited", exit_code=1)
    [quiet] = run(facts(stack))
    assert quiet.evidence["last_log_lines"] is None
    [finding] = run(facts(stack, proxy_logs={"shop-nginx-1": "emerg: host not found\n"}))
    assert finding.evidence["last_log_lines"] == ["emerg: host not found"]


def test_a_stopped_project_shows_the_last_lines_of_each_container() -> None:
    stack = [
        container(
            c.name,
            project="shop",
            service=c.compose_service,
            state="exited",
            env=c.config.env_map(),
        )
        for c in lab_stack()
    ]
    logs = {
        "shop-db-1": "".join(f"db {i}\n" for i in range(9)),
        "shop-backend-1": f"password {PLANTED_SECRET} rejected\n",
    }
    [finding] = run(facts(stack, container_logs=logs))
    assert finding.evidence["last_log_lines"] == [
        "shop-backend-1: password *** rejected",
        *(f"shop-db-1: db {i}" for i in range(4, 9)),
    ]


def test_restart_loop_shows_its_last_log_lines() -> None:
    stack = replace(lab_stack(), "shop-backend-1", state="restarting", restart_count=7)
    logs = {"shop-backend-1": "Traceback\nImportError: no module named app\n"}
    [finding] = run(facts(stack, container_logs=logs))
    assert finding.evidence["last_log_lines"] == ["Traceback", "ImportError: no module named app"]


def test_wants_logs_of_down_and_restarting_containers_only() -> None:
    stack = [
        *replace(lab_stack(), "shop-backend-1", state="exited", exit_code=1),
        container("shop-worker-1", project="shop", service="worker", state="restarting"),
        container("shop-web-1", project="shop", service="web", state="created"),
        container(
            "shop-job-1", project="shop", service="job", state="exited", restart_policy="no",
            exit_code=0,
        ),
        container("shop-api-1", project="shop", service="api", restart_count=4,
                  started=ago(minutes=1)),
        container("hand-run", state="restarting", restart_count=3),
        container("stopped-by-hand", state="exited"),
    ]  # fmt: skip
    f = facts(stack)
    assert [c.name for c in wants_logs(f.stacks, NOW)] == [
        "hand-run",
        "shop-api-1",
        "shop-backend-1",
        "shop-worker-1",
    ]
    assert wants_logs(facts(lab_stack()).stacks, NOW) == []


# --- container.restarting -----------------------------------------------------------


def test_restart_loop_with_oom_reports_the_loop_and_its_cause() -> None:
    stack = replace(
        lab_stack(),
        "shop-backend-1",
        state="restarting",
        restart_count=12,
        oom_killed=True,
        host_config={"Memory": 256 * 1024 * 1024},
    )
    findings = run(facts(stack))
    assert codes(findings) == ["container.oom_killed", "container.restarting"]
    loop = next(f for f in findings if f.code == "container.restarting")
    assert loop.severity is Severity.CRITICAL
    assert loop.evidence["restart_count"] == 12
    assert loop.evidence["exit_code"] == 137
    assert "restart loop" in loop.title
    oom = next(f for f in findings if f.code == "container.oom_killed")
    assert oom.severity is Severity.WARNING
    assert oom.evidence["memory_limit"] == 256 * 1024 * 1024
    assert "256 MiB" in oom.title
    assert oom.subject.container == "shop-backend-1"


def test_running_after_many_recent_restarts_is_a_loop_caught_while_up() -> None:
    looping = replace(lab_stack(), "shop-backend-1", restart_count=5, started=ago(minutes=2))
    [finding] = run(facts(looping))
    assert finding.code == "container.restarting"
    assert "last start 120 s ago" in finding.title
    settled = replace(lab_stack(), "shop-backend-1", restart_count=5, started=ago(hours=2))
    assert run(facts(settled)) == []
    one_crash = replace(lab_stack(), "shop-backend-1", restart_count=1, started=ago(minutes=1))
    assert run(facts(one_crash)) == []


def test_hand_run_container_in_a_restart_loop_is_judged() -> None:
    prod = container(
        "filter-ical-backend-production",
        image="filter-ical-backend",
        state="restarting",
        restart_count=4,
    )
    [finding] = run(facts([prod]))
    assert finding.code == "container.restarting"
    assert finding.subject.project is None
    assert finding.subject.container == "filter-ical-backend-production"


# --- container.unhealthy -------------------------------------------------------------


def test_unhealthy_reports_redacted_truncated_last_output() -> None:
    long_tail = "x" * (2 * MAX_OUTPUT)
    output = (
        f"connecting to postgresql://shop:{PLANTED_SECRET}@db:5432/shop\n"
        f"token={PLANTED_SECRET}\n{long_tail}\n"
        'psycopg2.OperationalError: FATAL:  database "shop" does not exist'
    )
    stack = replace(
        lab_stack(),
        "shop-backend-1",
        health="unhealthy",
        health_log=[(1, "earlier"), (1, output)],
        healthcheck=["CMD-SHELL", f"curl -H 'Authorization: Bearer {PLANTED_SECRET}' localhost"],
    )
    [finding] = run(facts(stack))
    assert finding.code == "container.unhealthy"
    assert finding.severity is Severity.CRITICAL
    ev = finding.evidence
    assert ev["failing_streak"] == 2
    assert ev["last_exit_code"] == 1
    assert isinstance(ev["last_output"], str)
    assert len(ev["last_output"]) <= MAX_OUTPUT + 1
    assert ev["last_output"].endswith('database "shop" does not exist')
    assert 'database "shop" does not exist' in finding.title
    assert "curl" in str(ev["healthcheck"])
    assert PLANTED_SECRET not in finding.model_dump_json()
    [fix] = finding.fixes
    assert fix.action == "container.restart"
    assert fix.params == {"host": HOST, "container": "shop-backend-1"}


def test_secret_in_a_short_health_output_is_masked_not_truncated_away() -> None:
    stack = replace(
        lab_stack(),
        "shop-backend-1",
        health="unhealthy",
        health_log=[f"password authentication failed, tried {PLANTED_SECRET}"],
    )
    [finding] = run(facts(stack))
    assert finding.evidence["last_output"] == "password authentication failed, tried ***"
    assert PLANTED_SECRET not in finding.model_dump_json()


def test_stopped_container_keeps_its_health_status_but_is_reported_as_down_only() -> None:
    stack = replace(
        lab_stack(), "shop-backend-1", state="exited", health="unhealthy", health_log=["boom"]
    )
    assert codes(run(facts(stack))) == ["container.down"]


def test_starting_health_is_not_unhealthy() -> None:
    stack = replace(lab_stack(), "shop-backend-1", health="starting")
    assert run(facts(stack)) == []


# --- container.oom_killed -------------------------------------------------------------


def test_oom_killed_database_is_down_and_oom_without_limit() -> None:
    stack = replace(lab_stack(), "shop-db-1", state="exited", oom_killed=True)
    findings = run(facts(stack))
    assert codes(findings) == ["container.down", "container.oom_killed"]
    down = next(f for f in findings if f.code == "container.down")
    assert down.evidence["oom_killed"] is True
    assert "killed for lack of memory" in down.title
    oom = next(f for f in findings if f.code == "container.oom_killed")
    assert oom.evidence["memory_limit"] is None
    assert "no limit set" in oom.title


# --- container.recently_recreated ------------------------------------------------------


def test_recently_recreated_database_is_info_with_its_volumes_and_siblings() -> None:
    """Seed 000/001: the database came back on a new container (and maybe a new volume)."""
    stack = replace(lab_stack(), "shop-db-1", created=ago(hours=3), health="healthy")
    stack = replace(stack, "shop-backend-1", created=ago(hours=3))
    [finding] = run(facts(stack))
    assert finding.code == "container.recently_recreated"
    assert finding.severity is Severity.INFO
    assert finding.subject.container == "shop-db-1"
    assert finding.subject.service == "db"
    ev = finding.evidence
    assert ev["created"] == "2025-10-10T09:00:00+00:00"
    assert ev["age_hours"] == 3.0
    assert ev["volumes"] == ["shop_pgdata"]
    assert ev["recreated_with"] == ["shop-backend-1"]
    assert [fix.action for fix in finding.fixes] == ["volumes.list"]
    assert finding.fixes[0].params == {"host": HOST}


def test_recreated_app_alone_or_a_day_old_database_is_not_reported() -> None:
    assert run(facts(replace(lab_stack(), "shop-backend-1", created=ago(hours=1)))) == []
    assert run(facts(replace(lab_stack(), "shop-db-1", created=ago(hours=25)))) == []


def test_hand_run_postgres_recreated_on_an_anonymous_volume() -> None:
    """Seed 001 'docker rm simfab-db, new container created without attaching the volume'."""
    db = container(
        "simfab-db",
        image="postgres:16",
        created=ago(hours=8),
        mounts=[anonymous_mount(seed="simfab")],
    )
    [finding] = run(facts([db]))
    assert finding.code == "container.recently_recreated"
    assert finding.subject.container == "simfab-db"
    assert finding.evidence["volumes"] is None
    assert finding.evidence["anonymous_volume_mounts"] == ["/var/lib/postgresql/data"]


# --- secrets -----------------------------------------------------------------------------


def test_planted_secret_never_reaches_any_finding() -> None:
    """Env values, Docker's error string, log lines and health output all carry the secret."""
    env = {"SECRET_KEY": PLANTED_SECRET, "API_URL": f"https://u:{PLANTED_SECRET}@api"}
    stack = [
        container(
            "shop-backend-1",
            project="shop",
            service="backend",
            state="exited",
            env=env,
            error=f"failed to start with {PLANTED_SECRET}",
        ),
        container(
            "shop-nginx-1",
            project="shop",
            service="nginx",
            state="restarting",
            restart_count=3,
            oom_killed=True,
        ),
        container(
            "shop-db-1",
            project="shop",
            service="db",
            image="postgres:16",
            created=ago(hours=1),
            env={"POSTGRES_PASSWORD": PLANTED_SECRET},
            health="unhealthy",
            health_log=[f"FATAL: password {PLANTED_SECRET} rejected"],
        ),
    ]
    logs = {
        "shop-backend-1": f"boot\nusing SECRET_KEY {PLANTED_SECRET}\n",
        "shop-nginx-1": f"GET /?token={PLANTED_SECRET}\n",
    }
    findings = run(facts(stack, proxy_logs=logs))
    assert codes(findings) == [
        "container.down",
        "container.oom_killed",
        "container.recently_recreated",
        "container.restarting",
        "container.unhealthy",
    ]
    down = next(f for f in findings if f.code == "container.down")
    assert down.evidence["last_log_lines"] == ["boot", "using SECRET_KEY ***"]
    assert down.evidence["error"] == "failed to start with ***"
    for finding in findings:
        assert PLANTED_SECRET not in finding.model_dump_json(), finding.code
