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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.inventory.config.models import parse_duration
from bot.model.errors import UsageError
from bot.operations.reports import ReportSpec, report_specs
from bot.slack import messages

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
COUNT = re.compile(r"[0-9]{1,3}", re.ASCII)  # ASCII digits only: `²`.isdigit() is True
DURATION = re.compile(r"(?:[0-9]{1,3}d)?(?:[0-9]{1,5}h)?(?:[0-9]{1,6}m)?(?:[0-9]{1,8}s)?", re.ASCII)
# Reports without a command class of their own (logs, ps, …) come from the registry:
# their usage and their parsing follow from the runbook's Params.
REPORTS: dict[str, ReportSpec] = {
    name: spec for name, spec in report_specs().items() if name not in messages.USAGE
}
USAGE = {**messages.USAGE, **{name: spec.usage("/stack") for name, spec in REPORTS.items()}}
SUMMARY = {**messages.SUMMARY, **{name: spec.title for name, spec in REPORTS.items()}}
VERBS = tuple(USAGE)
VALUE_LIMIT = 200  # characters of one option's value (a --grep text)


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


class Report(_Command):
    """A report from the registry (``REPORTS``): its params checked by its ``Params`` model."""

    verb: str
    env: str
    params: dict[str, Any] = Field(default_factory=dict)


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


FixedCommand = (
    Help | Envs | Diagnose | Volumes | Disk | Audit | OnCallShow | OnCallOverride | Incidents
)
Command = Annotated[FixedCommand, Field(discriminator="verb")]
AnyCommand = FixedCommand | Report
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
        suggestion = _closest(verb, VERBS)
        hint = f" Did you mean `{USAGE[suggestion]}`?" if suggestion else ""
        raise CommandError(
            f"`{messages.shown(words[0])}` is not a /stack command.{hint} Try `/stack help`."
        )
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
        raise CommandError(f"Usage: `{USAGE[verb]}`")
    env = _environment(args[0], environments, verb, hints)
    rest = args[1:]
    if verb in REPORTS:
        return _report(REPORTS[verb], env, rest)
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


def _report(spec: ReportSpec, env: str, words: list[str]) -> Report:
    """``WORD… [--option VALUE]…`` after the environment, checked by the runbook's Params."""
    usage = f"Usage: `{USAGE[spec.name]}`"
    options = {o.flag: o for o in spec.options if not o.positional}
    positionals = list(spec.positionals)
    given: dict[str, str | bool | list[str]] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if not word.isascii() or len(word) > VALUE_LIMIT:
            raise CommandError(f"I did not understand `{messages.shown(word)}`. {usage}")
        option = options.get(word.lower()) if word.startswith("--") else None
        if option is None and word.startswith("--"):
            raise CommandError(f"`{messages.shown(word)}` is not an option here. {usage}")
        if option is None:
            if not positionals:
                raise CommandError(f"I did not understand `{messages.shown(word)}`. {usage}")
            given[positionals.pop(0).name] = word
        elif option.kind == "flag":
            given[option.name] = True
        else:
            if index + 1 >= len(words):
                raise CommandError(f"`{option.flag}` needs a value. {usage}")
            index += 1
            value = words[index]
            if not value.isascii() or len(value) > VALUE_LIMIT:
                raise CommandError(f"`{option.flag}` takes plain text. {usage}")
            if option.kind == "list":
                listed = given.setdefault(option.name, [])
                assert isinstance(listed, list)
                listed.append(value)
            else:
                given[option.name] = value
        index += 1
    if positionals:
        raise CommandError(usage)
    try:
        params = spec.validate(given)
    except UsageError as exc:
        raise CommandError(f"{messages.shown(exc.message, 200)}. {usage}") from exc
    return Report(verb=spec.name, env=env, params=params.model_dump(exclude_defaults=True))
