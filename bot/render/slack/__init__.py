"""The diagnosis report, fix results and errors as Slack Block Kit messages.

Pure functions: data in, ``SlackMessage`` out; sending is the app's job. The
stages, one module each: ``blocks`` (Slack's limits, text helpers, validation),
``report`` (the summary message and its thread), ``evidence`` (a finding's
fields), ``buttons`` (fix labels and confirmations), ``results`` (progress,
errors, a fix's result, the ✅ line of a fixed finding), ``approval`` (the
approval request), ``text`` (a report's text as a code block), ``cure`` (the
cure watch). The words come from ``bot.render.labels``.
"""

from __future__ import annotations

from bot.render.slack.approval import approval_request
from bot.render.slack.blocks import (
    FIXED_EMOJI,
    MAX_ACTIONS,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FALLBACK_TEXT,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_TEXT,
    SEVERITY_EMOJI,
    VERDICT_EMOJI,
    BlockKitError,
    SlackMessage,
    _context,
    _message,
    _mrkdwn,
    _plain,
    _section,
    clip,
    clip_escaped,
    escape,
    validate_blocks,
)
from bot.render.slack.buttons import (
    Confirmation,
    button_label,
    confirmation,
    snapshot_confirmation,
)
from bot.render.slack.evidence import EVIDENCE_LIMIT
from bot.render.slack.report import TOP_BLOCKS, ButtonValue, ConfirmText, report_messages
from bot.render.slack.results import (
    RESTORE,
    STATUS_EMOJI,
    ephemeral_error,
    fixed_line,
    mark_fixed,
    progress_message,
    restore_button,
    result_message,
    snapshot_blocks,
)
from bot.render.slack.text import TEXT_LIMIT, text_message

__all__ = [
    "EVIDENCE_LIMIT",
    "FIXED_EMOJI",
    "MAX_ACTIONS",
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_BUTTON_VALUE",
    "MAX_CONFIRM_TEXT",
    "MAX_CONFIRM_TITLE",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_FALLBACK_TEXT",
    "MAX_FIELDS",
    "MAX_FIELD_TEXT",
    "MAX_HEADER",
    "MAX_TEXT",
    "RESTORE",
    "SEVERITY_EMOJI",
    "STATUS_EMOJI",
    "TEXT_LIMIT",
    "TOP_BLOCKS",
    "VERDICT_EMOJI",
    "BlockKitError",
    "ButtonValue",
    "ConfirmText",
    "Confirmation",
    "SlackMessage",
    "_context",
    "_message",
    "_mrkdwn",
    "_plain",
    "_section",
    "approval_request",
    "button_label",
    "clip",
    "clip_escaped",
    "confirmation",
    "ephemeral_error",
    "escape",
    "fixed_line",
    "mark_fixed",
    "progress_message",
    "report_messages",
    "restore_button",
    "result_message",
    "snapshot_blocks",
    "snapshot_confirmation",
    "text_message",
    "validate_blocks",
]
