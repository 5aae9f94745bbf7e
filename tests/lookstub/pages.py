"""The pages the look test draws: S1's report, its thread, a recreate confirmation and
the report after the ``network.connect`` click, rendered by the real Slack renderer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.model.findings import Finding, Fix, Severity, Subject, make_finding
from bot.render.slack import SlackMessage, report_messages
from tests.lookstub.blockkit_html import Page, confirm_html
from tests.lookstub.s1 import (
    ENVIRONMENT,
    HOST,
    PROJECT,
    REQUESTED_BY,
    after_connect_report,
    s1_report,
)

USERS = {REQUESTED_BY: "alice", "U0FIXER": "bob"}
FIXED_LINE = "✅ fixed by <@U0FIXER> in 4 s"


def pending(finding: Finding, fix: Fix) -> str:
    """A button value as the app stores it: an id, nothing more."""
    return f"pa-{finding.id}-{finding.fixes.index(fix)}"


def s1_message() -> SlackMessage:
    return report_messages(s1_report(), button_value=pending, requested_by=REQUESTED_BY)


def after_fix_message() -> SlackMessage:
    split = next(f for f in s1_report().findings if f.code == "network.split")
    return report_messages(
        after_connect_report(),
        button_value=pending,
        requested_by=REQUESTED_BY,
        fixed={split.id: FIXED_LINE},
        resolved=[split],
    )


def drift_finding() -> Finding:
    """S5-like: the api runs with an older .env; its fix recreates it."""
    return make_finding(
        "env.drift",
        Severity.WARNING,
        "api (shop-api-1) runs with an older /srv/shop/.env: 2 keys changed; a restart will "
        "not pick it up",
        Subject(
            environment=ENVIRONMENT,
            host=HOST,
            project="shop",
            service="api",
            container="shop-api-1",
            path="/srv/shop/.env",
        ),
        fixes=(
            Fix(
                action="container.recreate",
                params={"host": HOST, "project": "shop", "service": "api"},
                destructive=True,
                summary="recreate service api of project shop so it reloads /srv/shop/.env",
            ),
        ),
        env_files=["/srv/shop/.env"],
        keys_changed=["DATABASE_URL", "SECRET_KEY"],
        keys_added=[],
        loads_whole_file=True,
    )


def recreate_confirm() -> dict[str, Any]:
    """The confirmation of the recreate button, as the report carries it."""
    message = report_messages(
        s1_report().model_copy(update={"findings": [drift_finding()]}),
        button_value=pending,
        requested_by=REQUESTED_BY,
    )
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button" and "confirm" in element:
                confirm: dict[str, Any] = element["confirm"]
                return confirm
    raise AssertionError("the recreate button has no confirmation")


@dataclass(frozen=True)
class Pages:
    width: int
    report: Path
    thread: Path
    confirm: Path
    after_fix: Path


def write_pages(directory: Path, width: int) -> Pages:
    """The four pages as HTML files in ``directory``, laid out ``width`` pixels wide."""
    directory.mkdir(parents=True, exist_ok=True)
    s1 = s1_message()
    thread = Page(USERS)
    thread.thread_title(f"Thread · {ENVIRONMENT} · {PROJECT}")
    for reply in s1.thread:
        thread.message(reply.blocks)
    pages = Pages(
        width=width,
        report=directory / f"report-{width}.html",
        thread=directory / f"thread-{width}.html",
        confirm=directory / f"confirm-{width}.html",
        after_fix=directory / f"after-fix-{width}.html",
    )
    pages.report.write_text(Page(USERS).message(s1.blocks).html(width, "S1"), encoding="utf-8")
    pages.thread.write_text(thread.html(width, "S1 thread"), encoding="utf-8")
    pages.confirm.write_text(confirm_html(recreate_confirm(), width), encoding="utf-8")
    after = Page(USERS).message(after_fix_message().blocks)
    pages.after_fix.write_text(after.html(width, "after the fix"), encoding="utf-8")
    return pages
