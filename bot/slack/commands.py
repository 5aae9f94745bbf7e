"""`/stack` text → one typed command, or a short answer saying what would have worked.

Chat text never goes further than this module as text: it becomes one of a
closed set of pydantic commands whose names were checked against the
inventory (environments) or a strict ASCII pattern (stacks, counts, users,
durations). Whatever the text, ``parse`` returns a command or raises
``CommandError`` (a ``UsageError``) carrying a short answer; nothing else
escapes it (tests/unit/test_slack_fuzz.py throws hostile text at it).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.config.models import parse_duration
from bot.errors import UsageError
from bot.slack import messages

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
COUNT = re.compile(r"[0-9]{1,3}", re.ASCII)  # ASCII digits only: `²`.isdigit() is True
DURATION = re.compile(r"(?:[0-9]{1,3}d)?(?:[0-9]{1,5}h)?(?:[0-9]{1,6}m)?(?:[0-9]{1,8}s)?", re.ASCII)
VERBS = tuple(messages.USAGE)


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Help(_Command):
    verb: Literal["help"] = "help"


class Envs(_Command):
    verb: Literal["envs"] = "envs"


class Diagnose(_Command):
    verb: Literal["diagnose"] = "diagnose"
    env: str
    stack: str | None = None


class Volumes(_Command):
    verb: Literal["volumes"] = "volumes"
    env: str


class Disk(_Command):
    verb: Literal["disk"] = "disk"
    env: str


class Audit(_Command):
    verb: Literal["audit"] = "audit"
    env: str
    count: int = Field(10, ge=1, le=100)


class OnCallShow(_Command):
    verb: Literal["oncall"] = "oncall"
    env: str | None = None


class OnCallOverride(_Command):
    verb: Literal["override"] = "override"
    env: str
    user: str
    duration: timedelta


class Incidents(_Command):
    verb: Literal["incidents"] = "incidents"
    env: str | None = None


AnyCommand = (
    Help | Envs | Diagnose | Volumes | Disk | Audit | OnCallShow | OnCallOverride | Incidents
)
Command = Annotated[AnyCommand, Field(discriminator="verb")]
MENTION = re.compile(r"<@([UW][A-Z0-9]{2,31})(?:\|[^>]*)?>|([UW][A-Z0-9]{2,31})", re.ASCII)


class CommandError(UsageError):
    """The text is not a command; ``answer`` is the short ephemeral reply."""

    code = "usage.command"

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


def _closest(word: str, choices: Collection[str]) -> str | None:
    found = difflib.get_close_matches(word[:40].lower(), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _environment(
    word: str, environments: Collection[str], verb: str, hints: Collection[str] | None
) -> str:
    """The inventory's name for ``word``; a suggestion is only ever one of ``hints``."""
    env = word.lower() if word.isascii() else ""  # `\u212a`.lower() is `k`: no such aliases
    if env not in environments:
        suggestion = _closest(word, environments if hints is None else hints)
        raise CommandError(messages.unknown_environment(word, suggestion, verb))
    return env


def _duration(word: str) -> timedelta:
    """``30m``, ``4h``, ``1h30m``, ``2d``: ASCII digits, 1 minute to the maximum, no overflow."""
    if not word or DURATION.fullmatch(word.lower()) is None:
        raise CommandError(messages.bad_duration(word))
    duration = parse_duration(word)
    if not timedelta(minutes=1) <= duration <= timedelta(days=messages.OVERRIDE_MAX_DAYS):
        raise CommandError(messages.bad_duration(word))
    return duration


def _override(
    args: list[str], environments: Collection[str], hints: Collection[str] | None
) -> OnCallOverride:
    """``override ENV @user DURATION``: ``args`` are the words after ``override``."""
    if len(args) != 3:
        extra = " ".join(args[3:])
        raise CommandError(
            messages.extra_words("oncall", extra)
            if extra
            else f"Usage: `{messages.OVERRIDE_USAGE}`"
        )
    env = _environment(args[0], environments, "oncall override", hints)
    mention = MENTION.fullmatch(args[1])
    if mention is None:
        raise CommandError(messages.bad_user(args[1]))
    duration = _duration(args[2])
    return OnCallOverride(env=env, user=mention.group(1) or mention.group(2), duration=duration)


def parse(
    text: str, environments: Collection[str], *, hints: Collection[str] | None = None
) -> AnyCommand:
    """Parse the text after `/stack`; raise ``CommandError`` with the reply otherwise.

    ``environments`` are the inventory's; ``hints`` the ones a "Did you mean" may name
    (the user's own; default: all of them).
    """
    words = text.split()
    if not words:
        raise CommandError(messages.EMPTY)
    verb, args = (words[0].lower() if words[0].isascii() else ""), words[1:]
    if verb not in VERBS:
        raise CommandError(messages.unknown_verb(words[0], _closest(verb, VERBS)))
    if verb in ("help", "envs"):
        if args:
            raise CommandError(messages.extra_words(verb, " ".join(args)))
        return Help() if verb == "help" else Envs()
    if verb in ("oncall", "incidents"):
        if verb == "oncall" and args and args[0].isascii() and args[0].lower() == "override":
            return _override(args[1:], environments, hints)
        if len(args) > 1:
            raise CommandError(messages.extra_words(verb, " ".join(args[1:])))
        env = _environment(args[0], environments, verb, hints) if args else None
        return OnCallShow(env=env) if verb == "oncall" else Incidents(env=env)
    if not args:
        raise CommandError(messages.missing_argument(verb))
    env = _environment(args[0], environments, verb, hints)
    rest = args[1:]
    if verb == "diagnose":
        if len(rest) > 1:
            raise CommandError(messages.extra_words(verb, " ".join(rest[1:])))
        if rest and not NAME.fullmatch(rest[0]):
            raise CommandError(messages.bad_name(rest[0]))
        return Diagnose(env=env, stack=rest[0] if rest else None)
    if verb == "audit":
        if len(rest) > 1:
            raise CommandError(messages.extra_words(verb, " ".join(rest[1:])))
        if not rest:
            return Audit(env=env)
        if not COUNT.fullmatch(rest[0]) or not 1 <= int(rest[0]) <= 100:
            raise CommandError(messages.bad_count(rest[0]))
        return Audit(env=env, count=int(rest[0]))
    if rest:
        raise CommandError(messages.extra_words(verb, " ".join(rest)))
    return Volumes(env=env) if verb == "volumes" else Disk(env=env)
