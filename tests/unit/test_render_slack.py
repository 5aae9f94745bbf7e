"""The Slack renderer: valid Block Kit within limits, nothing lost, escaped and redacted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from bot.action import ActionResult, Plan, PostCheck, StepOutcome
from bot.diagnosis import DiagnosisReport, HostStatus
from bot.findings import Finding, Fix, Severity, Subject, make_finding, sort_findings
from bot.render.slack import (
    MAX_BLOCKS,
    BlockKitError,
    SlackMessage,
    ephemeral_error,
    escape,
    progress_message,
    report_messages,
    result_message,
    validate_blocks,
)

SECRET = "planted-secret-7f3a9c"


def report_of(findings: list[Finding], environment: str = "prod") -> DiagnosisReport:
    counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
    verdict = "critical" if counts["critical"] else "warning" if counts["warning"] else "healthy"
    return DiagnosisReport(
        environment=environment,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration=3.25,
        verdict=verdict,
        counts=counts,
        hosts=[
            HostStatus(host="web1", label="prod/web1", reached=True, duration=1.0, stacks=["shop"]),
            HostStatus(host="web2", label="prod/web2", reached=False, duration=10.0),
        ],
        findings=sort_findings(findings),
    )


def split() -> Finding:
    return make_finding(
        "network.split",
        Severity.CRITICAL,
        "backend cannot reach db: no shared network",
        Subject(environment="prod", host="web1", project="shop", container="shop_backend_1"),
        fixes=(
            Fix(
                action="network.connect",
                params={"host": "web1", "container": "shop_backend_1", "network": "shop_internal"},
                summary="connect shop_backend_1 to shop_internal",
            ),
        ),
        hostname="db",
        url=f"postgresql://shop:{SECRET}@db:5432/shop",
    )


def drift() -> Finding:
    return make_finding(
        "env.drift",
        Severity.WARNING,
        "backend runs with an older .env",
        Subject(environment="prod", host="web1", project="shop", service="backend"),
        fixes=(
            Fix(
                action="container.recreate",
                params={"host": "web1", "service": "backend"},
                destructive=True,
                summary="recreate backend",
            ),
        ),
        changed=["SECRET_KEY"],
        log=f"SECRET_KEY={SECRET} <!channel> <@U999> & friends",
    )


def pending(finding: Finding, fix: Fix) -> str:
    return f"pa-{finding.id}-{fix.action}"


def all_messages(message: SlackMessage) -> list[SlackMessage]:
    return [message, *message.thread]


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(message: SlackMessage) -> list[dict[str, Any]]:
    return [
        element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_report_renders_valid_blocks_with_header_summary_and_buttons() -> None:
    message = report_messages(report_of([split(), drift()]), button_value=pending)
    validate_blocks(message.blocks)
    assert message.thread == [] and message.files == []
    header = message.blocks[0]
    assert header["type"] == "header"
    assert "prod" in header["text"]["text"] and "CRITICAL" in header["text"]["text"]
    assert "3.2 s" in header["text"]["text"] or "3.3 s" in header["text"]["text"]
    body = texts(message.blocks)
    assert "*1* critical · *1* warning" in body
    assert "network.split" in body and "env.drift" in body
    found = buttons(message)
    assert [b["action_id"] for b in found] == [f"fix:{split().id}:0", f"fix:{drift().id}:0"]
    assert found[0]["value"] == f"pa-{split().id}-network.connect"
    assert found[0]["text"]["text"] == "connect shop_backend_1 to shop_internal"
    assert "confirm" not in found[0] and found[0].get("style") != "danger"
    assert "prod" in message.text and "CRITICAL" in message.text


def test_destructive_fix_has_danger_style_and_confirm_dialog() -> None:
    message = report_messages(
        report_of([drift()]),
        button_value=pending,
        confirm_text=lambda f, fix: f"Plan: stop and recreate {fix.params['service']}",
    )
    (button,) = buttons(message)
    assert button["style"] == "danger"
    confirm = button["confirm"]
    assert confirm["style"] == "danger"
    assert confirm["confirm"]["text"] == "Apply" and confirm["deny"]["text"] == "Cancel"
    assert confirm["text"]["text"] == "Plan: stop and recreate backend"
    default = buttons(report_messages(report_of([drift()]), button_value=pending))[0]
    assert "recreate backend" in default["confirm"]["text"]["text"]
    assert "destructive" in default["confirm"]["text"]["text"]


def test_no_button_when_button_value_is_none() -> None:
    message = report_messages(report_of([split(), drift()]), button_value=lambda f, x: None)
    assert buttons(message) == []


def test_remote_text_is_escaped_so_nobody_is_pinged() -> None:
    message = report_messages(report_of([drift()]), button_value=pending)
    body = texts(message.blocks)
    assert "&lt;!channel&gt;" in body and "&lt;@U999&gt;" in body and "&amp; friends" in body
    assert "<!channel>" not in body and "<@U999>" not in body
    assert escape("<!here> & <@U1>") == "&lt;!here&gt; &amp; &lt;@U1&gt;"


def test_planted_secret_never_appears() -> None:
    bad = make_finding(
        "logs.error",
        Severity.WARNING,
        f"login failed with password={SECRET}",
        Subject(environment="prod", host="web1"),
        fixes=(Fix(action="x.y", summary=f"token={SECRET}", destructive=True),),
        log="x" * 5000 + f" PASSWORD={SECRET}",
    )
    message = report_messages(
        report_of([split(), drift(), bad]),
        button_value=pending,
        confirm_text=lambda f, fix: f"uses password={SECRET}",
        known_secrets=[SECRET],
    )
    dumped = json.dumps([(m.text, m.blocks, m.files) for m in all_messages(message)])
    assert message.files  # the long log was attached ...
    assert SECRET not in dumped  # ... redacted, like everything else
    assert "***" in dumped


def test_fixed_finding_shows_line_and_no_button() -> None:
    line = "✅ fixed by <@U123> in 4 s"
    message = report_messages(
        report_of([split(), drift()]), button_value=pending, fixed={split().id: line}
    )
    body = texts(message.blocks)
    assert line in body  # the app's own mention is kept, not escaped
    assert [b["action_id"] for b in buttons(message)] == [f"fix:{drift().id}:0"]


def test_long_evidence_is_cut_in_blocks_and_attached_whole() -> None:
    log = "".join(f"line {n} <tag> & more\n" for n in range(600))[:10_000]
    assert len(log) == 10_000
    finding = make_finding(
        "logs.error", Severity.WARNING, "errors", Subject(host="web1"), log=log, short="ok"
    )
    message = report_messages(report_of([finding]), button_value=pending)
    validate_blocks(message.blocks)
    field_texts = [f["text"] for b in message.blocks for f in b.get("fields", [])]
    log_field = next(t for t in field_texts if t.startswith("*log*"))
    assert len(log_field) <= 1100 and log_field.endswith("…")
    assert message.files == [(f"{finding.id}-log.txt", log)]
    assert f"{finding.id}-log.txt" in texts(message.blocks)


def many_findings(n: int) -> list[Finding]:
    return [
        make_finding(
            "container.restarting",
            Severity.CRITICAL if i % 3 == 0 else Severity.WARNING,
            f"container app_{i} restarts",
            Subject(environment="prod", host="web1", container=f"app_{i}"),
            fixes=(
                Fix(action="container.restart", params={"host": "web1"}, summary="restart"),
                Fix(action="container.recreate", destructive=True, summary="recreate"),
            ),
            restarts=i,
            last_log=f"app_{i}: crashed",
        )
        for i in range(n)
    ]


def test_eighty_findings_overflow_to_thread_and_none_is_lost() -> None:
    findings = many_findings(80)
    message = report_messages(report_of(findings), button_value=pending)
    assert len(message.blocks) <= MAX_BLOCKS
    assert message.thread, "80 findings cannot fit in one message"
    ids_seen: list[str] = []
    for each in all_messages(message):
        validate_blocks(each.blocks)
        assert len(each.blocks) <= MAX_BLOCKS
        ids_seen += [
            b["block_id"].split(":")[1]
            for b in each.blocks
            if b.get("block_id", "").startswith("finding:")
        ]
    assert sorted(ids_seen) == sorted(f.id for f in findings)
    in_main = sum(1 for b in message.blocks if b.get("block_id", "").startswith("finding:"))
    assert f"{80 - in_main} more findings in the thread" in texts(message.blocks)
    # every fix of every finding still has its button
    all_buttons = [b for m in all_messages(message) for b in buttons(m)]
    assert len(all_buttons) == 160


def test_many_evidence_items_fixes_and_huge_titles_stay_within_limits() -> None:
    # sizes kept moderate: redact_text is slow on very long unbroken words
    finding = make_finding(
        "x.y",
        Severity.INFO,
        "t " * 2500,
        Subject(host="h" * 2000),
        fixes=tuple(Fix(action=f"a{i}", summary="s " * 100) for i in range(60)),
        **{f"k{i}": "v " * 600 for i in range(20)},
    )
    message = report_messages(report_of([finding] * 2), button_value=pending)
    for each in all_messages(message):
        validate_blocks(each.blocks)
    names = [name for m in all_messages(message) for name, _ in m.files]
    assert f"{finding.id}-evidence.txt" in names and f"{finding.id}-fixes.txt" in names


def test_validate_blocks_rejects_what_slack_rejects() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    validate_blocks([section] * 50)
    with pytest.raises(BlockKitError, match="51 blocks"):
        validate_blocks([section] * 51)
    with pytest.raises(BlockKitError, match="3000"):
        validate_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    with pytest.raises(BlockKitError, match="2000"):
        validate_blocks([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}])
    with pytest.raises(BlockKitError, match="unknown block type"):
        validate_blocks([{"type": "bogus"}])
    button = {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}, "action_id": "a"}
    with pytest.raises(BlockKitError, match="75"):
        validate_blocks([{"type": "actions", "elements": [button]}])


def test_button_value_too_long_is_a_bug() -> None:
    with pytest.raises(BlockKitError, match="button value"):
        report_messages(report_of([split()]), button_value=lambda f, x: "v" * 2001)


def test_progress_and_error_messages() -> None:
    progress = progress_message("prod", 2)
    assert progress.text == "Diagnosing prod (2 hosts)…"
    assert len(progress.blocks) == 1
    later = progress_message("prod", 1, done=3, total=10)
    assert later.text == "Diagnosing prod (1 host)…" and "3/10 checks done" in texts(later.blocks)
    error = ephemeral_error(f"unknown environment <!here> token={SECRET}")
    body = texts(error.blocks)
    assert "&lt;!here&gt;" in body and SECRET not in body and SECRET not in error.text


def result(status: Literal["applied", "failed"] = "applied", cleared: bool = True) -> ActionResult:
    plan = Plan(action="network.connect", target={"container": "c"}, destructive=False)
    return ActionResult(
        action="network.connect",
        environment="prod",
        host="web1",
        target={"container": "c"},
        changed=True,
        plan=plan,
        outcomes=[
            StepOutcome(step="connect c to net", ok=True),
            StepOutcome(step="restart c", ok=False, detail=f"<!channel> password={SECRET}"),
        ],
        post_check=PostCheck(
            checked=("network.split",), cleared=cleared, remaining=() if cleared else (split(),)
        ),
        duration=4.0,
        status=status,
    )


def test_result_message_has_status_steps_post_check_and_audit_id() -> None:
    message = result_message(result(), audit_id="a1b2c3")
    body = texts(message.blocks)
    assert "applied" in body and "1 ok, 1 failed" in body
    assert "cleared (network.split)" in body and "a1b2c3" in body
    assert "&lt;!channel&gt;" in body and SECRET not in body
    failed = texts(result_message(result("failed", cleared=False), audit_id=None).blocks)
    assert "still present" in failed and "audit id" not in failed and ":x:" in failed


def test_host_notes_show_what_was_not_read_redacted_and_escaped() -> None:
    report = report_of([split()])
    note = "compose config of shop failed: postgres://app:hunter22@db/x <!channel>"
    report.hosts[0].notes = [note]
    message = report_messages(report, button_value=lambda _f, _x: None)
    summary = str(message.blocks)
    assert "note: compose config of shop failed" in summary
    assert "hunter22" not in summary and "<!channel>" not in summary
    validate_blocks(message.blocks)  # raises on a broken block
