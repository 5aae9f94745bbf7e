"""Configuration checks: env files that drifted from running containers, required keys."""

from __future__ import annotations

import pytest

from bot.inventory.config.models import StackConfig
from bot.model.findings import Finding, Severity
from runbooks.diagnose import checks_compose, checks_config, checks_containers, checks_host
from runbooks.diagnose.facts import HostFacts
from tests.unit.diagnose.factories import (
    HOST,
    PLANTED_SECRET,
    ago,
    container,
    env_file,
    facts,
    lab_env,
    lab_stack,
)

ENV_PATH = "/srv/shop/.env"


def run(f: HostFacts) -> list[Finding]:
    return [finding for check in checks_config.CHECKS for finding in check(f)]


def lab_facts(
    file: dict[str, str],
    *,
    db_env_file: bool = False,
    declared: dict[str, StackConfig] | None = None,
) -> HostFacts:
    """The lab stack as created from ``lab_env()``; ``file`` is the .env on disk now."""
    return facts(lab_stack(db_env_file=db_env_file), env_files={ENV_PATH: file}, declared=declared)


@pytest.mark.parametrize("db_env_file", [False, True])
def test_healthy_lab_stack_gives_nothing_above_info_from_any_of_these_checks(
    db_env_file: bool,
) -> None:
    """backend: env_file .env; db: POSTGRES_* by substitution (or the whole file, as the lab
    does); nginx: no env. Every check of the four modules stays quiet."""
    f = lab_facts(lab_env(), db_env_file=db_env_file)
    modules = (checks_host, checks_containers, checks_compose, checks_config)
    findings = [x for m in modules for check in m.CHECKS for x in check(f)]
    assert [x for x in findings if x.severity is not Severity.INFO] == []
    assert findings == []


# --- env.drift ---------------------------------------------------------------------------


def test_changed_secret_key_is_drift_on_the_backend_only_with_a_recreate_fix() -> None:
    file = {**lab_env(), "SECRET_KEY": "rotated-" + PLANTED_SECRET}
    [finding] = run(lab_facts(file))
    assert finding.code == "env.drift"
    assert finding.severity is Severity.WARNING
    assert finding.subject.container == "shop-backend-1"
    assert finding.subject.service == "backend"
    assert finding.subject.project == "shop"
    assert finding.subject.path == ENV_PATH
    assert finding.title.startswith(
        f"backend (shop-backend-1) runs with an older {ENV_PATH}: 1 key changed (SECRET_KEY)"
    )
    assert finding.evidence["keys_changed"] == ["SECRET_KEY"]
    assert finding.evidence["keys_added"] == []
    assert finding.evidence["env_files"] == [ENV_PATH]
    assert finding.evidence["loads_whole_file"] is True
    [fix] = finding.fixes
    assert fix.action == "container.recreate"
    assert fix.params == {"host": HOST, "project": "shop", "service": "backend"}
    assert fix.destructive is True
    dumped = finding.model_dump_json()
    assert PLANTED_SECRET not in dumped
    assert "rotated" not in dumped


def test_added_key_is_reported_for_the_backend_but_db_is_not_compared_on_it() -> None:
    file = {**lab_env(), "JWT_SECRET_KEY": "jwt-" + PLANTED_SECRET, "SMTP_HOST": "mail"}
    [finding] = run(lab_facts(file))
    assert finding.subject.container == "shop-backend-1"
    assert finding.evidence["keys_added"] == ["JWT_SECRET_KEY", "SMTP_HOST"]
    assert "2 keys added (JWT_SECRET_KEY, SMTP_HOST)" in finding.title


def test_db_loading_the_whole_file_is_compared_like_the_backend() -> None:
    file = {**lab_env(), "SECRET_KEY": "rotated"}
    findings = run(lab_facts(file, db_env_file=True))
    assert sorted(f.subject.container for f in findings) == [  # type: ignore[type-var]
        "shop-backend-1",
        "shop-db-1",
    ]


def test_password_rotated_in_the_file_shows_on_the_db_without_a_recreate() -> None:
    """db got ${POSTGRES_PASSWORD} at creation: that key changed since. Recreating the db
    would not change the password (Postgres reads it only on init): no fix offered."""
    file = {**lab_env(), "POSTGRES_PASSWORD": "new-" + PLANTED_SECRET}
    findings = run(lab_facts(file))
    by_container = {f.subject.container: f for f in findings}
    assert sorted(by_container) == ["shop-backend-1", "shop-db-1"]  # type: ignore[type-var]
    db = by_container["shop-db-1"]
    assert db.evidence["keys_changed"] == ["POSTGRES_PASSWORD"]
    assert db.evidence["keys_added"] == []
    assert db.evidence["loads_whole_file"] is False
    assert db.evidence["database_init_keys_only"] is True
    assert db.fixes == ()
    assert "ALTER USER" in db.title
    backend = by_container["shop-backend-1"]
    assert backend.evidence["keys_changed"] == ["POSTGRES_PASSWORD"]
    assert backend.fixes[0].params == {"host": HOST, "project": "shop", "service": "backend"}
    for finding in findings:
        assert PLANTED_SECRET not in finding.model_dump_json()


def test_small_file_mostly_postgres_keys_does_not_make_the_db_a_loader() -> None:
    """db has 3 of 4 keys (a majority), but the backend created with it has DATABASE_URL:
    the key was in the file then, so the db takes only some keys."""
    small = {k: v for k, v in lab_env().items() if k.startswith("POSTGRES_") or k == "DATABASE_URL"}
    stack = lab_stack(env=small)
    assert run(facts(stack, env_files={ENV_PATH: small})) == []
    grown = {**small, "FEATURE_FLAGS": "a,b"}
    [finding] = run(facts(stack, env_files={ENV_PATH: grown}))
    assert finding.subject.container == "shop-backend-1"


def test_old_db_beside_a_backend_redeployed_today_is_not_read_as_a_stale_loader() -> None:
    """db (3 of 4 keys, a majority) created months before today's backend: nothing proves
    it takes only some keys, but a database is never asked for keys added for the app."""
    small = {k: v for k, v in lab_env().items() if k.startswith("POSTGRES_") or k == "DATABASE_URL"}
    stack = lab_stack(env=small)
    backend = container(
        "shop-backend-1",
        project="shop",
        service="backend",
        image="shop-backend:latest",
        env=small,
        networks={"shop_default": ["backend"]},
        created=ago(hours=2),
    )
    stack = [backend if c.name == backend.name else c for c in stack]
    assert run(facts(stack, env_files={ENV_PATH: small})) == []
    worker = container(
        "shop-worker-1",
        project="shop",
        service="worker",
        env={k: v for k, v in small.items() if k != "POSTGRES_DB"},
        created=ago(days=60),
    )
    [finding] = run(facts([*stack, worker], env_files={ENV_PATH: small}))
    assert finding.subject.container == "shop-worker-1"
    assert finding.evidence["keys_added"] == ["POSTGRES_DB"]


def test_several_env_files_merge_in_order() -> None:
    base = {k: v for k, v in lab_env().items() if k != "SECRET_KEY"}
    override = {"SECRET_KEY": "from-override"}
    stack = [
        container(
            c.name,
            project="shop",
            service=c.compose_service,
            image=c.config.image,
            env=c.config.env_map(),
            environment_file=".env,.env.local",
        )
        for c in lab_stack()
    ]
    f = facts(stack, env_files={ENV_PATH: base, "/srv/shop/.env.local": override})
    [finding] = run(f)
    assert finding.evidence["env_files"] == [ENV_PATH, "/srv/shop/.env.local"]
    assert finding.evidence["keys_changed"] == ["SECRET_KEY"]


def test_unreadable_or_unread_env_file_is_not_compared() -> None:
    changed = {**lab_env(), "SECRET_KEY": "x"}
    unreadable = env_file(ENV_PATH, changed, error="permission denied")
    assert run(facts(lab_stack(), env_files={ENV_PATH: unreadable})) == []
    assert run(facts(lab_stack(), env_files={"/elsewhere/.env": changed})) == []


# --- env.missing_required ----------------------------------------------------------------


def declared(*keys: str) -> dict[str, StackConfig]:
    return {"shop": StackConfig(required_env=keys)}


def test_seed_004_missing_jwt_secret_key_not_in_env_file_either() -> None:
    """'Deployed to production - failed due to missing JWT_SECRET_KEY'."""
    f = lab_facts(lab_env(), declared=declared("DATABASE_URL", "JWT_SECRET_KEY"))
    [finding] = run(f)
    assert finding.code == "env.missing_required"
    assert finding.severity is Severity.CRITICAL
    assert finding.subject.container == "shop-backend-1"
    assert finding.evidence["missing_keys"] == ["JWT_SECRET_KEY"]
    assert finding.evidence["in_env_file"] == []
    assert finding.fixes == ()
    assert finding.title == (
        f"backend (shop-backend-1) lacks required JWT_SECRET_KEY: add it to {ENV_PATH}, "
        "then recreate"
    )


def test_missing_required_key_already_in_the_file_offers_recreate() -> None:
    file = {**lab_env(), "JWT_SECRET_KEY": PLANTED_SECRET}
    findings = run(lab_facts(file, declared=declared("JWT_SECRET_KEY")))
    assert sorted(f.code for f in findings) == ["env.drift", "env.missing_required"]
    [missing] = [f for f in findings if f.code == "env.missing_required"]
    assert missing.evidence["in_env_file"] == ["JWT_SECRET_KEY"]
    [fix] = missing.fixes
    assert fix.action == "container.recreate"
    assert fix.params == {"host": HOST, "project": "shop", "service": "backend"}
    assert fix.destructive is True
    for finding in findings:
        assert PLANTED_SECRET not in finding.model_dump_json()


def test_empty_required_key_counts_as_missing_and_present_keys_pass() -> None:
    file = {**lab_env(), "SMTP_PASSWORD": ""}
    stack = lab_stack(env=file)
    f = facts(stack, env_files={ENV_PATH: file}, declared=declared("SMTP_PASSWORD", "SECRET_KEY"))
    [finding] = run(f)
    assert finding.evidence["empty_keys"] == ["SMTP_PASSWORD"]
    assert finding.evidence["missing_keys"] == []
    assert run(lab_facts(lab_env(), declared=declared("SECRET_KEY", "DATABASE_URL"))) == []


def test_a_key_the_services_environment_sets_itself_is_not_drift() -> None:
    """An override file's ``environment: {LOG_LEVEL: debug}`` over ``.env``'s
    ``LOG_LEVEL=info``: compose's ``environment:`` wins, the difference is meant."""
    from runbooks.diagnose.facts import ComposeServices

    stack = lab_stack(env={**lab_env(), "LOG_LEVEL": "info"})
    backend = stack[0]
    env = dict(backend.config.env_map(), LOG_LEVEL="debug")
    stack[0] = backend.model_copy(
        update={
            "config": backend.config.model_copy(
                update={"env": [f"{k}={v}" for k, v in env.items()]}
            )
        }
    )
    file = {**lab_env(), "LOG_LEVEL": "info"}

    def with_environment(keys: frozenset[str]) -> HostFacts:
        read = ComposeServices(
            project="shop", working_dir="/srv/shop", config_files=("/srv/shop/docker-compose.yml",),
            services=("backend", "db", "nginx"), service_environment_keys={"backend": keys},
        )  # fmt: skip
        return facts(stack, env_files={ENV_PATH: file}, compose_services=(read,))

    assert run(with_environment(frozenset({"LOG_LEVEL"}))) == []
    [drift] = run(with_environment(frozenset()))  # without it, the same is drift
    assert drift.evidence["keys_changed"] == ["LOG_LEVEL"]
