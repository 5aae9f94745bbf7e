"""`/stack` text parsing: typed commands, or a short answer with the closest valid command."""

from __future__ import annotations

import pytest

from bot.model.errors import UsageError
from bot.slack.commands import Audit, CommandError, Diagnose, Disk, Envs, Help, Volumes, parse

ENVS = ("prod", "staging")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("help", Help()),
        ("  HELP ", Help()),
        ("envs", Envs()),
        ("diagnose prod", Diagnose(env="prod")),
        ("diagnose Prod shop", Diagnose(env="prod", stack="shop")),
        ("volumes staging", Volumes(env="staging")),
        ("disk prod", Disk(env="prod")),
        ("audit prod", Audit(env="prod", count=10)),
        ("audit prod 25", Audit(env="prod", count=25)),
    ],
)
def test_valid_commands(text: str, command: object) -> None:
    assert parse(text, ENVS) == command


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("", "Tell me what to do"),
        ("diagnoze prod", "Did you mean `/stack diagnose ENV [STACK]`?"),
        ("frobnicate", "`frobnicate` is not a /stack command. Try `/stack help`."),
        ("diagnose prdo", "There is no environment `prdo`. Did you mean `/stack diagnose prod`?"),
        ("disk qa", "There is no environment `qa`. `/stack envs` lists them."),
        ("diagnose", "Usage: `/stack diagnose ENV [STACK]`"),
        ("diagnose prod shop now", "I did not understand `now`."),
        ("disk prod please", "I did not understand `please`."),
        ("help me", "I did not understand `me`."),
        ("audit prod 1000", "`1000` is not a number from 1 to 100"),
        ("audit prod -1", "`-1` is not a number from 1 to 100"),
        ("diagnose prod $(reboot)", "`$(reboot)` is not a valid stack name"),
        ("diagnose prod ;rm", "`;rm` is not a valid stack name"),
    ],
)
def test_bad_text_gets_a_short_answer(text: str, answer: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(text, ENVS)
    assert answer in info.value.answer
    assert len(info.value.answer) < 200


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("audit prod \u00b2", "`\u00b2` is not a number from 1 to 100"),  # isdigit(), not int()
        ("audit prod \u0661\u0662", "is not a number from 1 to 100"),  # Arabic-Indic 12
        ("audit prod 0", "`0` is not a number from 1 to 100"),
        ("audit prod +5", "`+5` is not a number from 1 to 100"),
        ("audit prod 9999999999999999999999", "is not a number from 1 to 100"),
        ("oncall override prod U123ABC 99999999999d", "is not a duration from 1m to 30d"),
        ("oncall override prod U123ABC \u0661h", "is not a duration from 1m to 30d"),
        ("dis\u212a prod", "is not a /stack command"),  # KELVIN SIGN: lower() gives "disk"
        ("diagnose \u212aube", "There is no environment"),
        ("help `x` <!channel>", "I did not understand `'x' <!channel>`"),
    ],
)
def test_look_alikes_and_overflows_get_a_short_answer(text: str, answer: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(text, (*ENVS, "kube"))
    assert answer in info.value.answer
    assert isinstance(info.value, UsageError)


def test_a_long_word_is_shown_cut_short() -> None:
    with pytest.raises(CommandError) as info:
        parse("x" * 5000, ENVS)
    assert info.value.answer.startswith(f"`{'x' * 39}…` is not a /stack command.")


def test_suggestions_come_only_from_the_hints() -> None:
    with pytest.raises(CommandError) as info:
        parse("diagnose stagin", ENVS, hints=("prod",))
    assert info.value.answer == "There is no environment `stagin`. `/stack envs` lists them."
    assert parse("diagnose staging", ENVS, hints=("prod",)) == Diagnose(env="staging")
