"""The accuracy benchmark's scorer: recall, false findings, false criticals, controls."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bench.accuracy.model import Expect, Required, Scenario
from bench.accuracy.score import ScenarioScore, describe, names, score, totals
from bot.model.findings import Finding, Severity, Subject, make_finding


def finding(code: str, severity: str = "critical", **subject: str) -> Finding:
    return make_finding(
        code, Severity(severity), f"{code} title", Subject(environment="lab", host="h1", **subject)
    )


RESTART = Expect(
    required=(Required(code="container.restarting", subject="worker"),),
    tolerated=("env.missing_required",),
    forbidden=("container.oom_killed",),
)


def test_every_required_finding_named_and_nothing_else_passes() -> None:
    found = [
        finding("container.restarting", container="shop-worker-1", project="shop"),
        finding("host.recent_reboot", "info"),  # always tolerated
        finding("container.recently_recreated", "info", container="shop-db-1"),
    ]
    s = score(RESTART, found, id="x")
    assert s.required == ((RESTART.required[0], True),)
    assert s.found == 1 and s.missed == ()
    assert s.false_findings == () and s.false_criticals == ()
    assert s.status == "pass"


def test_the_right_code_on_the_wrong_subject_is_a_miss_and_a_false_finding() -> None:
    wrong = finding("container.restarting", container="shop-backend-1", project="shop")
    s = score(RESTART, [wrong])
    assert s.found == 0 and s.missed == RESTART.required
    assert s.false_findings == (wrong,) and s.false_criticals == (wrong,)
    assert s.status == "FALSE CRITICAL"


def test_the_subject_may_be_named_by_any_subject_field() -> None:
    expect = Expect(required=(Required(code="env.file_missing", subject=".env.local"),))
    hit = finding("env.file_missing", project="shop", path="/srv/shop/.env.local")
    assert names(hit, ".env.local") and not names(hit, "backend")
    assert score(expect, [hit]).found == 1


def test_a_tolerated_code_is_not_false_whatever_its_severity() -> None:
    s = score(RESTART, [finding("env.missing_required", container="shop-worker-1")])
    assert s.false_findings == ()
    assert s.missed == RESTART.required
    assert s.status == "missed"


def test_an_unexpected_warning_is_false_but_not_a_false_critical() -> None:
    extra = finding("volume.project_prefixed", "warning", volume="shop_data")
    s = score(RESTART, [finding("container.restarting", container="w-worker-1"), extra])
    assert s.false_findings == (extra,)
    assert s.false_criticals == ()
    assert s.status == "pass"  # counted in the table; the gate is recall and criticals


def test_a_forbidden_code_is_always_false() -> None:
    oom = finding("container.oom_killed", "warning", container="shop-worker-1")
    s = score(RESTART, [finding("container.restarting", container="shop-worker-1"), oom])
    assert s.forbidden_hits == (oom,) and s.false_findings == (oom,)
    assert s.status == "forbidden"


def test_a_healthy_control_may_hold_info_only_even_when_tolerated() -> None:
    control = Expect(tolerated=("volume.unused", "compose.orphan_container"))
    quiet = score(control, [finding("volume.unused", "info", volume="b")], control=True)
    assert quiet.status == "pass" and quiet.above_info == ()
    loud = finding("compose.orphan_container", "warning", container="x")
    noisy = score(control, [loud], control=True)
    assert noisy.false_findings == ()  # tolerated, yet above info
    assert noisy.above_info == (loud,)
    assert noisy.status == "NOISY CONTROL"


def test_describe_names_code_severity_and_subject_without_env_and_host() -> None:
    text = describe(finding("network.split", container="app", network="n"))
    assert text == "network.split (critical) on container=app, network=n"


def _scored(id: str, hits: list[bool], **kw: object) -> ScenarioScore:
    reqs = tuple((Required(code="a.b", subject=str(i)), hit) for i, hit in enumerate(hits))
    return ScenarioScore(id=id, family="containers", control=False, required=reqs, **kw)  # type: ignore[arg-type]


def test_totals_recall_over_scored_scenarios_skipped_apart() -> None:
    scores = [
        _scored("a", [True] * 19, duration=0.5),
        _scored("b", [True], duration=0.7),
        _scored("c", [False, False], skipped="cannot be built here"),
    ]
    t = totals(scores)
    assert (t.required, t.found, t.skipped, t.scored) == (20, 20, 1, 2)
    assert t.recall == 1.0 and t.ok
    assert t.median_duration == 0.7


def test_totals_fail_below_95_percent_recall() -> None:
    t = totals([_scored("a", [True] * 18 + [False, False])])
    assert t.recall == pytest.approx(0.9)
    assert not t.ok and "recall 90.0% is below 95%" in t.failures[0]
    assert totals([_scored("a", [True] * 19 + [False])]).ok  # exactly 95 %


def test_totals_fail_on_a_false_critical_and_on_a_noisy_control() -> None:
    crit = finding("db.missing", database="shop")
    warn = finding("volume.unused", "warning", volume="v")
    t = totals(
        [
            _scored("a", [True], false_findings=(crit,)),
            ScenarioScore(id="h", family="healthy", control=True, above_info=(warn,)),
        ]
    )
    assert t.false_criticals == 1 and t.noisy_controls == ("h",)
    assert len(t.failures) == 2 and not t.ok


def test_an_error_counts_its_required_findings_as_missed_and_fails() -> None:
    t = totals([_scored("a", [True] * 40), _scored("b", [False], error="build failed: x")])
    assert t.required == 41 and t.found == 40 and t.errors == 1
    assert t.recall > 0.95 and not t.ok
    assert any("could not be built" in f for f in t.failures)


def test_expectations_are_checked_when_declared() -> None:
    with pytest.raises(ValidationError, match="both expected and forbidden"):
        Expect(required=(Required(code="db.empty", subject="shop"),), forbidden=("db.empty",))
    with pytest.raises(ValidationError, match="not finding codes"):
        Expect(tolerated=("DB-empty",))

    def build(lab: object) -> None:
        return None

    with pytest.raises(ValidationError, match="requires no finding"):
        Scenario(id="h", title="a control with a requirement", family="healthy", build=build,
                 expect=RESTART)  # fmt: skip
    with pytest.raises(ValidationError, match="at least one finding"):
        Scenario(id="i", title="an incident without one", family="disk", build=build,
                 expect=Expect())  # fmt: skip
    with pytest.raises(ValidationError, match="family"):
        Scenario(id="j", title="an unknown family here", family="nope", build=build,
                 expect=RESTART)  # fmt: skip
