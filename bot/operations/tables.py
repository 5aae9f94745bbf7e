"""How a report's result says what it shows, without knowing any surface.

A runbook's result model may offer one of two shapes (duck-typed: runbooks
import nothing from here):

- ``Tabular``: ``columns()`` and ``rows()`` (strings), and ``notes`` lines;
- ``Textual``: ``lines()``, plain text lines (logs).

``render_outcome`` prints a ``RunOutcome`` of such results to a rich console
(the terminal; Slack exports the same console as text). Results of neither
shape go to ``bot.render.terminal`` (disk, volumes).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.model.outcome import RunOutcome
from bot.redaction.redact import redact_model, redact_text
from bot.render.terminal import header, render_host


@runtime_checkable
class Tabular(Protocol):
    notes: list[str]

    def columns(self) -> tuple[str, ...]: ...

    def rows(self) -> list[tuple[str, ...]]: ...


@runtime_checkable
class Textual(Protocol):
    notes: list[str]

    def lines(self) -> list[str]: ...


def render_outcome(outcome: RunOutcome[Any], console: Console) -> None:
    """Print ``outcome`` redacted: a table or text per host, else the terminal renderer's."""
    safe = redact_model(outcome)
    console.print(header(safe))
    for host in safe.hosts:
        result = host.result
        if host.error is not None or not isinstance(result, Tabular | Textual):
            render_host(host, console)
            continue
        console.print(Text(f"{host.label} · {host.duration:.2f} s", style="bold"))
        if isinstance(result, Tabular):
            table = Table()
            for name in result.columns():
                table.add_column(name, overflow="fold")
            for row in result.rows():
                table.add_row(*(Text(redact_text(cell)) for cell in row))
            console.print(table)
        else:
            for line in result.lines():
                console.print(Text(redact_text(line)), soft_wrap=True)
        for note in result.notes:
            console.print(Text(redact_text(note), style="yellow"), soft_wrap=True)


__all__ = ["Tabular", "Textual", "render_outcome"]
