"""`diagnose` on each seed incident, built on a real Docker engine and read over SSH."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.framework.compose_cli import PLUGIN_DIRS
from bot.framework.engine import run_runbook
from bot.framework.session import HostSession
from bot.inventory.config import Inventory, load_inventory
from bot.model.diagnosis import DiagnosisReport, build_report
from bot.model.findings import Finding, Severity
from bot.transport import Transport
from runbooks import load_runbook
from runbooks.diagnose.gather import gather_facts
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.integration.scenario_codes import SCENARIO_CODES, comparable
from tests.lab import compose_tools
from tests.lab.config import PLANTED_JWT, PLANTED_PASSWORD, PLANTED_SECRET, STACKS_DIR
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab
PLANTED = (PLANTED_SECRET, PLANTED_PASSWORD, PLANTED_JWT)


@pytest.fixture(scope="module")
def inventory_path(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inventory(
        tmp_path_factory.mktemp("diagnose") / "inv.yaml",
        lab,
        {
            "lab": {"hosts": {"h1": lab_host(lab, "h1")}},
            "small": {"hosts": {"h2": lab_host(lab, "h2")}},
            "pair": {"hosts": {"h1": lab_host(lab, "h1"), "h2": lab_host(lab, "h2")}},
        },
    )


@pytest.fixture(scope="module")
def inventory(inventory_path: Path) -> Inventory:
    return load_inventory(inventory_path)


def diagnose(inventory: Inventory, env: str, **params: Any) -> DiagnosisReport:
    runbook = load_runbook("diagnose")

    async def go() -> DiagnosisReport:
        async with Transport(inventory.ssh) as transport:
            outcome = await run_runbook(
                transport, inventory, env, runbook, runbook.params(**params)
            )
        return build_report(outcome)

    return asyncio.run(go())


def codes(report: DiagnosisReport) -> Counter[str]:
    return Counter(f.code for f in report.findings)


def only(report: DiagnosisReport, code: str) -> list[Finding]:
    found = [f for f in report.findings if f.code == code]
    assert found, f"no {code} in {describe(report)}"
    return found


def describe(report: DiagnosisReport) -> str:
    return "\n".join(f"{f.severity} {f.code}: {f.title}" for f in report.findings)


def stackbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_healthy_stack_raises_no_alarm(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "healthy")
    report = diagnose(inventory, "lab")
    alarms = [f for f in report.findings if f.severity is not Severity.INFO]
    assert alarms == [], describe(report)
    assert report.verdict == "healthy"
    assert report.hosts[0].stacks == ["shop"] and report.hosts[0].containers == 3
    # the compose file was read (no note) and defines every service that runs
    assert "compose.orphan_container" not in codes(report)
    assert report.hosts[0].notes == []


def test_s1_split_network_and_orphaned_volume(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S1")
    report = diagnose(inventory, "lab")
    assert comparable(f.code for f in report.findings) == SCENARIO_CODES["S1"]  # v1
    split = [
        f for f in only(report, "network.split") if f.subject.container == "indexo_backend_staging"
    ]
    assert split, describe(report)
    fix = split[0].fixes[0]
    assert fix.action == "network.connect"
    assert fix.params["container"] == "indexo_backend_staging"
    assert fix.params["network"] == "indexo-staging_internal"
    (orphan,) = only(report, "volume.orphaned_data")
    text = json.dumps(orphan.model_dump(mode="json"))
    assert "multivendor_postgres_data" in text and "indexo-staging_postgres_data" in text
    assert report.verdict == "critical"


def test_s2_missing_database(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S2")
    report = diagnose(inventory, "lab")
    assert comparable(f.code for f in report.findings) == SCENARIO_CODES["S2"]  # v1
    (missing,) = only(report, "db.missing")
    assert missing.subject.database == "shop" or missing.evidence.get("database") == "shop"
    assert missing.fixes and missing.fixes[0].action == "db.create"
    assert missing.fixes[0].params["database"] == "shop"


def test_s3_network_split_and_container_name_reference(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S3")
    report = diagnose(inventory, "lab")
    assert comparable(f.code for f in report.findings) == SCENARIO_CODES["S3"]  # v1
    split = only(report, "network.split")
    assert any(
        f.subject.container == "ventanas-test-app"
        and f.fixes
        and f.fixes[0].params["network"] == "app-test_ventanas-test-network"
        for f in split
    ), describe(report)
    refs = only(report, "network.container_name_reference")
    assert any("ventanas-test-db" in json.dumps(f.model_dump(mode="json")) for f in refs)


def test_s3_services_cut_from_the_compose_file_are_orphans(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S3")
    report = diagnose(inventory, "lab")
    orphans = {f.subject.container: f for f in only(report, "compose.orphan_container")}
    assert set(orphans) == {"ventanas-test-db", "ventanas-test-redis"}, describe(report)
    compose_file = str(STACKS_DIR / "app-test" / "docker-compose.yml")  # v1: relative label
    for name, service in (("ventanas-test-db", "db"), ("ventanas-test-redis", "redis")):
        finding = orphans[name]
        assert finding.severity is Severity.WARNING
        ev = finding.evidence
        assert (ev["container"], ev["project"], ev["service"]) == (name, "app-test", service)
        assert ev["compose_files"] == [compose_file]
        assert ev["services_defined"] == ["app"]
        assert ev["networks"] == ["app-test_ventanas-test-network"]
        assert all(not fix.destructive for fix in finding.fixes)
    assert [(f.action, f.params["volume"]) for f in orphans["ventanas-test-db"].fixes] == [
        ("volume.backup", "app-test_postgres_data")
    ]
    assert report.hosts[0].notes == []
    # the app is the only service still defined: it is not an orphan, nor are the others down
    assert "container.down" not in codes(report)


def test_s3_compose_file_gone_is_a_note_not_a_finding(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S3")
    compose_file = STACKS_DIR / "app-test" / "docker-compose.yml"
    aside = compose_file.with_name("docker-compose.yml.aside")
    compose_file.rename(aside)
    try:
        report = diagnose(inventory, "lab")
    finally:
        aside.rename(compose_file)
    assert "compose.orphan_container" not in codes(report), describe(report)
    (note,) = report.hosts[0].notes
    assert "compose project app-test" in note and "docker-compose.yml" in note
    assert "network.split" in codes(report)  # the rest of the diagnosis is whole


def test_s4_unresolvable_backend_and_empty_database(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S4")
    report = diagnose(inventory, "lab")
    assert comparable(f.code for f in report.findings) == SCENARIO_CODES["S4"]  # v1
    found = codes(report)
    assert found["dns.resolution_failed"] or found["network.unresolvable_host"], describe(report)
    (empty,) = only(report, "db.empty")
    assert empty.fixes and empty.fixes[0].action == "db.migrate"


def test_s5_env_drift_and_the_other_environment(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S5")
    report = diagnose(inventory, "lab")
    assert comparable(f.code for f in report.findings) == SCENARIO_CODES["S5"]  # v1
    drift = only(report, "env.drift")
    assert drift[0].fixes and drift[0].fixes[0].action == "container.recreate"
    compose = [f for f in report.findings if f.code.startswith("compose.")]
    assert any("production" in json.dumps(f.model_dump(mode="json")) for f in compose), describe(
        report
    )


def test_s6_full_disk(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S6")
    report = diagnose(inventory, "small")
    assert comparable(f.code for f in report.findings) == SCENARIO_CODES["S6"]  # v1
    (low,) = [f for f in only(report, "disk.low") if f.severity is Severity.CRITICAL]
    assert low.subject.host == "h2"


def test_planted_secrets_never_reach_the_output(lab: Lab, inventory_path: Path) -> None:
    for scenario in ("S5", "S1"):
        ensure_scenario(lab, scenario)
        for fmt in ("table", "json"):
            proc = stackbot("--config", str(inventory_path), "diagnose", "lab", "--format", fmt)
            assert proc.returncode == 1, proc.stderr  # critical findings
            for secret in PLANTED:
                assert secret not in proc.stdout + proc.stderr, (scenario, fmt, secret)


def test_json_schema_and_exit_status(lab: Lab, inventory_path: Path) -> None:
    ensure_scenario(lab, "healthy")
    proc = stackbot("--config", str(inventory_path), "diagnose", "lab", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema_version"] == 1 and data["environment"] == "lab"
    assert data["verdict"] == "healthy"
    assert {h["host"]: h["reached"] for h in data["hosts"]} == {"h1": True}
    for finding in data["findings"]:
        assert set(finding) >= {"code", "severity", "title", "subject", "evidence", "fixes", "id"}
    usage = stackbot("--config", str(inventory_path), "diagnose", "nope")
    assert usage.returncode == 2 and "unknown environment" in usage.stderr


def test_one_stopped_sshd_still_gives_a_report_for_the_other_host(
    lab: Lab, inventory_path: Path
) -> None:
    ensure_scenario(lab, "S2")
    lab.stop_sshd("h2")
    try:
        started = time.monotonic()
        proc = stackbot(
            "--config",
            str(inventory_path),
            "diagnose",
            "pair",
            "--format",
            "json",
            "--deadline",
            "20",
        )
        elapsed = time.monotonic() - started
    finally:
        lab.start_sshd("h2")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    reached = {h["host"]: h["reached"] for h in data["hosts"]}
    assert reached == {"h1": True, "h2": False}
    by_code = {(f["code"], f["subject"]["host"]) for f in data["findings"]}
    assert ("host.unreachable", "h2") in by_code
    assert ("db.missing", "h1") in by_code  # h1 was fully diagnosed
    assert elapsed < 60


class CountingSession:
    """Delegates to a real session and counts Docker API calls by method."""

    def __init__(self, inner: HostSession) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        outer = self

        class Docker:
            def __getattr__(self, name: str) -> Any:
                method = getattr(inner.docker, name)

                async def counted(*args: Any, **kwargs: Any) -> Any:
                    outer.calls[name] += 1
                    return await method(*args, **kwargs)

                return counted

        self.docker = Docker()
        self.commands: list[tuple[str, ...]] = []

    @property
    def host(self) -> Any:
        return self._inner.host

    @property
    def memo(self) -> dict[str, Any]:
        return self._inner.memo

    async def run(self, argv: Sequence[str], **kwargs: Any) -> Any:
        self.commands.append(tuple(argv))
        return await self._inner.run(argv, **kwargs)

    async def read_file(self, path: str, **kwargs: Any) -> bytes:
        return await self._inner.read_file(path, **kwargs)

    def database(self, **kwargs: Any) -> Any:
        return self._inner.database(**kwargs)


def test_frugal_one_list_and_one_inspect_per_container(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "S5")
    host = inventory.resolved_host("lab", "h1")

    async def go() -> tuple[CountingSession, int, int]:
        async with Transport(inventory.ssh) as transport, transport.session(host) as session:
            counting = CountingSession(session)
            facts = await gather_facts(counting, deadline=60)
            return counting, len(facts.containers), len(facts.compose_services)

    counting, containers, projects = asyncio.run(go())
    calls = counting.calls
    assert calls["containers"] == 1
    assert calls["inspect_container"] == containers
    assert calls["disk_usage"] == 1
    assert "stats" not in calls
    # one compose CLI probe per host, one `config --services` per compose project
    configs = [argv for argv in counting.commands if "--services" in argv]
    assert projects >= 1 and len(configs) == projects  # ${VAR}s read: no second try
    # once per connection: the search for the program `docker compose` runs (it asks
    # that program its version); only when it finds none, `docker compose version`,
    # then v1's
    searches = [argv for argv in counting.commands if argv[5:] == PLUGIN_DIRS]
    versions = [argv for argv in counting.commands if argv[-2:] == ("version", "--short")]
    plugin = ("docker", "compose", "version", "--short")
    assert len(searches) == 1
    assert versions in ([], [plugin], [plugin, ("docker-compose", "version", "--short")])
    if "plugin" in compose_tools.kinds_for(compose_tools.flavor()):  # the lab's default
        # found: that program itself runs the reads, and `docker compose version` never
        assert versions == [] and configs[0][3].endswith("/cli-plugins/docker-compose")
        # a new connection: the search again, told what the host's `stat` said of that
        # program last time (so the program is not started to say its version again)
        again, _, _ = asyncio.run(go())
        (search,) = [argv for argv in again.commands if argv[5:] == PLUGIN_DIRS]
        assert search[4].startswith(configs[0][3] + " ")
        assert [argv for argv in again.commands if "--services" in argv] == configs
