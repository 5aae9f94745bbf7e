"""The Slack renderer: a summary on top, details in the thread; valid Block Kit within
limits, nothing lost, escaped and redacted, SSH users and addresses left out."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from bot.framework.action import ActionResult, Plan, PostCheck, StepOutcome
from bot.model.diagnosis import DiagnosisReport, HostStatus
from bot.model.findings import Finding, Fix, Severity, Subject, make_finding, sort_findings
from bot.render.slack import (
    MAX_BLOCKS,
    TOP_BLOCKS,
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
SSH_LABEL = "prod/web2 (deploy@203.0.113.10:2222)"


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
            HostStatus(host="web2", label=SSH_LABEL, reached=False, duration=10.0),
        ],
        findings=sort_findings(findings),
    )


def split() -> Finding:
    return make_finding(
        "network.split",
        Severity.CRITICAL,
        "shop_backend_1 cannot reach db (shop_db_1): no shared network",
        Subject(
            environment="prod",
            host="web1",
            project="shop",
            service="backend",
            container="shop_backend_1",
            network="shop_internal",
        ),
        fixes=(
            Fix(
                action="network.connect",
                params={"host": "web1", "container": "shop_backend_1", "network": "shop_internal"},
                summary="connect shop_backend_1 to shop_internal, so it can reach db",
            ),
        ),
        hostnames=["db"],
        target_states=["shop_db_1: running"],
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
                params={"host": "web1", "project": "shop", "service": "backend"},
                destructive=True,
                summary="recreate backend",
            ),
        ),
        env_files=["/srv/shop/.env"],
        keys_changed=["SECRET_KEY"],
        log=f"SECRET_KEY={SECRET} <!channel> <@U999> & friends",
    )


def orphaned() -> Finding:
    return make_finding(
        "volume.orphaned_data",
        Severity.CRITICAL,
        "shop_db_1 keeps its data on shop_pgdata (48.2 MB) while unmounted volume old_pgdata "
        "holds 72.7 MB",
        Subject(environment="prod", host="web1", project="shop", service="db", volume="old_pgdata"),
        fixes=(
            Fix(
                action="volume.restore",
                params={"host": "web1", "container": "shop_db_1", "volume": "old_pgdata"},
                destructive=True,
                summary="stop shop_db_1, archive shop_pgdata, copy old_pgdata into it",
            ),
        ),
        current_volume="shop_pgdata",
        current_volume_size=48_213_504,
        orphaned_volume="old_pgdata",
        orphaned_volume_size=72_744_892,
        orphaned_volume_created="2025-12-29T00:00:00.123456789Z",
    )


def unreachable() -> Finding:
    return make_finding(
        "host.unreachable",
        Severity.CRITICAL,
        f"{SSH_LABEL} cannot be reached over SSH",
        Subject(environment="prod", host="web2"),
        error="host.unreachable",
        message="connect to deploy@203.0.113.10:2222 timed out",
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


def shown_text(blocks: list[dict[str, Any]]) -> str:
    """Every text a reader sees (not block ids or button values)."""
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


# --- the summary on top -------------------------------------------------------------


def test_top_message_is_a_summary_with_header_sentences_and_buttons() -> None:
    message = report_messages(
        report_of([split(), drift()]), button_value=pending, requested_by="U024BE7LH"
    )
    validate_blocks(message.blocks)
    assert len(message.blocks) <= TOP_BLOCKS
    header = message.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "🔴 prod · shop — 1 critical, 1 warning"
    seen = shown_text(message.blocks)
    assert "*backend cannot reach db* — they share no network" in seen
    assert "*backend runs with an older .env* — SECRET_KEY changed" in seen
    # no rule ids, hex ids or evidence keys on top: those are in the thread
    assert "network.split" not in seen and split().id not in seen
    assert "target_states" not in seen and "Target state" not in seen
    assert "Asked by <@U024BE7LH>" in seen and "web1, web2 not reached" in seen
    found = buttons(message)
    assert [b["action_id"] for b in found] == [f"fix:{split().id}:0", f"fix:{drift().id}:0"]
    assert found[0]["value"] == f"pa-{split().id}-network.connect"
    assert found[0]["text"]["text"] == "Connect backend to db network"
    assert found[0]["style"] == "primary" and "confirm" not in found[0]
    assert found[1]["text"]["text"] == "Recreate backend"
    # the buttons of a finding follow its sentence, with the ids the app edits after a fix
    ids = [b.get("block_id") for b in message.blocks]
    assert ids.index(f"fixes:{split().id}:0") == ids.index(f"finding:{split().id}") + 1
    assert message.text == "🔴 prod · shop: backend cannot reach db"


def test_evidence_is_in_the_thread_with_readable_labels_and_values() -> None:
    message = report_messages(report_of([orphaned(), split()]), button_value=pending)
    (thread,) = message.thread
    validate_blocks(thread.blocks)
    body = shown_text(thread.blocks)
    assert "*Old volume size*\n72.7 MB" in body and "*Current volume size*\n48.2 MB" in body
    assert "*Old volume last changed*\n2025-12-29 00:00 UTC (3 d ago)" in body
    assert "*Target state*\nshop_db_1: running" in body
    assert "72744892" not in body and "72744892" not in shown_text(message.blocks)
    assert ".123456789" not in body
    assert "`volume.orphaned_data` · id" in body  # the code and id, for the CLI
    assert f"evidence:{orphaned().id}" in texts(thread.blocks)
    for field in re.findall(r"\*([^*\n]+)\*\n", body):
        assert "_" not in field, field  # no snake_case labels


def test_a_finding_without_a_button_says_what_to_do() -> None:
    message = report_messages(report_of([split(), unreachable()]), button_value=lambda f, x: None)
    assert buttons(message) == []
    seen = shown_text(message.blocks)
    assert "*What to do:* Connect backend to the network where db answers." in seen
    assert "*What to do:* Check that web2 is up and its SSH port answers." in seen


def test_related_findings_are_linked_and_the_cause_comes_first() -> None:
    message = report_messages(report_of([split(), orphaned()]), button_value=pending)
    ids = [b.get("block_id") for b in message.blocks]
    assert ids.index(f"finding:{orphaned().id}") < ids.index(f"finding:{split().id}")
    line = next(b for b in message.blocks if b.get("block_id") == f"finding:{split().id}")
    assert "Fix the data first" in line["text"]["text"]
    connect = next(b for b in buttons(message) if b["action_id"] == f"fix:{split().id}:0")
    assert "style" not in connect  # not offered first: the data is
    # once the data is fixed, the note goes
    after = report_messages(
        report_of([split(), orphaned()]), button_value=pending, fixed={orphaned().id: "✅ done"}
    )
    assert "Fix the data first" not in shown_text(after.blocks)


def test_destructive_fix_asks_a_confirmation_that_says_what_happens() -> None:
    (button,) = buttons(report_messages(report_of([drift()]), button_value=pending))
    assert button["style"] == "danger"
    confirm = button["confirm"]
    assert confirm["style"] == "danger"
    assert confirm["title"]["text"] == "Recreate backend (prod)?"
    assert confirm["confirm"]["text"] == "Recreate" and confirm["deny"]["text"] == "Cancel"
    text = confirm["text"]["text"]
    for said in ("prod", "stack shop", "service backend", "SECRET_KEY", "Snapshot:", "Undo:"):
        assert said in text, said
    assert len(text) <= 300
    custom = report_messages(
        report_of([drift()]),
        button_value=pending,
        confirm_text=lambda f, fix: f"Plan: stop and recreate {fix.params['service']}",
    )
    assert buttons(custom)[0]["confirm"]["text"]["text"] == "Plan: stop and recreate backend"


def test_no_button_when_button_value_is_none() -> None:
    message = report_messages(report_of([split(), drift()]), button_value=lambda f, x: None)
    assert all(buttons(m) == [] for m in all_messages(message))


def test_remote_text_is_escaped_so_nobody_is_pinged() -> None:
    message = report_messages(report_of([drift()]), button_value=pending)
    body = texts([b for m in all_messages(message) for b in m.blocks])
    assert "&lt;!channel&gt;" in body and "&lt;@U999&gt;" in body and "&amp; friends" in body
    assert "<!channel>" not in body and "<@U999>" not in body
    assert escape("<!here> & <@U1>") == "&lt;!here&gt; &amp; &lt;@U1&gt;"
    odd = report_messages(report_of([drift()]), button_value=pending, requested_by="<!here>")
    assert "<!here>" not in texts(odd.blocks) and "&lt;!here&gt;" in texts(odd.blocks)


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


def test_ssh_users_and_addresses_are_left_out() -> None:
    report = report_of([unreachable(), split()])
    report.hosts[1].notes = ["compose config read as deploy@203.0.113.10:2222 failed"]
    message = report_messages(report, button_value=pending)
    dumped = json.dumps([(m.text, m.blocks, m.files) for m in all_messages(message)])
    assert "203.0.113.10" not in dumped and "deploy@" not in dumped
    assert "web2 cannot be reached" in dumped and "prod/web2 cannot be reached" in dumped


def test_fixed_finding_shows_line_and_no_button() -> None:
    line = "✅ fixed by <@U123> in 4 s"
    message = report_messages(
        report_of([split(), drift()]), button_value=pending, fixed={split().id: line}
    )
    body = texts(message.blocks)
    # the app's own line, with a real mention: not escaped
    assert "~backend cannot reach db~ — fixed by <@U123> in 4 s" in body
    assert [b["action_id"] for b in buttons(message)] == [f"fix:{drift().id}:0"]


def test_after_a_fix_the_header_and_notification_say_what_is_left() -> None:
    line = "✅ fixed by <@U123> in 4 s"
    message = report_messages(
        report_of([drift()]), button_value=pending, fixed={split().id: line}, resolved=[split()]
    )
    assert message.blocks[0]["text"]["text"] == "🟠 prod · shop — 1 warning left"
    assert message.text.startswith("🟠 prod · shop — 1 warning left: ")
    resolved = next(b for b in message.blocks if b.get("block_id") == f"fixed:{split().id}")
    assert resolved["text"]["text"] == (
        ":white_check_mark: ~backend cannot reach db~ — fixed by <@U123> in 4 s"
    )
    healthy = report_messages(
        report_of([]), button_value=pending, fixed={split().id: line}, resolved=[split()]
    )
    assert healthy.blocks[0]["text"]["text"] == "✅ prod · shop — healthy"
    assert healthy.text == "✅ prod · shop — healthy"


def test_a_healthy_report_says_so() -> None:
    message = report_messages(report_of([]), button_value=pending)
    assert message.blocks[0]["text"]["text"] == "🟢 prod · shop — healthy"
    assert "Every check passed: 1 host, 1 stack." in texts(message.blocks)
    assert message.thread == [] and message.text == "🟢 prod · shop — healthy"
    note = make_finding("host.recent_reboot", Severity.INFO, "web1 rebooted", Subject(host="web1"))
    noted = report_messages(report_of([note]), button_value=pending)
    assert "Every check passed: 1 host, 1 stack. 1 note in the thread." in texts(noted.blocks)
    assert "rebooted" in texts(noted.thread[0].blocks)


def test_what_other_modules_import_is_exported() -> None:
    import bot.render.slack as facade

    for name in ("SlackMessage", "report_messages", "result_message", "progress_message",
                 "ephemeral_error", "escape", "validate_blocks", "BlockKitError", "MAX_BLOCKS",
                 "MAX_TEXT", "SEVERITY_EMOJI", "clip_escaped", "_context", "_message", "_plain",
                 "_section"):  # fmt: skip
        assert name in facade.__all__ and hasattr(facade, name), name


def test_long_evidence_is_cut_in_blocks_and_attached_whole() -> None:
    log = "".join(f"line {n} <tag> & more\n" for n in range(600))[:10_000]
    assert len(log) == 10_000
    finding = make_finding(
        "logs.error", Severity.WARNING, "errors", Subject(host="web1"), log=log, short="ok"
    )
    message = report_messages(report_of([finding]), button_value=pending)
    (thread,) = message.thread
    validate_blocks(thread.blocks)
    field_texts = [f["text"] for b in thread.blocks for f in b.get("fields", [])]
    log_field = next(t for t in field_texts if t.startswith("*Log*"))
    assert len(log_field) <= 1100 and log_field.endswith("…")
    assert message.files == [(f"{finding.id}-log.txt", log)]  # the app uploads to the thread
    assert f"{finding.id}-log.txt" in texts(thread.blocks)


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
    assert len(message.blocks) <= TOP_BLOCKS
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
    # the criticals come first
    first = next(b for b in message.blocks if b.get("block_id", "").startswith("finding:"))
    assert first["text"]["text"].startswith(":red_circle:")
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
        **{f"k{i}": "v " * 600 for i in range(30)},
    )
    message = report_messages(report_of([finding] * 2), button_value=pending)
    for each in all_messages(message):
        validate_blocks(each.blocks)
        for label in (b["text"]["text"] for b in buttons(each)):
            assert len(label) <= 30 and not label.endswith("…")
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
    thread = str([m.blocks for m in message.thread])
    assert "web1: compose config of shop failed" in thread
    assert "hunter22" not in thread and "<!channel>" not in thread
    for each in all_messages(message):
        validate_blocks(each.blocks)  # raises on a broken block


def test_after_a_fix_the_report_offers_diagnose_again_within_its_budget() -> None:
    message = report_messages(
        report_of(many_findings(20)), button_value=pending, diagnose_again=True, stack="shop"
    )
    assert len(message.blocks) <= TOP_BLOCKS
    (again,) = [b for b in message.blocks if b.get("block_id") == "again"]
    (button,) = again["elements"]
    assert button["text"]["text"] == "Diagnose again" and button["value"] == "prod shop"
    assert button["action_id"] == "diagnose_again:prod"
    assert message.blocks[-1]["type"] == "context"  # the footer stays last


def test_a_result_message_carries_what_is_left_and_what_to_do_next() -> None:
    from bot.render.incident import RESOLVE
    from bot.render.slack.cure import RESOLVE as CURE_RESOLVE
    from bot.render.slack.cure import diagnose_again_button, resolve_button

    assert CURE_RESOLVE == RESOLVE  # the incident desk answers the result's Resolve
    message = result_message(
        result(), audit_id="abc", note="*Now*: 🟢 prod — healthy",
        buttons=[resolve_button("0b1e"), diagnose_again_button("prod")],
    )  # fmt: skip
    (actions,) = [b for b in message.blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Resolve incident",
        "Diagnose again",
    ]
    assert actions["elements"][0]["action_id"] == f"{RESOLVE}:0b1e"
    assert "*Now*: 🟢 prod — healthy" in texts(message.blocks)
    assert message.blocks[-1]["type"] == "context"  # the audit id last
