"""A local stand-in for the Slack Web API, and requests signed as Slack signs them."""

from tests.slackstub.server import (
    BOT_USER,
    DEFAULT_TOKEN,
    Call,
    Message,
    SlackStub,
    UploadedFile,
    Violation,
)
from tests.slackstub.signing import (
    block_actions_body,
    block_actions_payload,
    sign,
    signed_headers,
    slash_command_body,
)
from tests.slackstub.validation import block_errors, message_errors

__all__ = [
    "BOT_USER",
    "DEFAULT_TOKEN",
    "Call",
    "Message",
    "SlackStub",
    "UploadedFile",
    "Violation",
    "block_actions_body",
    "block_actions_payload",
    "block_errors",
    "message_errors",
    "sign",
    "signed_headers",
    "slash_command_body",
]
