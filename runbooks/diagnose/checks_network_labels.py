"""Network label check: a network compose expects exists without compose's labels.

- ``network.label_mismatch``: a network the project's compose files make compose
  create or reuse (``<project>_default`` when a service names no network, each
  declared network that is not ``external``: ``<project>_<key>`` or its
  ``name:``; ``ComposeServices.expected_networks``) exists on the engine, but its
  ``com.docker.compose.network`` label is absent or is not the key (warning: Compose
  v2's next ``up`` fails with "network X was found but has incorrect label"), or
  only its ``com.docker.compose.project`` label is absent or names another project
  (info: compose warns it "was not created for project P"). Typical cause: the
  network was made by hand (``docker network create``) or by another project.
  Guidance: declare it ``external: true`` (with ``name:``) when it is shared on
  purpose, else recreate it with compose (``down``/``up``, or disconnect its
  containers, ``docker network rm``, and let ``up`` create it).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.model.docker_objects import COMPOSE_NETWORK, COMPOSE_PROJECT
from bot.model.findings import Finding, Severity, make_finding
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import subject


def check_label_mismatch(facts: HostFacts) -> list[Finding]:
    """``network.label_mismatch``: an expected network lacks compose's labels."""
    by_name = {n.name: n for n in facts.networks}
    findings: list[Finding] = []
    for read in facts.compose_services:
        for name, key in sorted(read.expected_networks.items()):
            network = by_name.get(name)
            if network is None:
                continue  # compose creates it
            label = network.labels.get(COMPOSE_NETWORK)
            project = network.labels.get(COMPOSE_PROJECT)
            if label == key and project == read.project:
                continue
            wrong_network = label != key
            attached = sorted(c.name for c in facts.containers if name in c.networks)
            said = repr(label) if label is not None else "missing"
            owner = repr(project) if project is not None else "missing"
            findings.append(
                make_finding(
                    "network.label_mismatch",
                    Severity.WARNING if wrong_network else Severity.INFO,
                    (
                        f"network {name} exists but its label {COMPOSE_NETWORK} is "
                        f"{said} (compose expects "
                        f"{key!r}): the next `compose up` of {read.project} fails"
                        if wrong_network
                        else f"network {name} was not created for compose project "
                        f"{read.project} (its {COMPOSE_PROJECT} label is "
                        f"{owner})"
                    ),
                    subject(facts, project=read.project, network=name),
                    network=name,
                    compose_key=key,
                    network_label=label,
                    project_label=project,
                    expected_project=read.project,
                    containers=attached or None,
                    compose_files=list(read.config_files),
                    advice=(
                        f"if {name} is shared on purpose, declare it in the compose file as "
                        f"`networks: {{{key}: {{external: true, name: {name}}}}}`; otherwise "
                        f"let compose recreate it: stop what uses it "
                        f"(`docker network disconnect`), `docker network rm {name}`, then "
                        f"`docker compose -p {read.project} up -d`"
                    ),
                )
            )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_label_mismatch,)
