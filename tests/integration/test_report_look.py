"""How the Slack report looks: S1's report, the recreate confirmation and the report after
the ``network.connect`` click, as the real renderer builds them (no lab: S1's facts come
from the unit factories, judged by the real checks).

The block checks run everywhere. The drawing ones render the messages to HTML
(``tests/lookstub``) and lay them out in Debian's headless Chromium at a phone's
400 px and a laptop's 1280 px; they are skipped when ``chromium`` is not installed
(``apt-get install chromium``). Pictures and measurements land in the test's
temporary directory, or in ``$STACKBOT_LOOK_DIR`` when set.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bot.model.findings import Finding, Severity
from bot.render.slack import TOP_BLOCKS, SlackMessage, report_messages, validate_blocks
from tests.lookstub.browser import chromium, layout, screenshot
from tests.lookstub.pages import (
    after_fix_message,
    recreate_confirm,
    s1_message,
    write_pages,
)
from tests.lookstub.s1 import ENVIRONMENT, PROJECT, s1_report

PHONE, LAPTOP = 400, 1280
# What a phone shows of a channel without scrolling, below its title bar and above
# the message box (about 800 CSS px tall, less ~160 px of chrome).
FIRST_SCREEN = 640
LABEL_LIMIT = 30

needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)


def shown_text(blocks: list[dict[str, Any]]) -> str:
    found: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text"):
                found.append(str(obj.get("text", "")))
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def buttons(message: SlackMessage) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def critical(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.CRITICAL]


# --- the blocks ---------------------------------------------------------------------


def test_s1_top_message_is_short_and_readable() -> None:
    report, message = s1_report(), s1_message()
    validate_blocks(message.blocks)
    assert len(critical(report.findings)) == 4
    assert len(message.blocks) <= TOP_BLOCKS == 12
    seen = shown_text(message.blocks)
    keys = {k for f in report.findings for k in f.evidence if "_" in k}
    assert keys, "S1's evidence has snake_case keys to hide"
    for word in keys | {f.code for f in report.findings}:
        assert not re.search(rf"(?<![\w.]){re.escape(word)}(?![\w.])", seen), word
    assert not re.search(r"\d{7,}", seen), "a raw byte count"
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", seen), "a microsecond timestamp"
    assert not re.search(r"[0-9a-f]{64}", seen), "a 64-hex volume name"
    assert "203.0.113.10" not in json.dumps([m.blocks for m in [message, *message.thread]])
    header = message.blocks[0]["text"]["text"]
    assert header == f"🔴 {ENVIRONMENT} · {PROJECT} — 4 critical, 1 warning"
    assert message.text.startswith(f"🔴 {ENVIRONMENT} · {PROJECT}: The database's data")


def test_s1_labels_are_never_cut_and_every_critical_finding_has_a_next_step() -> None:
    report, message = s1_report(), s1_message()
    for button in buttons(message):
        label = button["text"]["text"]
        assert len(label) <= LABEL_LIMIT and not label.endswith("…"), label
    ids = {b.get("block_id") for b in message.blocks}
    for finding in critical(report.findings):
        assert f"fixes:{finding.id}:0" in ids, finding.code
    # without buttons (no plan could be stored), each critical line says what to do
    bare = report_messages(report, button_value=lambda f, x: None)
    for finding in critical(report.findings):
        line = next(b for b in bare.blocks if b.get("block_id") == f"finding:{finding.id}")
        assert "*What to do:*" in line["text"]["text"], finding.code


def test_s1_links_the_network_fix_to_the_data() -> None:
    message = s1_message()
    order = [b["block_id"] for b in message.blocks if b.get("block_id", "").startswith("finding:")]
    codes = {f.id: f.code for f in s1_report().findings}
    assert [codes[i.split(":")[1]] for i in order][:2] == ["volume.orphaned_data", "network.split"]
    split = next(b for b in message.blocks if b.get("block_id") == order[1])
    assert "Fix the data first" in split["text"]["text"]


def test_the_recreate_confirmation_says_what_happens() -> None:
    confirm = recreate_confirm()
    title, text = confirm["title"]["text"], confirm["text"]["text"]
    assert title == "Recreate api in staging?" and len(title) <= 24
    assert confirm["confirm"]["text"] == "Recreate"
    for said in (ENVIRONMENT, "stack shop", "service api", "DATABASE_URL", "SECRET_KEY"):
        assert said in text, said
    assert "Snapshot: the old container is kept" in text and len(text) <= 300


def test_after_the_connect_click_the_report_says_what_is_left() -> None:
    message = after_fix_message()
    validate_blocks(message.blocks)
    status = f"{ENVIRONMENT} · {PROJECT} — 2 critical left, 1 warning"
    assert message.blocks[0]["text"]["text"] == f"🔴 {status}"
    assert message.text.startswith(f"🔴 {status}: ")  # the environment's status
    seen = shown_text(message.blocks)
    assert "~backend cannot reach db~ — fixed by <@U0FIXER> in 4 s" in seen
    assert "Fix the data first" in seen  # the migrations still wait for the data
    assert len(message.blocks) <= TOP_BLOCKS


# --- the pictures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def look_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("STACKBOT_LOOK_DIR")
    return Path(chosen) if chosen else tmp_path_factory.mktemp("look")


@needs_chromium
def test_s1_at_400_px_shows_the_first_critical_finding_and_its_button_at_once(
    look_dir: Path,
) -> None:
    pages = write_pages(look_dir, PHONE)
    found = layout(pages.report, PHONE)
    first = critical(s1_report().findings)
    first_id = next(  # the first critical line of the message, whichever it is
        b["block_id"].split(":")[1]
        for b in s1_message().blocks
        if b.get("block_id", "").startswith("finding:")
        and b["block_id"].split(":")[1] in {f.id for f in first}
    )
    line = found["blocks"][f"finding:{first_id}"]
    button = found["buttons"][f"fix:{first_id}:0"]
    assert line["bottom"] <= FIRST_SCREEN and button["bottom"] <= FIRST_SCREEN, (line, button)
    for action_id, drawn in found["buttons"].items():
        assert not drawn["scroll"] and drawn["width"] <= PHONE, (action_id, drawn)
    measured = {
        "width": PHONE,
        "first_critical_line": line,
        "first_button": button,
        "message_height": found["blocks"]["screen"]["bottom"],
    }
    (look_dir / "report-400.json").write_text(json.dumps(measured, indent=2))
    screenshot(pages.report, look_dir / "report-400.png", PHONE, measured["message_height"])


@needs_chromium
def test_s1_at_laptop_width_fits_one_screen_and_the_pages_draw(look_dir: Path) -> None:
    pages = write_pages(look_dir, LAPTOP)
    heights = {}
    for name in ("report", "thread", "confirm", "after_fix"):
        page: Path = getattr(pages, name)
        heights[name] = layout(page, LAPTOP)["blocks"]["screen"]["bottom"]
        screenshot(page, page.with_suffix(".png"), LAPTOP, heights[name])
        assert page.with_suffix(".png").stat().st_size > 5000, name
    assert heights["report"] <= 700, heights  # the old report took 2,651 px
    assert heights["after_fix"] < heights["report"], heights
    (look_dir / "heights-1280.json").write_text(json.dumps(heights, indent=2))
    phone = write_pages(look_dir, PHONE)
    confirm = layout(phone.confirm, PHONE)
    assert confirm["blocks"]["dialog"]["bottom"] <= FIRST_SCREEN, confirm["blocks"]["dialog"]
