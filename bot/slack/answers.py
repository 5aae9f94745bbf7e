"""The answers given in the ``ack()`` itself: ``/stack help`` and ``/stack envs``.

Only what the asking user may see: someone without a role gets how to get one.
"""

from __future__ import annotations

from bot.inventory.access import Permission, permissions, visible_environments
from bot.inventory.config.models import Inventory
from bot.slack import messages
from bot.slack.commands import SUMMARY, USAGE


def help_text(inventory: Inventory, user: str, groups: tuple[str, ...]) -> str:
    """Only what this user may run: nothing but how to get a role when they have none."""
    visible = visible_environments(inventory, user, groups)
    if not visible:
        return messages.NO_ROLE
    may_fix = [e for e in visible if Permission.OPERATE in permissions(inventory, e, user, groups)]
    lines = ["*stackbot* — what you can run:"]
    lines += [f"• `{usage}` — {SUMMARY[verb]}" for verb, usage in USAGE.items()]
    lines.append("Environments: " + ", ".join(f"`{e}`" for e in visible))
    if may_fix:
        lines.append(f"You may apply fixes (the report's buttons) on {', '.join(may_fix)}.")
    return "\n".join(lines)


def envs_text(inventory: Inventory, user: str, groups: tuple[str, ...]) -> str:
    """The environments this user can see, with their hosts."""
    visible = visible_environments(inventory, user, groups)
    if not visible:
        return messages.NO_ROLE
    lines = ["Environments you can see:"]
    for name in visible:
        env = inventory.environments[name]
        lines.append(f"• `{name}` — {len(env.hosts)} host(s): {', '.join(env.hosts)}")
    return "\n".join(lines)
