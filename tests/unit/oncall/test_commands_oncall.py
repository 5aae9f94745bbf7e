"""`/stack oncall`, `/stack oncall override …` and `/stack incidents`: parsing and answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.slack import messages
from bot.slack.commands import (
    CommandError,
    Diagnose,
    Incidents,
    OnCallOverride,
    OnCallShow,
    parse,
)

ENVS = ("prod", "staging")
ONCALL_USAGE = "/stack oncall [ENV] | /stack oncall override ENV @user DURATION"
OVERRIDE_USAGE = "/stack oncall override ENV @user DURATION"


def answer(text: str) -> str:
    with pytest.raises(CommandError) as caught:
        parse(text, ENVS)
    assert str(caught.value) == caught.value.answer
    return caught.value.answer


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("oncall", OnCallShow()),
        ("ONCALL", OnCallShow()),
        ("oncall prod", OnCallShow(env="prod")),
        ("oncall PROD", OnCallShow(env="prod")),
        ("  oncall   staging ", OnCallShow(env="staging")),
        ("incidents", Incidents()),
        ("incidents prod", Incidents(env="prod")),
        ("Incidents Staging", Incidents(env="staging")),
        (
            "oncall override prod <@U123ABC|bob> 4h",
            OnCallOverride(env="prod", user="U123ABC", duration=timedelta(hours=4)),
        ),
        (
            "oncall override prod <@U123ABC> 90m",
            OnCallOverride(env="prod", user="U123ABC", duration=timedelta(minutes=90)),
        ),
        (
            "oncall override prod U123ABC 1d",
            OnCallOverride(env="prod", user="U123ABC", duration=timedelta(days=1)),
        ),
        (
            "oncall OVERRIDE PROD <@W0ENTERPRISE|eve> 1h30m",
            OnCallOverride(env="prod", user="W0ENTERPRISE", duration=timedelta(minutes=90)),
        ),
        (
            "oncall override staging U123ABC 1m",
            OnCallOverride(env="staging", user="U123ABC", duration=timedelta(minutes=1)),
        ),
        (
            "oncall override staging U123ABC 30d",
            OnCallOverride(env="staging", user="U123ABC", duration=timedelta(days=30)),
        ),
    ],
)
def test_valid_oncall_commands(text: str, command: object) -> None:
    assert parse(text, ENVS) == command


def test_the_parsed_commands_carry_their_verb() -> None:
    assert OnCallShow().verb == "oncall"
    assert OnCallOverride(env="prod", user="U1AB", duration=timedelta(hours=1)).verb == "override"
    assert Incidents().verb == "incidents"


@pytest.mark.parametrize(
    "who", ["@bob", "bob", "<#C123|chan>", "<#C123>", "<!here>", "S0ONCALL", "<@u123abc>"]
)
def test_a_user_must_be_a_mention_or_an_id(who: str) -> None:
    said = answer(f"oncall override prod {who} 4h")
    assert said == messages.bad_user(who)
    assert said.startswith(f"`{who}` is not a Slack user. Mention them (`@name`, sent as `<@U…>`)")
    assert said.endswith(f"Usage: `{OVERRIDE_USAGE}`")


@pytest.mark.parametrize("duration", ["0m", "0s", "59s", "31d", "30d1m", "soon", "4", "-1h", "h"])
def test_a_duration_must_be_from_one_minute_to_thirty_days(duration: str) -> None:
    said = answer(f"oncall override prod <@U123ABC> {duration}")
    assert said == (
        f"`{duration}` is not a duration from 1m to 30d (like `30m`, `4h`, `2d`). "
        f"Usage: `{OVERRIDE_USAGE}`"
    )


@pytest.mark.parametrize(
    "text",
    ["oncall override", "oncall override prod", "oncall override prod <@U123ABC>"],
)
def test_missing_override_arguments_get_the_usage(text: str) -> None:
    assert answer(text) == f"Usage: `{OVERRIDE_USAGE}`"


def test_extra_words_after_an_override_are_named() -> None:
    assert answer("oncall override prod <@U123ABC> 4h please now") == (
        f"I did not understand `please now`. Usage: `{ONCALL_USAGE}`"
    )


@pytest.mark.parametrize(
    ("text", "extra", "verb"),
    [
        ("oncall prod extra", "extra", "oncall"),
        ("oncall prod staging", "staging", "oncall"),
        ("incidents prod extra", "extra", "incidents"),
        ("incidents prod a b", "a b", "incidents"),
    ],
)
def test_extra_words_after_oncall_and_incidents(text: str, extra: str, verb: str) -> None:
    assert answer(text) == (f"I did not understand `{extra}`. Usage: `{messages.USAGE[verb]}`")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("oncall prdo", "There is no environment `prdo`. Did you mean `/stack oncall prod`?"),
        (
            "incidents stagign",
            "There is no environment `stagign`. Did you mean `/stack incidents staging`?",
        ),
        ("oncall zzz", "There is no environment `zzz`. `/stack envs` lists them."),
        (
            "diagnose prdo",
            "There is no environment `prdo`. Did you mean `/stack diagnose prod`?",
        ),
    ],
)
def test_unknown_environments_get_a_suggestion(text: str, said: str) -> None:
    assert answer(text) == said


def test_an_unknown_environment_in_an_override_is_checked_first() -> None:
    said = answer("oncall override nowhere <@U123ABC> 4h")
    assert said == "There is no environment `nowhere`. `/stack envs` lists them."


def test_a_mistyped_override_environment_suggests_an_override() -> None:
    said = answer("oncall override prdo <@U123ABC> 4h")
    assert "`/stack oncall override prod" in said


def test_the_new_verbs_are_listed_and_suggested() -> None:
    assert messages.USAGE["oncall"] == ONCALL_USAGE
    assert messages.USAGE["incidents"] == "/stack incidents [ENV]"
    assert answer("oncal prod") == (
        f"`oncal` is not a /stack command. Did you mean `{ONCALL_USAGE}`? Try `/stack help`."
    )
    assert answer("incident") == (
        "`incident` is not a /stack command. Did you mean `/stack incidents [ENV]`? "
        "Try `/stack help`."
    )
    assert "`override` is not a /stack command." in answer("override prod U123ABC 4h")


def test_diagnose_is_unchanged() -> None:
    assert parse("diagnose prod", ENVS) == Diagnose(env="prod")
