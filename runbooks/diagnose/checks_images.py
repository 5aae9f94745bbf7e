"""Image check: a running container whose image reference now points at another image.

- ``container.image_stale`` (warning): a running container (of a compose stack, or
  started by hand) was created from image reference R (``Config.Image``, a tag), and
  R now names another image on the host (``/system/df``'s ``RepoTags``, read anyway
  for the disk checks): a ``pull`` or ``build`` happened, the container was never
  recreated, so it still runs the old code. References pinned by digest or image id
  are never stale; a tag no image carries any more (removed) is not judged.
  Guidance, no button: ``container.recreate`` recreates only when the env file
  changed (its plan would be empty), and a restart keeps the old image; compose's
  ``up -d --no-deps SERVICE`` recreates it from the new image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bot.model.docker_objects import COMPOSE_ONEOFF, COMPOSE_WORKING_DIR, ContainerDetails
from bot.model.findings import Finding, Severity, make_finding
from runbooks.diagnose.facts import HostFacts
from runbooks.diagnose.subject import container_subject

_REGISTRY_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def normalize_ref(ref: str) -> str | None:
    """``nginx`` → ``nginx:latest``; ``docker.io/library/x:1`` → ``x:1``; None when
    pinned (a digest, an image id)."""
    if not ref or "@" in ref or ref.startswith("sha256:"):
        return None
    for prefix in _REGISTRY_PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    ref = ref.removeprefix("library/")
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def tagged_now(facts: HostFacts, ref: str) -> str | None:
    """The image id ``ref`` points at on the host now."""
    wanted = normalize_ref(ref)
    if wanted is None:
        return None
    for tag, image_id in facts.image_tags.items():
        if normalize_ref(tag) == wanted:
            return image_id
    return None


def _running(facts: HostFacts) -> Iterator[ContainerDetails]:
    for stack in facts.stacks.stacks:
        for service in stack.services.values():
            yield from (c for c in service.containers if c.state.running)
    yield from (c for c in facts.stacks.unmanaged if c.state.running)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def check_image_stale(facts: HostFacts) -> list[Finding]:
    """``container.image_stale``: its tag points at a newer image than the one it runs."""
    findings: list[Finding] = []
    for c in _running(facts):
        if c.labels.get(COMPOSE_ONEOFF, "False").lower() == "true":
            continue
        now_id = tagged_now(facts, c.config.image)
        if now_id is None or not c.image_id or now_id == c.image_id:
            continue
        if c.compose_project and c.compose_service:
            where = c.labels.get(COMPOSE_WORKING_DIR) or "its compose directory"
            advice = (
                f"recreate it from the new image: `docker compose -p {c.compose_project} "
                f"up -d --no-deps {c.compose_service}` in {where} (a restart keeps the old "
                "image); if the old one was wanted, pin the tag or a digest instead"
            )
        else:
            advice = (
                f"recreate {c.name} with `docker run` from {c.config.image} (a restart keeps "
                "the old image)"
            )
        findings.append(
            make_finding(
                "container.image_stale",
                Severity.WARNING,
                f"{c.name} runs an older image than {c.config.image} points to now "
                f"({_short(c.image_id)}, the tag is {_short(now_id)}): pulled or built, "
                "never applied",
                container_subject(facts, c),
                image=c.config.image,
                running_image=_short(c.image_id),
                tag_image=_short(now_id),
                created=c.created.isoformat() if c.created else None,
                advice=advice,
            )
        )
    return findings


CHECKS: tuple[Callable[[HostFacts], list[Finding]], ...] = (check_image_stale,)
