"""The Slack app's report delivery against the stand-in: a report too long for one message."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from bot.config import parse_inventory
from bot.findings import Severity, Subject, make_finding
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.unit.test_render_slack import report_of

__all__ = ["slack_api"]


async def test_a_long_report_stays_within_limits_and_loses_nothing(
    slack_api: SlackStub, tmp_path: Path
) -> None:
    inventory = parse_inventory(
        {"environments": {"prod": {"hosts": {"web1": {"address": "192.0.2.1"}}}}},
        source="test",
        base_dir=tmp_path,
    )
    settings = SlackSettings(
        bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr("s"), api_url=slack_api.api_url
    )
    bot = SlackBot(inventory, settings, trail=None, lock_dir=tmp_path / "locks")
    findings = [
        make_finding(
            "container.down",
            Severity.CRITICAL,
            f"service s{i} is down <!channel>",
            Subject(environment="prod", host="web1", project="shop", service=f"s{i}"),
            log="x " * 1500,
        )
        for i in range(80)
    ]
    report = report_of(findings)
    posted = await bot.client.chat_postMessage(channel="C1", text="Diagnosing prod…")
    ts = str(posted["ts"])
    await bot._post_report(report, "C1", ts, "U1", transport=None, root=ts)  # type: ignore[arg-type]

    assert not slack_api.violations
    main = next(m for m in slack_api.messages("C1") if m.thread_ts is None)
    assert len(main.blocks) <= 50 and main.edits == 1
    thread = [m for m in slack_api.messages("C1") if m.thread_ts == main.ts]
    shown = " ".join(str(m.blocks) for m in [main, *thread])
    assert all(f.id in shown or f"s{i} is down" in shown for i, f in enumerate(findings))
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert slack_api.files("C1")  # the long log lines, whole, as files
