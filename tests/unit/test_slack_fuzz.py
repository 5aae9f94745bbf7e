"""Hostile text, generated: the `/stack` parser, the argv builders, the Slack request path.

Every test is a hypothesis property with a fixed number of examples (no example
database: nothing is written to the checkout). In total a run tries 12,300
examples: parser 5,000 + 3,000 + 1,000, argv builders 1,000 + 1,000 + 500 + 500,
request path 300.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import string
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.framework.session import quote_argv
from bot.inventory.config import parse_inventory
from bot.model.errors import UsageError
from bot.model.findings import Fix
from bot.render.report import fix_command
from bot.slack import messages
from bot.slack.app import SlackBot
from bot.slack.commands import (
    NAME,
    VERBS,
    AnyCommand,
    Audit,
    CommandError,
    Diagnose,
    Disk,
    Envs,
    Help,
    Incidents,
    OnCallOverride,
    OnCallShow,
    Volumes,
    parse,
)
from bot.slack.settings import SlackSettings
from runbooks._compose import V1, V2, compose_prefix
from runbooks.fix_container_recreate import compose_argv
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import signed_headers, slash_command_body

__all__ = ["slack_api"]

ENVS = ("prod", "staging", "hidden-payroll")
HINTS = ("prod", "staging")  # what the user may see: a suggestion never names the other one
ASCII_ID = re.compile(r"[UW][A-Z0-9]{2,31}", re.ASCII)
ALNUM = string.ascii_letters + string.digits
STACK_NAME = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(ALNUM + "_.-", max_size=20))
USER_ID = st.builds(
    str.__add__,
    st.sampled_from("UW"),
    st.text(string.ascii_uppercase + string.digits, min_size=2, max_size=12),
)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# --- the parser --------------------------------------------------------------------------

HOSTILE_WORDS = st.sampled_from(
    [
        *VERBS,
        "override",
        *ENVS,
        "PROD",
        "prdo",
        "hidden-payrol",
        "\u212aube",  # KELVIN SIGN: lower() is ASCII "k"
        "²",
        "\u0661\u0662",  # Arabic-Indic 12
        "\U0001d7d9\U0001d7d8",  # double-struck 10
        "0",
        "100",
        "101",
        "-1",
        "+5",
        "1_0",
        " 7",
        "9" * 400,
        "99999999999d",
        "1h30m",
        "30d1m",
        "<@U123ABC>",
        "<@U123ABC|bob>",
        "<!channel>",
        "<!here|here>",
        "U123ABC",
        "u123abc",
        "$(reboot)",
        "`id`",
        ";rm -rf /",
        "&&",
        "|",
        "--",
        "-p",
        "--help",
        "\x00",
        "\u202e",
        "\ufeff",
        "ǅ",
        "İ",
        "ß",
        "x" * 5000,
    ]
)
WORDS = st.one_of(HOSTILE_WORDS, st.text(min_size=1, max_size=12))
SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c"])


@st.composite
def command_like(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(WORDS, SEPARATORS), max_size=6))
    return "".join(word + separator for word, separator in pairs)


def check_parse(text: str) -> AnyCommand | None:
    """What must hold for any text: a command that names only checked things, or a short
    answer (a ``UsageError``) that echoes little and suggests nothing the user cannot see."""
    try:
        command = parse(text, ENVS, hints=HINTS)
    except CommandError as exc:
        assert isinstance(exc, UsageError)
        assert isinstance(exc.answer, str) and 0 < len(exc.answer) <= 400, exc.answer
        assert "hidden-payroll" not in exc.answer or "hidden-payroll" in text.lower()
        return None
    env = getattr(command, "env", None)
    assert env is None or env in ENVS
    if isinstance(command, Diagnose) and command.stack is not None:
        assert NAME.fullmatch(command.stack)
    if isinstance(command, Audit):
        assert 1 <= command.count <= 100 and type(command.count) is int
    if isinstance(command, OnCallOverride):
        assert ASCII_ID.fullmatch(command.user)
        assert timedelta(minutes=1) <= command.duration <= timedelta(days=30)
    words = text.split()
    assert words[0].isascii() and words[0].lower() in VERBS  # no Unicode look-alike verbs
    if env is not None:
        assert env in {w.lower() for w in words if w.isascii()}  # nor look-alike names
    return command


@fuzz(5_000)
@given(st.text(max_size=200))
def test_any_text_is_a_command_or_a_short_answer(text: str) -> None:
    check_parse(text)


@fuzz(3_000)
@given(command_like())
def test_command_shaped_text_is_a_command_or_a_short_answer(text: str) -> None:
    check_parse(text)


ENV_WORD = st.sampled_from(ENVS).flatmap(
    lambda env: st.sampled_from([env, env.upper(), env.title()])
)
VALID = st.one_of(
    st.just(("help", Help())),
    st.just(("envs", Envs())),
    st.tuples(ENV_WORD, st.none() | STACK_NAME).map(
        lambda t: (
            f"diagnose {t[0]} {t[1] or ''}",
            Diagnose(env=t[0].lower(), stack=t[1]),
        )
    ),
    ENV_WORD.map(lambda e: (f"volumes {e}", Volumes(env=e.lower()))),
    ENV_WORD.map(lambda e: (f"DISK {e}", Disk(env=e.lower()))),
    st.tuples(ENV_WORD, st.integers(1, 100)).map(
        lambda t: (f"audit {t[0]} {t[1]}", Audit(env=t[0].lower(), count=t[1]))
    ),
    st.none().map(lambda _: ("oncall", OnCallShow())),
    ENV_WORD.map(lambda e: (f"incidents {e}", Incidents(env=e.lower()))),
    st.tuples(ENV_WORD, USER_ID, st.integers(1, 30 * 24)).map(
        lambda t: (
            f"oncall override {t[0]} <@{t[1]}|x> {t[2]}h",
            OnCallOverride(env=t[0].lower(), user=t[1], duration=timedelta(hours=t[2])),
        )
    ),
)


@fuzz(1_000)
@given(VALID, SEPARATORS)
def test_every_valid_command_parses_to_what_it_says(
    valid: tuple[str, AnyCommand], separator: str
) -> None:
    text, command = valid
    assert parse(separator + text.replace(" ", separator), ENVS) == command


def test_the_examples_that_crashed_or_slipped_through() -> None:
    for text in (
        "audit prod ²",  # `²`.isdigit() is True, int("²") raises: was a 500
        "audit prod \u0661\u0662",  # int() took Arabic-Indic digits as 12
        "oncall override prod U123ABC 99999999999d",  # OverflowError: was a 500
        "oncall override prod U123ABC \u0661h",  # taken as one hour
        "diagnose \u212aube",  # KELVIN SIGN lower()s to "k"
        "dis\u212a prod",
    ):
        with pytest.raises(CommandError):
            parse(text, (*ENVS, "kube"))


# --- the argv builders (runbooks/_compose.py, fix_container_recreate, bot/framework/session) --

ANY_TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=40)
COMPOSE = st.sampled_from([V1, V2])


@fuzz(1_000)
@given(
    COMPOSE,
    ANY_TEXT,
    ANY_TEXT,
    ANY_TEXT,
    st.lists(ANY_TEXT, max_size=3),
    st.lists(ANY_TEXT, max_size=3),
    st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True), ANY_TEXT, max_size=3),
)
def test_compose_prefix_is_one_argv_of_strings(
    compose: tuple[str, ...],
    socket: str,
    project: str,
    working_dir: str,
    files: list[str],
    env_files: list[str],
    environment: dict[str, str],
) -> None:
    argv = compose_prefix(
        compose,
        socket=socket,
        project=project,
        working_dir=working_dir,
        config_files=files,
        env_files=env_files,
        environment=environment,
    )
    assert all(type(item) is str for item in argv)
    assert argv[0] == "env" and argv[1].startswith("DOCKER_HOST=")
    assert "-c" not in argv[: argv.index("-p")] and not {"sh", "bash"} & set(argv[:3])
    start = 2 + len(environment)
    assert tuple(argv[start : start + len(compose)]) == compose
    # every value sits right after its flag, whole, whatever it contains (a value that
    # looks like a flag, `-f` say, is still the value: compared by position, not search)
    tail = ["-p", project, "--project-directory", working_dir]
    tail += [word for path in files for word in ("-f", path)]
    tail += [word for path in env_files for word in ("--env-file", path)]
    assert argv[start + len(compose) :] == tail
    # what a remote shell gets (quote_argv) splits back into exactly this argv
    assert shlex.split(quote_argv(argv)) == argv


@fuzz(1_000)
@given(COMPOSE, ANY_TEXT, ANY_TEXT, ANY_TEXT, st.lists(ANY_TEXT, max_size=3), ANY_TEXT)
def test_the_recreate_plan_shows_the_argv_that_apply_runs(
    compose: tuple[str, ...],
    socket: str,
    project: str,
    working_dir: str,
    files: list[str],
    service: str,
) -> None:
    argv = compose_argv(
        compose,
        socket=socket,
        project=project,
        working_dir=working_dir,
        config_files=files,
        env_files=(),
        service=service,
    )
    assert all(type(item) is str for item in argv)
    assert argv[-2:] == ["--", service]  # whatever its name, the service is no option
    shown = shlex.join(argv)  # the plan's step.call
    again = shlex.split(shown)  # what _apply_compose runs
    assert again == argv
    assert again[2 : again.index("-p")] == list(compose)


def test_the_service_comes_after_a_double_dash() -> None:
    argv = compose_argv(
        V2, socket="/s", project="p", working_dir="/w", config_files=["c"], env_files=(),
        service="--build",
    )  # fmt: skip
    assert argv[-2:] == ["--", "--build"]


@fuzz(500)
@given(st.lists(ANY_TEXT, min_size=1, max_size=8))
def test_quote_argv_is_one_word_per_item(argv: list[str]) -> None:
    assert shlex.split(quote_argv(argv)) == argv


@fuzz(500)
@given(
    ANY_TEXT,
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.one_of(ANY_TEXT, st.integers(), st.booleans()),
        max_size=4,
    ),
)
def test_the_fix_command_shown_in_a_report_is_one_word_per_value(
    env: str, params: dict[str, str | int | bool]
) -> None:
    fix = Fix(action="container.restart", params=params)
    words = shlex.split(fix_command(env, fix))
    assert words[:4] == ["stackbot", "fix", "container.restart", env]
    shown = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in words[5::2]}
    assert words[4::2] == ["--param"] * len(params)
    assert shown == {
        k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()
    }


# --- the request path: random text as signed slash commands -----------------------------

SECRET = "fuzz-signing-secret"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def fuzz_bot(tmp_path: Path, api_url: str) -> SlackBot:
    inventory = parse_inventory(
        {
            "environments": {
                "prod": {
                    "hosts": {"web1": {"address": "192.0.2.1"}},
                    "access": {"viewer": ["UVIEWER"]},
                },
                "hidden-payroll": {"hosts": {"p": {"address": "192.0.2.2"}}},
            }
        },
        source="test",
        base_dir=tmp_path,
    )
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET), api_url=api_url
    )
    return SlackBot(inventory, settings, trail=None, lock_dir=tmp_path / "locks")


# Host-free texts only: diagnose, volumes and disk would go to a host (192.0.2.x: TEST-NET).
REQUEST_TEXT = st.one_of(st.text(max_size=120), command_like()).filter(
    lambda t: not (t.split()[:1] and t.split()[0].lower() in ("diagnose", "volumes", "disk"))
)


def test_random_text_as_signed_slash_commands_is_never_a_500(
    slack_api: SlackStub, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    bot = loop.run_until_complete(_make(tmp_path, slack_api.api_url))
    seen: list[int] = []

    @fuzz(300)
    @given(REQUEST_TEXT, st.sampled_from(["UVIEWER", "USTRANGER"]))
    def one(text: str, user: str) -> None:
        seen.append(1)
        body = slash_command_body(text, user_id=user, trigger_id=f"t{len(seen)}")
        response = loop.run_until_complete(_dispatch(bot, body))
        assert response.status == 200, (text, response.body)
        if response.body:
            answer = json.loads(response.body)
            assert answer["response_type"] == "ephemeral" and answer["text"]
            if user == "USTRANGER":
                assert answer["text"] == messages.NO_ROLE
            assert "hidden-payroll" not in answer["text"] or "hidden-payroll" in text.lower()

    one()
    assert len(seen) >= 300 and bot.failures == []
    assert not slack_api.violations


async def _make(tmp_path: Path, api_url: str) -> SlackBot:
    return fuzz_bot(tmp_path, api_url)


async def _dispatch(bot: SlackBot, body: bytes) -> BoltResponse:
    headers = signed_headers(body, SECRET)
    request = AsyncBoltRequest(
        body=body.decode(), headers={k.lower(): [v] for k, v in headers.items()}
    )
    response = await bot.app.async_dispatch(request)
    await bot.drain()
    return response
