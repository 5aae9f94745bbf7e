"""Who may, in Slack: the user groups people belong to (cached), and the checks that
refuse, tell the user why and audit the refusal.

The roles themselves are the inventory's (``bot.inventory.access``); Slack only
adds who is in which user group, answered from a cache so a listener can ack at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.inventory.access import Permission, authorise
from bot.inventory.config.models import Inventory
from bot.operations import Operations, Requester
from bot.slack.background import Tell

_log = logging.getLogger("stackbot.slack")
GROUP_TTL = 300.0  # seconds a user group's members are trusted before a refresh

Spawn = Callable[[Awaitable[object]], None]


class SlackAccess:
    def __init__(
        self,
        inventory: Inventory,
        client: AsyncWebClient,
        operations: Operations,
        *,
        tell: Tell,
        spawn: Spawn,
    ) -> None:
        self.inventory = inventory
        self.client = client
        self.operations = operations
        self._tell = tell
        self._spawn = spawn
        self._members: dict[str, frozenset[str]] = {}
        self._groups_at = float("-inf")
        self._refreshing = False

    async def may(
        self, user: str, channel: str, env: str, what: str, permission: Permission
    ) -> bool:
        """Whether ``user`` holds ``permission`` on ``env``; if not, they are told why and
        the refusal is audited (``what``: the action or button refused)."""
        decision = authorise(self.inventory, env, user, await self.groups_of(user), permission)
        if not decision.allowed:
            await self.denied(user, env, what, decision.reason)
            await self._tell(channel, user, decision.reason)
        return decision.allowed

    async def denied(self, user: str, env: str, what: str, reason: str) -> None:
        """The audit row of a refusal (``what``: the command, action or button)."""
        await self.operations.deny(Requester(user, "slack"), env, what, reason)

    # --- who is in which user group ------------------------------------------------------

    async def groups_of(self, user: str) -> tuple[str, ...]:
        """The user groups (named in the inventory's access rules) the user belongs to.

        Answered from a cache so a listener can ack at once: loaded on first use (and by
        ``serve`` at start-up), refreshed in the background once older than ``GROUP_TTL``.
        """
        if self._groups_at == float("-inf"):
            await self.refresh_groups()
        elif time.monotonic() - self._groups_at > GROUP_TTL and not self._refreshing:
            self._refreshing = True
            self._spawn(self.refresh_groups())
        return tuple(g for g, users in self._members.items() if user in users)

    async def refresh_groups(self) -> None:
        """Members of every user group the access rules name (``usergroups.users.list``)."""
        members: dict[str, frozenset[str]] = {}
        try:
            for group in sorted(self._access_groups()):
                try:
                    answer = await self.client.usergroups_users_list(usergroup=group)
                except SlackApiError as exc:  # a deleted group grants nothing; say so in the log
                    _log.warning("user group %s: %s", group, exc.response.get("error"))
                    continue
                members[group] = frozenset(answer.get("users") or [])
            self._members, self._groups_at = members, time.monotonic()
        finally:
            self._refreshing = False

    def _access_groups(self) -> set[str]:
        rules = [self.inventory.access, *(e.access for e in self.inventory.environments.values())]
        return {
            member
            for rule in rules
            for role in (rule.viewer, rule.operator, rule.approver, rule.admin)
            for member in role
            if member.startswith("S")
        }
