"""Building the ``Subject`` of a finding from the facts it is about."""

from __future__ import annotations

from typing import Any

from bot.model.docker_objects import ContainerDetails
from bot.model.findings import Subject
from runbooks.diagnose.facts import HostFacts


def subject(facts: HostFacts, **fields: Any) -> Subject:
    """A subject on this environment and host, plus the given fields."""
    return Subject(environment=facts.environment, host=facts.host, **fields)


def container_subject(facts: HostFacts, container: ContainerDetails, **fields: Any) -> Subject:
    """A subject naming a container, and its compose project and service when it has them."""
    return subject(
        facts,
        project=container.compose_project,
        service=container.compose_service,
        container=container.name,
        **fields,
    )
