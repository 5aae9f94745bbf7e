"""What one scenario file declares: the broken state to build and the findings expected.

A scenario file in ``bench/accuracy/scenarios/`` ends with one declaration::

    SCENARIO = Scenario(
        id="restart-loop-missing-env",
        title="a worker exits at once: REDIS_URL is missing from its environment",
        family="containers",
        build=build,                      # def build(lab: Lab) -> None
        expect=Expect(
            required=(Required(code="container.restarting", subject="worker"),),
            tolerated=("env.missing_required",),
            forbidden=("container.oom_killed",),
        ),
    )

Scoring (``bench.accuracy.score``): each required finding must be reported with its
code, naming ``subject`` (a substring of one of the finding's subject fields:
container, service, project, network, volume, database, path, host). Every other
finding counts as a false finding unless its code is tolerated (the scenario's, or one
of ``ALWAYS_TOLERATED``); a forbidden code is always false. A false finding of severity
critical is a false critical. A healthy control (family ``healthy``) may hold no finding
above info at all, tolerated or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Family = Literal[
    "seed",  # the incidents of ../shared/seeds (S1-S6)
    "containers",  # restart loops, OOM kills, dependencies, ports
    "compose",  # what compose was told and what runs: stale config or image, run leftovers
    "config",  # files a stack needs: env files, bind-mount sources
    "disk",  # space and inodes, logs
    "database",  # Postgres: connections, locks, its volume
    "network",  # networks and the addresses services reach each other by
    "host",  # the machine: memory
    "healthy",  # controls laid with traps: nothing above info may be reported
]
FAMILIES: tuple[str, ...] = Family.__args__  # type: ignore[attr-defined]

# Reported on every lab scenario for reasons that are true and not the scenario's: the lab
# machine was booted recently, and every container of a scenario was created minutes ago.
ALWAYS_TOLERATED: dict[str, str] = {
    "host.recent_reboot": "info: the lab machine's uptime, not the scenario",
    "container.recently_recreated": "info: every lab container was created minutes ago",
}

_CODE = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"


class Required(BaseModel):
    """A finding the diagnosis must report: its code, naming ``subject``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_CODE)
    subject: str = Field(min_length=1, description="a substring of one of its subject fields")


class Expect(BaseModel):
    """What the diagnosis of a scenario should say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    required: tuple[Required, ...] = ()
    tolerated: tuple[str, ...] = Field((), description="codes that may appear (true, not asked)")
    forbidden: tuple[str, ...] = Field((), description="codes that must not appear")

    @field_validator("tolerated", "forbidden")
    @classmethod
    def _codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        import re

        bad = [c for c in codes if not re.match(_CODE, c)]
        if bad:
            raise ValueError(f"not finding codes: {bad}")
        return codes

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        required = {r.code for r in self.required}
        both = (required | set(self.tolerated)) & set(self.forbidden)
        if both:
            raise ValueError(f"codes both expected and forbidden: {sorted(both)}")
        return self

    def codes(self) -> set[str]:
        """Every code the expectation names."""
        return {r.code for r in self.required} | set(self.tolerated) | set(self.forbidden)


class Scenario(BaseModel):
    """One incident (or healthy control) of the corpus; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$", max_length=40)
    title: str = Field(min_length=10)
    family: Family
    environment: str = Field("lab", description="the lab inventory's environment to diagnose")
    compose: Literal["v2", "v1"] = "v2"
    seed: str | None = Field(None, description="the seed file it reproduces, if any")
    build: Callable[[Any], None] = Field(description="build(lab): puts the lab in the state")
    expect: Expect
    inventory: dict[str, Any] = Field(
        default_factory=dict,
        description="overrides deep-merged into the lab inventory, e.g. "
        "{'environments': {'lab': {'stacks': {...}}}} to declare a stack",
    )
    skip_reason: str | None = Field(None, description="why it cannot be built here (counted)")

    @property
    def control(self) -> bool:
        return self.family == "healthy"

    @model_validator(mode="after")
    def _shape(self) -> Scenario:
        if self.control and self.expect.required:
            raise ValueError("a healthy control requires no finding")
        if not self.control and not self.expect.required:
            raise ValueError("an incident requires at least one finding")
        return self
