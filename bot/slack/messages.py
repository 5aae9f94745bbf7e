"""Every sentence the Slack surface says, in one place.

A word of the user's text is only ever echoed through ``shown``: cut short, and
without backticks (it cannot close the code span it is shown in).
"""

from __future__ import annotations

USAGE = {
    "help": "/stack help",
    "envs": "/stack envs",
    "diagnose": "/stack diagnose ENV [STACK]",
    "volumes": "/stack volumes ENV",
    "disk": "/stack disk ENV",
    "audit": "/stack audit ENV [N]",
    "oncall": "/stack oncall [ENV] | /stack oncall override ENV @user DURATION",
    "incidents": "/stack incidents [ENV]",
}
SUMMARY = {
    "help": "what you can run here",
    "envs": "the environments you can see",
    "diagnose": "what is wrong, the evidence and the fix",
    "volumes": "every volume: size, created, who mounts it",
    "disk": "disk and inode usage, and Docker's",
    "audit": "the last N entries of the audit trail (default 10)",
    "oncall": "who is on call now and next; hand the pager to someone for a while",
    "incidents": "the open incidents",
}


def shown(value: str, limit: int = 40) -> str:
    """A word of the user's text as an answer shows it: at most ``limit`` characters."""
    value = value.replace("`", "'")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def unknown_verb(verb: str, suggestion: str | None) -> str:
    hint = f" Did you mean `{USAGE[suggestion]}`?" if suggestion else ""
    return f"`{shown(verb)}` is not a /stack command.{hint} Try `/stack help`."


def unknown_environment(env: str, suggestion: str | None, verb: str) -> str:
    if suggestion:
        return f"There is no environment `{shown(env)}`. Did you mean `/stack {verb} {suggestion}`?"
    return f"There is no environment `{shown(env)}`. `/stack envs` lists them."


def missing_argument(verb: str) -> str:
    return f"Usage: `{USAGE[verb]}`"


def extra_words(verb: str, extra: str) -> str:
    return f"I did not understand `{shown(extra, 80)}`. Usage: `{USAGE[verb]}`"


def bad_count(value: str) -> str:
    return f"`{shown(value, 20)}` is not a number from 1 to 100. Usage: `{USAGE['audit']}`"


def bad_name(value: str) -> str:
    return f"`{shown(value)}` is not a valid stack name (letters, digits, `-`, `_`, `.`)."


EMPTY = "Tell me what to do: `/stack help` lists the commands."

# The one answer for someone with no role on any environment, whatever they typed: it
# names no environment, command or person (SECURITY.md, "Strangers").
NO_ROLE = (
    "You have no role on any environment here. Ask an admin to add your Slack user id "
    "to `access` in stackbot's inventory."
)


def bad_user(value: str) -> str:
    return (
        f"`{shown(value)}` is not a Slack user. Mention them (`@name`, sent as `<@U…>`) or "
        f"give their id (`U…`). Usage: `{OVERRIDE_USAGE}`"
    )


def bad_duration(value: str) -> str:
    return (
        f"`{shown(value, 20)}` is not a duration from 1m to {OVERRIDE_MAX_DAYS}d "
        f"(like `30m`, `4h`, `2d`). Usage: `{OVERRIDE_USAGE}`"
    )


OVERRIDE_USAGE = "/stack oncall override ENV @user DURATION"
OVERRIDE_MAX_DAYS = 30

NO_ONCALL_DATABASE = (
    "On-call needs stackbot's database (incidents and timers live there), and it cannot be "
    "reached right now."
)
