"""One-off check: containers left by ``docker compose run``.

- ``compose.run_leftover``: containers of a compose project labelled
  ``com.docker.compose.oneoff=True`` (``compose run`` without ``--rm``) that
  exited (info: they keep their image, volumes and a name like
  ``shop-backend-run-3f2a…`` around), or that have been running for more than
  ``RUNNING_LONG`` (warning: a forgotten shell, a migration that hangs, holding
  connections and locks). One finding per project; evidence lists each container
  with its state and age. Guidance: ``docker rm`` (``docker stop`` first for a
  running one) with their names, and ``compose run --rm`` next time. Such
  containers are never judged as services (``container.down`` leaves them out).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Finding, Severity, make_finding
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import subject

RUNNING_LONG = timedelta(hours=1)


def _age(facts: HostFacts, c: ContainerDetails) -> str:
    since = c.state.started_at if c.state.running else (c.state.finished_at or c.created)
    if since is None:
        return "unknown"
    hours = (facts.now - since).total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _left(facts: HostFacts, c: ContainerDetails) -> bool:
    if c.state.running or c.state.restarting:
        started = c.state.started_at
        return started is not None and facts.now - started > RUNNING_LONG
    return c.state.status in ("exited", "dead", "created")


def check_run_leftover(facts: HostFacts) -> list[Finding]:
    """``compose.run_leftover``: `compose run` containers left exited, or running long."""
    findings: list[Finding] = []
    for stack in facts.stacks.stacks:
        left = sorted((c for c in stack.oneoff if _left(facts, c)), key=lambda c: c.name)
        if not left:
            continue
        running = [c for c in left if c.state.running or c.state.restarting]
        services = sorted({c.compose_service or "?" for c in left})
        rows = [
            f"{c.name}: "
            + (
                f"running for {_age(facts, c)}"
                if c in running
                else f"{c.state.status} (exit {c.state.exit_code}) {_age(facts, c)} ago"
            )
            for c in left
        ]
        names = " ".join(c.name for c in left)
        stop = f"`docker stop {' '.join(c.name for c in running)}`, then " if running else ""
        findings.append(
            make_finding(
                "compose.run_leftover",
                Severity.WARNING if running else Severity.INFO,
                f"{len(left)} container{'s' if len(left) > 1 else ''} left by "
                f"`docker compose run` in {stack.project} "
                + (f"({len(running)} still running)" if running else "(exited)"),
                subject(
                    facts,
                    project=stack.project,
                    service=services[0] if len(services) == 1 else None,
                    container=left[0].name if len(left) == 1 else None,
                ),
                containers=rows,
                services=services,
                running=[c.name for c in running] or None,
                advice=f"remove them: {stop}`docker rm {names}`; use "
                "`docker compose run --rm` so they go when they finish",
            )
        )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_run_leftover,)
