"""The ``slack_api`` fixture: a started Slack stand-in, stopped after the test.

Tests (or a conftest) import it: ``from tests.slackstub.fixtures import slack_api``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slackstub.server import DEFAULT_TOKEN, SlackStub


@pytest.fixture
def slack_api() -> Iterator[SlackStub]:
    with SlackStub(token=DEFAULT_TOKEN) as stub:
        yield stub
