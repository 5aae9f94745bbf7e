"""Every error stackbot raises on purpose, in one tree.

Each error has a stable ``code`` and a message a person on call can act on; the
CLI prints the message and exits with the error's ``exit_status`` (1 at the
base; a status in the tree holds for the branch below it). Library exceptions
are mapped to these at the boundary where they happen, with ``raise ... from
exc``: asyncssh, docker and psycopg on hosts in ``bot/transport/``; psycopg on
the audit database in ``bot/stores/audit/`` (``AuditUnavailable``;
``bot/slack/serve.py``'s sweep of stored actions also catches ``psycopg.Error``
itself); pydantic in the inventory loader (``ConfigInvalid``), the alert intake
(``AlertPayloadError``) and ``bot/operations/params.py`` (``UsageError``).

The base and the branches several layers share live in this module; an error that
belongs to one layer is defined beside its code (the list under the tree).
``tests/unit/test_error_tree.py`` fails when a ``StackbotError`` subclass defined in
``bot/`` or ``runbooks/`` is missing here, hangs under another parent, exits with
another status, or lives in another module than this docstring says.

    StackbotError                  the base: ``code``, ``message``          (exit 1)
    ├── UsageError                 bad command text or parameters          (exit 2)
    │   ├── UnknownEnvironment     no such environment in the inventory
    │   └── CommandError           `/stack` text that is no command: ``answer``
    ├── ConfigError                the inventory cannot be used            (exit 3)
    │   ├── ConfigNotFound         no file at the path that was looked up
    │   └── ConfigInvalid          the file does not validate (names the keys)
    ├── AccessDenied               the user lacks the role (``decision`` says why)
    ├── Refused                    a fix was not applied                   (exit 5)
    │   ├── TargetGone             what it was for no longer exists
    │   └── NotOwned               the target belongs to another environment
    ├── PlanStale                  the world changed since the plan was seen (exit 5)
    ├── EnvironmentBusy            another action holds the environment's lock (exit 5)
    ├── NotConfirmed               a fix the person did not confirm        (exit 5)
    ├── AuditError                 the audit trail cannot be used          (exit 5)
    │   ├── AuditUnavailable       it cannot be written: a change is refused
    │   └── EmbeddedPostgresFailed the embedded server did not start
    ├── PendingError               a stored action (a button) cannot do that
    │   ├── PendingNotFound        unknown id, or no UUID at all
    │   ├── PendingExpired         past its expiry
    │   ├── PendingAlreadyClaimed  claimed already: a button runs once
    │   ├── PendingNeedsApproval   a second person must approve it first
    │   ├── PendingAwaitingApproval  approval requested, not given yet
    │   ├── PendingDenied          an approver denied it
    │   ├── SelfApproval           nobody approves their own request
    │   └── PendingWrongState      not in a state that allows this
    ├── IncidentError              an incident cannot do what was asked
    │   └── IncidentNotFound       no such incident
    ├── AlertPayloadError          an alert payload that cannot be taken in
    └── HostError                  something on a host went wrong          (exit 4)
        ├── HostUnreachable        TCP connect / handshake failed or timed out
        ├── HostKeyNotVerified     no known_hosts to check the host key against
        │   └── HostKeyRejected    unknown or changed host key (never accepted)
        ├── AuthenticationFailed   the host refused our key
        ├── CommandFailed          a command exited non-zero (carries output)
        ├── CommandTimeout         a command ran too long (keeps partial output;
        │                          also an ``asyncio.TimeoutError``)
        ├── DeadlineExceeded       the diagnosis could not list the host's
        │                          containers within ``--deadline``
        ├── DockerUnavailable      the Docker daemon does not answer
        ├── DockerObjectNotFound   a container/network/volume is gone
        ├── DockerAPIError         the Engine API refused a request
        └── DatabaseError          Postgres said no
            ├── DatabaseUnreachable  does not accept connections
            └── DatabaseMissing      SQLSTATE 3D000

Defined beside their code, not here:

    bot/cli/fix.py                 NotConfirmed
    bot/framework/envlock.py       EnvironmentBusy
    bot/framework/executor.py      PlanStale
    bot/inventory/access.py        AccessDenied
    bot/oncall/alerts.py           AlertPayloadError
    bot/oncall/store.py            IncidentError, IncidentNotFound
    bot/slack/commands.py          CommandError
    bot/stores/audit/errors.py     AuditError, AuditUnavailable, EmbeddedPostgresFailed
    bot/stores/pending.py          PendingError, PendingNotFound, PendingExpired,
                                   PendingAlreadyClaimed, PendingNeedsApproval,
                                   PendingAwaitingApproval, PendingDenied, SelfApproval,
                                   PendingWrongState
    runbooks/diagnose/gather.py    DeadlineExceeded
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from bot.framework.session import CommandResult


class StackbotError(Exception):
    """Base of every error stackbot raises on purpose."""

    code: ClassVar[str] = "stackbot.error"
    exit_status: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(StackbotError):
    code = "usage"
    exit_status = 2


class UnknownEnvironment(UsageError):
    code = "usage.unknown_environment"

    def __init__(self, name: str, known: list[str]) -> None:
        known_text = ", ".join(sorted(known)) or "none configured"
        super().__init__(f"unknown environment {name!r} (known: {known_text})")
        self.name = name
        self.known = known


class ConfigError(StackbotError):
    code = "config"
    exit_status = 3


class ConfigNotFound(ConfigError):
    code = "config.not_found"


class ConfigInvalid(ConfigError):
    """The inventory does not validate; ``problems`` holds one line per bad key."""

    code = "config.invalid"

    def __init__(self, source: str, problems: list[str]) -> None:
        lines = "; ".join(problems)
        super().__init__(f"{source}: {lines}")
        self.source = source
        self.problems = problems


class Refused(StackbotError):
    """A fix was not applied (nothing changed): exit status 5."""

    code = "action.refused"
    exit_status = 5


class TargetGone(Refused):
    code = "action.target_gone"


class NotOwned(Refused):
    """The target belongs to another environment (``owner``), or to none."""

    code = "action.not_owned"

    def __init__(self, message: str, *, owner: str | None) -> None:
        super().__init__(message)
        self.owner = owner


class HostError(StackbotError):
    """Something on one host went wrong; ``host`` names it."""

    code = "host"
    exit_status = 4

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.detail = message


class HostUnreachable(HostError):
    code = "host.unreachable"


class HostKeyNotVerified(HostError):
    """The host's key cannot be checked (for example: no known_hosts file)."""

    code = "host.key_mismatch"


class HostKeyRejected(HostKeyNotVerified):
    """The host presented a key that known_hosts does not vouch for."""

    def __init__(self, host: str, *, changed: bool, fingerprint: str, known_hosts: str) -> None:
        if changed:
            why = (
                f"host key CHANGED: it now presents {fingerprint}, "
                f"which does not match {known_hosts}"
            )
        else:
            why = f"host key unknown: it presents {fingerprint}, which is not in {known_hosts}"
        super().__init__(host, why + " (refused; never accepted automatically)")
        self.changed = changed
        self.fingerprint = fingerprint


class AuthenticationFailed(HostError):
    code = "host.auth_failed"


class CommandFailed(HostError):
    code = "host.command_failed"

    def __init__(self, host: str, result: CommandResult) -> None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        detail = " | ".join(tail) if tail else "no output"
        super().__init__(
            host, f"`{result.command}` exited with status {result.exit_status}: {detail}"
        )
        self.result = result


class CommandTimeout(HostError, TimeoutError):
    """A command ran past its timeout; ``stdout``/``stderr`` keep what it printed."""

    code = "host.command_timeout"

    def __init__(self, host: str, command: str, timeout: float, stdout: str, stderr: str) -> None:
        super().__init__(host, f"`{command}` did not finish within {timeout:g} s")
        self.command = command
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class DockerUnavailable(HostError):
    code = "docker.unreachable"


class DockerObjectNotFound(HostError):
    code = "docker.not_found"


class DockerAPIError(HostError):
    code = "docker.api_error"


class DatabaseError(HostError):
    code = "db.error"


class DatabaseUnreachable(DatabaseError):
    code = "db.unreachable"


class DatabaseMissing(DatabaseError):
    code = "db.missing"
