"""Rich terminal output of a runbook run: a header line, then one block per host.

Everything shown is redacted first (``bot.redaction.redact.redact_model``), and every
value from a host goes into a ``rich.text.Text`` so that text such as
``[red]`` in a label is printed as is, never read as markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import singledispatch
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.model.host_reports import (
    DiskReport,
    DockerUsageRow,
    Filesystem,
    Level,
    VolumeRow,
    VolumesReport,
    level_of,
)
from bot.model.outcome import HostOutcome, RunOutcome
from bot.redaction.redact import redact_model

UNKNOWN = "—"
LEVEL_STYLE: dict[Level, str] = {"ok": "green", "warning": "yellow", "critical": "bold red"}
_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
_COUNT_UNITS = ("", "k", "M", "G", "T")


def _scaled(value: float, units: tuple[str, ...], sep: str) -> str:
    unit = 0
    while abs(value) >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    if unit == 0:
        return f"{value:.0f}{sep}{units[0]}".rstrip()
    text = f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text}{sep}{units[unit]}"


def human_size(size: int | None) -> str:
    """Decimal units as Docker prints them: ``512 B``, ``1.2 GB``, ``—`` when unknown."""
    return UNKNOWN if size is None else _scaled(float(size), _SIZE_UNITS, " ")


def human_count(count: int | None) -> str:
    """``16.8M`` inodes, ``—`` when unknown."""
    return UNKNOWN if count is None else _scaled(float(count), _COUNT_UNITS, "")


def percent_text(percent: float | None) -> Text:
    if percent is None:
        return Text(UNKNOWN, style="dim")
    return Text(f"{percent:.1f}%", style=LEVEL_STYLE[level_of(percent)])


def render_terminal(
    outcome: RunOutcome[Any], console: Console, *, known_secrets: Iterable[str] = ()
) -> None:
    """Print ``outcome`` to ``console``, redacted."""
    safe = redact_model(outcome, known_secrets)
    console.print(header(safe))
    for host in safe.hosts:
        render_host(host, console)


def header(outcome: RunOutcome[Any]) -> Text:
    failed = len(outcome.failed)
    hosts = f"{len(outcome.hosts)} host{'s' if len(outcome.hosts) != 1 else ''}"
    text = Text()
    text.append(outcome.environment, style="bold")
    text.append(f" · {outcome.runbook} · {outcome.duration:.2f} s · {hosts}")
    if failed:
        text.append(f" ({failed} failed)", style="red")
    return text


def render_host(host: HostOutcome[Any], console: Console) -> None:
    if host.error is not None:
        message = host.error.message.removeprefix(f"{host.host}: ")
        console.print(Text(f"{host.host}: {host.error.code}: {message}", style="red"))
        return
    console.print(Text(f"{host.label} · {host.duration:.2f} s", style="bold"))
    if host.result is not None:
        render_result(host.result, console)


@singledispatch
def render_result(result: BaseModel, console: Console) -> None:
    """Results without a dedicated renderer print as indented JSON."""
    console.print(Text(result.model_dump_json(indent=2)))


# --- disk ---------------------------------------------------------------------


@render_result.register
def render_disk(report: DiskReport, console: Console) -> None:
    console.print(filesystem_table(report.filesystems))
    for line in disk_notes(report):
        console.print(Text(line, style="yellow"))
    if report.docker:
        console.print(docker_usage_table(report.docker))


def filesystem_table(filesystems: list[Filesystem]) -> Table:
    table = Table(title="Filesystems", title_justify="left")
    for name in ("Mount", "Device", "Size", "Used", "Avail", "Use%", "Inodes", "IUse%", "Holds"):
        if name in ("Mount", "Device", "Holds"):
            table.add_column(name, overflow="fold")  # a long LVM name stays whole
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for fs in filesystems:
        table.add_row(
            Text(fs.mount_point),
            Text(fs.device),
            Text(human_size(fs.size_bytes)),
            Text(human_size(fs.used_bytes)),
            Text(human_size(fs.available_bytes)),
            percent_text(fs.percent_used),
            Text(human_count(fs.inodes_total)),
            percent_text(fs.inodes_percent),
            Text(", ".join(fs.holds)),
        )
    return table


def disk_notes(report: DiskReport) -> list[str]:
    notes = [
        f"{fs.level.upper()}: {fs.mount_point} ({', '.join(fs.holds)}) is "
        f"{_percent(fs.percent_used)} full, {_percent(fs.inodes_percent)} of inodes used"
        for fs in report.filesystems
        if fs.level != "ok"
    ]
    notes += [f"no filesystem reported for {path}" for path in report.unresolved_paths]
    if report.inodes_error:
        notes.append(f"inodes unknown: {report.inodes_error}")
    if report.docker_error:
        notes.append(f"Docker figures missing: {report.docker_error}")
    return notes


def _percent(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.1f}%"


def _reclaimable(row: DockerUsageRow) -> str:
    size = human_size(row.reclaimable_bytes)
    return size if row.reclaimable_percent is None else f"{size} ({row.reclaimable_percent}%)"


def docker_usage_table(rows: list[DockerUsageRow]) -> Table:
    table = Table(title="Docker disk usage", title_justify="left")
    table.add_column("Type")
    for name in ("Total", "Active", "Size", "Reclaimable"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(
            Text(row.kind.capitalize()),
            Text(str(row.total)),
            Text(str(row.active)),
            Text(human_size(row.size_bytes)),
            Text(_reclaimable(row)),
        )
    return table


# --- volumes --------------------------------------------------------------------


@render_result.register
def render_volumes(report: VolumesReport, console: Console) -> None:
    if not report.volumes:
        scope = f" in project {report.project}" if report.project else ""
        console.print(Text(f"no volumes{scope}", style="dim"))
        return
    console.print(volumes_table(report.volumes))
    console.print(Text(volumes_summary(report.volumes)))


def _volume_name(row: VolumeRow) -> str:
    return f"{row.name[:12]}…" if row.anonymous else row.name


def _mounted_by(row: VolumeRow) -> Text:
    if not row.mounted_by:
        return Text("none", style="yellow")
    text = Text()
    for index, user in enumerate(row.mounted_by):
        if index:
            text.append("\n")
        text.append(f"{user.container} ({user.state})", style="green" if user.running else "yellow")
    return text


def _volume_flags(row: VolumeRow) -> Text:
    flags = [flag for flag, on in (("anonymous", row.anonymous), ("unused", not row.in_use)) if on]
    return Text(", ".join(flags), style="yellow")


def volumes_table(rows: list[VolumeRow]) -> Table:
    table = Table(title="Volumes", title_justify="left")
    for name in ("Project", "Volume", "Driver", "Created", "Size", "Mounted by", "Notes"):
        table.add_column(name, justify="right" if name == "Size" else "left")
    for row in rows:
        created = row.created.strftime("%Y-%m-%d %H:%M") if row.created else UNKNOWN
        table.add_row(
            Text(row.compose_project or UNKNOWN),
            Text(_volume_name(row)),
            Text(row.driver),
            Text(created),
            Text(human_size(row.size_bytes)),
            _mounted_by(row),
            _volume_flags(row),
        )
    return table


def volumes_summary(rows: list[VolumeRow]) -> str:
    unused = [row for row in rows if not row.in_use]
    unused_size = sum(row.size_bytes or 0 for row in unused)
    return f"{len(rows)} volumes, {len(unused)} unused ({human_size(unused_size)})"
