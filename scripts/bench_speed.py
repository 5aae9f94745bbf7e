"""Speed against the manual way, across many hosts, under Slack load (issue #17).

    scripts/bench speed [manual|fanout|slack|counts|all] [--runs N] [--out PATH] [--before TREE]

- manual: a full diagnosis of S1 (a new ``stackbot diagnose lab --format json``
  process; the first diagnosis on a new connection in a running process that
  already has its audit trail and imports, as ``serve`` has; a warm one on the
  pooled connection) against a script that runs the seed write-up's diagnostic
  commands as separate ``ssh host docker …`` processes, run alternately;
  medians and ratios. ``--before TREE``: also a new CLI process from another
  checkout (e.g. ``git archive`` of the commit before), in the same rotation.
- fanout: one environment of 1, 5, 10, 20, 50 hosts (tests/lab/fanout.py: sshd
  in network namespaces in front of h1's engine), new connections and warm;
  a black-holed host among 20 and how much later the others finish.
- slack: ``stackbot serve --http`` with the Slack stand-in: 200 signed
  ``/stack diagnose lab``, 20 at a time (ack p50/p99), each its own delivery (its
  own ``trigger_id``, as Slack sends them: the same body twice is a replay, which
  serve drops), then the time to the report, warm; then ``/stack diagnose fan50``;
  peak RSS of serve (VmHWM); from the audit trail, how many diagnoses ran for the
  requests (the others shared a run in flight). serve's log goes to a file.
- counts: SSH logins (sshd's log) and Docker API requests (a counting proxy in
  front of h1's socket) per diagnosis of one host with 5 and 20 containers;
  programs executed per CLI run (strace -f).

Writes markdown (default bench/speed/RESULTS.md) with the machine's description;
a run of some parts replaces only their sections of the file (each then says
when and at which load it was measured).
Needs root and the lab (started here when it is not running, and left as found).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "speed" / "RESULTS.md"
PARTS = ("counts", "manual", "fanout", "slack")
SECTION_NUMBERS = {"manual": "1", "fanout": "2", "slack": "3", "counts": "4"}  # "## N. …"
FAN_SIZES = [1, 5, 10, 20, 50]
BLACK_HOLE_AMONG = 20
SLACK_REQUESTS, SLACK_CONCURRENCY = 200, 20
ACK_GIVE_UP = 60.0  # seconds without an HTTP answer: serve is stuck (Slack gives up at 3)
SECRET = "bench-signing-secret"  # noqa: S105 (the stand-in's)
VIEWER, CHANNEL = "UBENCH", "CBENCH"

# S1 in the lab: the seed write-up's names, as the lab builds them
DB, BACKEND = "indexo_db_staging", "indexo_backend_staging"
NEW_VOLUME = "indexo-staging_postgres_data"
MANUAL_COMMANDS: list[list[str]] = [
    ["ps"],  # "Your docker ps shows": what runs
    ["inspect", DB],  # 1. which network the database is on
    ["inspect", BACKEND],  # 2. which network the backend is on
    ["exec", BACKEND, "ping", "-c", "2", "db"],  # 3. can the backend reach the database
    ["volume", "inspect", NEW_VOLUME],  # 4. the database volume
    ["exec", BACKEND, "env"],  # 5. the backend's environment (| grep DB_)
    ["volume", "ls"],  # quick fix 2: the volume with the data (| grep postgres)
    ["network", "ls"],  # which networks exist (what stackbot's network.split names)
    ["exec", DB, "psql", "-U", "multivendor", "-d", "multivendor", "-c", r"\dt"],  # empty?
]


# ------------------------------------------------------------------ small tools


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    load = os.getloadavg()
    return [
        f"- {os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024} MB RAM, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; load average at the start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (other sessions share the machine)",
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, lab slot {os.environ.get('STACKBOT_LAB_SLOT')}",
    ]


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Results:
    sections: dict[str, list[str]] = field(default_factory=dict)

    def add(self, part: str, lines: list[str]) -> None:
        self.sections[part] = lines
        print("\n".join(lines), flush=True)

    def write(self, path: Path, header: list[str], *, only_these: bool = False) -> None:
        """The whole file; ``only_these`` (some parts were run): the sections of the others
        are kept from the file as it is, and those run now say when and how they ran."""
        path.parent.mkdir(parents=True, exist_ok=True)
        title = ["# stackbot speed (scripts/bench speed)", ""]
        sections = {part: self.sections[part] for part in PARTS if part in self.sections}
        if only_these and path.exists():
            kept_header, kept = split_sections(path.read_text())
            for part, lines in sections.items():
                kept[part] = [lines[0], "", *header, *lines[1:]]
            sections, header = kept, kept_header
        body = [*title, *header, ""]
        for lines in sections.values():
            body += [*lines, ""]
        path.write_text("\n".join(body).rstrip("\n") + "\n")
        print(f"written: {path}")


def split_sections(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(the lines under the title, before the first section; each ``## N.`` section by
    part, in the file's order, trailing blank lines dropped)."""
    header: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = header
    for line in text.splitlines():
        if line.startswith("# "):
            continue
        if line.startswith("## "):
            number = line[3:].split(".", 1)[0]
            part = next((p for p, n in SECTION_NUMBERS.items() if n == number), line)
            current = sections.setdefault(part, [])
        current.append(line)
    for lines in (header, *sections.values()):
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
    return header, sections


# ------------------------------------------------------------------ the lab


@dataclass
class Bench:
    lab: Any
    dir: Path
    runs: int
    before: Path | None

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def inventory(self, name: str = "inventory.yaml", **extra: Any) -> Path:
        return Path(self.lab.write_inventory(self.dir / name, data_dir=str(self.data_dir), **extra))

    def cli(self, tree: Path, inventory: Path, *args: str) -> list[str]:
        del tree  # the tree goes in through PYTHONPATH (see cli_env)
        return [sys.executable, "-m", "bot.cli", "--config", str(inventory), *args]

    def cli_env(self, tree: Path) -> dict[str, str]:
        """As a user's shell runs it: Python keeps its compiled bytecode (an installed
        package has it; PYTHONDONTWRITEBYTECODE in this environment would compile ~100
        modules again on every run, ~0.25 s). Run 0, dropped, writes it."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {**env, "PYTHONPATH": str(tree)}


def ensure_s1(lab: Any) -> None:
    """S1 on h1 (built again only when its containers are not there; one retry)."""
    names = {c.name for c in lab.docker("h1").containers.list(all=True)}
    if {DB, BACKEND} <= names and not any(n.startswith("bench-load-") for n in names):
        return
    try:
        lab.scenario("S1")
    except Exception as exc:  # a slow machine: the health check may give up once
        print(f"S1 failed to build ({exc}); once more")
        lab.scenario("S1")


def ssh_argv(lab: Any, docker_args: list[str]) -> list[str]:
    host = lab.hosts["h1"]
    remote = ["docker", "-H", f"unix://{host.docker_socket}", *docker_args]
    return [
        "ssh", "-F", "/dev/null", "-i", str(lab.client_key),
        "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
        f"stackbot-lab@{host.address}", shlex.join(remote),
    ]  # fmt: skip


def manual_way(lab: Any) -> float:
    """The write-up's commands, one ``ssh host docker …`` process each, in a row."""
    started = time.perf_counter()
    for command in MANUAL_COMMANDS:
        subprocess.run(ssh_argv(lab, command), capture_output=True, check=False, timeout=60)
    return time.perf_counter() - started


def cold_cli(bench: Bench, tree: Path, inventory: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        bench.cli(tree, inventory, "diagnose", "lab", "--format", "json"),
        capture_output=True,
        env=bench.cli_env(tree),
        cwd=tree,
        check=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1) or b'"network.split"' not in done.stdout:
        raise RuntimeError(f"diagnose failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


# ------------------------------------------------------------------ 1. manual


async def part_manual(bench: Bench) -> list[str]:
    from bot.inventory.config import load_inventory
    from bot.operations import Operations, Requester
    from bot.stores.audit.setup import open_trail
    from bot.transport import Transport

    ensure_s1(bench.lab)
    path = bench.inventory()
    inventory = load_inventory(path)
    who = Requester(actor="bench", surface="cli")
    times: dict[str, list[float]] = {"manual": [], "cold": [], "first": [], "warm": []}
    if bench.before:
        times["cold (before)"] = []
    inside: list[float] = []
    async with open_trail(inventory) as trail:  # as serve holds it: open for the process
        for run in range(bench.runs + 1):  # run 0 warms caches and is dropped
            sample: dict[str, float] = {}
            sample["manual"] = await asyncio.to_thread(manual_way, bench.lab)
            sample["cold"] = await asyncio.to_thread(cold_cli, bench, ROOT, path)
            if bench.before:
                sample["cold (before)"] = await asyncio.to_thread(
                    cold_cli, bench, bench.before, path
                )
            async with Transport(inventory.ssh) as transport:
                operations = Operations(inventory, trail=trail, transport=transport)
                for kind in ("first", "warm"):
                    started = time.perf_counter()
                    report = await operations.diagnose(who, "lab")
                    sample[kind] = time.perf_counter() - started
                    assert "network.split" in {f.code for f in report.findings}
                    if kind == "warm":
                        inside.append(report.duration)
            if run:
                for kind, value in sample.items():
                    times[kind].append(value)
            print(f"run {run}: " + ", ".join(f"{k} {ms(v)}" for k, v in sample.items()))
    manual = median(times["manual"])
    lines = [
        "## 1. Against the manual way (S1, one host)",
        "",
        f"Medians of {bench.runs} alternating runs (each run: the manual script, then a new "
        "CLI process, then a first and a warm diagnosis in the running process).",
        "The manual script runs the write-up's diagnostic commands as "
        f"{len(MANUAL_COMMANDS)} separate `ssh host docker …` processes "
        "(real ssh, the lab's key and known_hosts):",
        "",
        *[f"    docker {shlex.join(c)}" for c in MANUAL_COMMANDS],
        "",
        "| way | median | min | max | manual ÷ this | target |",
        "|---|---|---|---|---|---|",
    ]
    targets = {"cold": "≥ 3x", "first": "≥ 10x", "warm": "≥ 20x", "cold (before)": ""}
    labels = {
        "manual": "manual: 9 x `ssh host docker …`",
        "cold": "`stackbot diagnose lab --format json`, a new process",
        "cold (before)": "the same, from the tree before this change",
        "first": "first diagnosis on a new SSH connection, in a running process (serve)",
        "warm": "warm: the pooled connection (serve, a second request)",
    }
    for kind, samples in times.items():
        ratio = "" if kind == "manual" else f"{manual / median(samples):.2f}x"
        lines.append(
            f"| {labels[kind]} | {ms(median(samples))} | {ms(min(samples))} | "
            f"{ms(max(samples))} | {ratio} | {targets.get(kind, '')} |"
        )
    lines += ["", f"The diagnosis itself (warm, its own clock): {ms(median(inside))} median."]
    return lines


# ------------------------------------------------------------------ 2. fan-out

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENGINE_COMMANDS = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2"}
CPU_COLUMNS = ("stackbot (this process)", "sshd and what it ran", "Docker engine and containers")


@dataclass
class _Process:
    comm: str
    ppid: int
    cpu: float  # seconds: its own and its reaped children's (utime+stime+cutime+cstime)


@dataclass
class CpuSnapshot:
    """The machine's busy CPU time (/proc/stat) and every process's CPU time, in seconds.
    A process that ended is counted in its parent's cutime once reaped: the commands an
    sshd ran land in that sshd."""

    busy: float
    processes: dict[int, _Process]

    @classmethod
    def take(cls) -> CpuSnapshot:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        busy = (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
        processes: dict[int, _Process] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            rest = raw[raw.rindex(")") + 2 :].split()
            utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
            cpu = (utime + stime + cutime + cstime) / CLOCK_TICKS
            processes[int(entry.name)] = _Process(comm, int(rest[1]), cpu)
        return cls(busy, processes)

    def spent_since(self, before: CpuSnapshot, lab_dir: Path) -> dict[str, float]:
        """CPU seconds since ``before``: this process, and the lab's processes (those with
        an ancestor whose command line names ``lab_dir``) by what they are: sshd and what
        it ran, the Docker engine and the containers (postgres, the apps); "rest of the
        machine": the machine's busy time (/proc/stat) beyond those, kernel threads and
        other work included. (Not the other processes' own sums: a process that reaps a
        child started long before adds all of that child's time at once.)"""
        marker = str(lab_dir).rstrip("/") + "/"
        lab_roots: dict[int, bool] = {}

        def in_lab(pid: int) -> bool:
            if pid not in lab_roots:
                try:
                    cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
                except OSError:
                    cmdline = b""
                lab_roots[pid] = marker.encode() in cmdline
            return lab_roots[pid]

        groups = dict.fromkeys(CPU_COLUMNS, 0.0)
        for pid, process in self.processes.items():
            earlier = before.processes.get(pid)
            same = earlier is not None and earlier.comm == process.comm
            spent = max(process.cpu - (earlier.cpu if earlier and same else 0.0), 0.0)
            if not spent:
                continue
            chain: list[int] = []
            at = pid
            while at in self.processes and at > 1 and len(chain) < 64:
                chain.append(at)
                at = self.processes[at].ppid
            if pid == os.getpid():
                groups[CPU_COLUMNS[0]] += spent
            elif not any(in_lab(p) for p in chain):
                continue
            elif any(self.processes[p].comm == "sshd" for p in chain):
                groups[CPU_COLUMNS[1]] += spent
            elif any(self.processes[p].comm in ENGINE_COMMANDS for p in chain):
                groups[CPU_COLUMNS[2]] += spent
        ours = sum(groups.values())
        return {**groups, "rest of the machine": max(self.busy - before.busy - ours, 0.0)}


def cpu_line(n: int, wall: float, spent: dict[str, float]) -> str:
    """One row of the CPU table: where the CPU went during one run of n hosts."""
    cores = os.cpu_count() or 1
    ours = sum(spent[g] for g in CPU_COLUMNS)
    return (
        f"| {n} | {ms(wall)} | "
        + " | ".join(ms(spent[g]) for g in CPU_COLUMNS)
        + f" | {ms(ours)} | {ms(ours / n)} | **{ms(ours / cores)}** | "
        f"{ms(spent['rest of the machine'])} |"
    )


async def timed_diagnose(
    operations: Any, env: str, who: Any, done_at: dict[str, float] | None = None
) -> tuple[float, Any]:
    started = time.perf_counter()

    async def host_done(outcome: Any) -> None:
        if done_at is not None:
            done_at[outcome.host] = time.perf_counter() - started

    report = await operations.diagnose(who, env, on_host_done=host_done)
    return time.perf_counter() - started, report


async def part_fanout(bench: Bench, fan: Any) -> list[str]:
    from bot.inventory.config import load_inventory
    from bot.operations import Operations, Requester
    from bot.stores.audit.setup import open_trail
    from bot.transport import Transport
    from tests.lab.config import RUN_DIR

    path = fan.write_inventory(
        bench.dir / "fanout.yaml", FAN_SIZES, black_holed_size=BLACK_HOLE_AMONG,
        data_dir=str(bench.data_dir),
    )  # fmt: skip
    inventory = load_inventory(path)
    who = Requester(actor="bench", surface="cli")
    repeat = max(3, bench.runs // 3)
    rows: dict[int, tuple[list[float], list[float], int]] = {}
    cpu_first: list[tuple[int, float, dict[str, float]]] = []
    cpu_warm: list[tuple[int, float, dict[str, float]]] = []
    async with open_trail(inventory) as trail:
        for n in FAN_SIZES:
            firsts, warms, unreached = [], [], 0
            for _ in range(repeat):
                async with Transport(inventory.ssh) as transport:
                    operations = Operations(inventory, trail=trail, transport=transport)
                    before = CpuSnapshot.take()
                    first, report = await timed_diagnose(operations, f"fan{n}", who)
                    between = CpuSnapshot.take()
                    warm, _ = await timed_diagnose(operations, f"fan{n}", who)
                    after = CpuSnapshot.take()
                firsts.append(first)
                warms.append(warm)
                cpu_first.append((n, first, between.spent_since(before, RUN_DIR)))
                cpu_warm.append((n, warm, after.spent_since(between, RUN_DIR)))
                unreached = max(unreached, sum(1 for h in report.hosts if not h.reached))
            rows[n] = (firsts, warms, unreached)
            print(f"fan{n}: first {ms(median(firsts))}, warm {ms(median(warms))}")
        # a black-holed host among BLACK_HOLE_AMONG: when do the others finish?
        with_bh: list[float] = []
        without: list[float] = []
        total_bh: list[float] = []
        for _ in range(repeat):
            for env, sink in (
                (f"fan{BLACK_HOLE_AMONG}", without),
                (f"fan{BLACK_HOLE_AMONG}bh", with_bh),
            ):
                async with Transport(inventory.ssh) as transport:
                    operations = Operations(inventory, trail=trail, transport=transport)
                    done_at: dict[str, float] = {}
                    total, report = await timed_diagnose(operations, env, who, done_at)
                healthy = [t for h, t in done_at.items() if h in {x.name for x in fan.hosts}]
                sink.append(max(healthy))
                if env.endswith("bh"):
                    total_bh.append(total)
                    assert any(not h.reached for h in report.hosts), "the black hole answered"
    one_first, one_warm = median(rows[1][0]), median(rows[1][1])
    lines = [
        "## 2. Fan-out: one environment of N hosts",
        "",
        f"Each host its own sshd in a network namespace, all in front of h1's engine (S1: "
        f'2 containers each). Medians of {repeat}; "first": a new transport (SSH logins '
        'included), "warm": the same diagnosis again on the pooled connections.',
        "",
        "| hosts | first | ratio to 1 host | warm | ratio to 1 host | unreached |",
        "|---|---|---|---|---|---|",
    ]
    for n, (firsts, warms, unreached) in rows.items():
        lines.append(
            f"| {n} | {ms(median(firsts))} | {median(firsts) / one_first:.2f}x | "
            f"{ms(median(warms))} | {median(warms) / one_warm:.2f}x | {unreached} |"
        )
    lines += [
        "",
        "Where the CPU went (the run whose wall time was the median of each size; each "
        "process's own and reaped children's CPU time from /proc; the lab's processes are "
        "those started under its run directory). Every lab host is processes on this "
        f"machine's {os.cpu_count()} cores: the CPU a run needs, divided by the cores, is "
        'the least wall time it can take here, whatever stackbot does. "rest of the '
        "machine\": kernel threads (the network namespaces' packets among them) and any "
        "other work meanwhile.",
        "",
    ]
    for label, samples in (("first", cpu_first), ("warm", cpu_warm)):
        lines += [
            f"{label}:",
            "",
            "| hosts | wall | "
            + " | ".join(CPU_COLUMNS)
            + " | all of it | per host | least wall time: all ÷ cores | rest of the machine |",
            "|---|---|" + "---|" * len(CPU_COLUMNS) + "---|---|---|---|",
        ]
        for n in FAN_SIZES:
            runs = sorted((s for s in samples if s[0] == n), key=lambda s: s[1])
            _, wall, spent = runs[len(runs) // 2]
            lines.append(cpu_line(n, wall, spent))
        lines.append("")
    delay = median(with_bh) - median(without)
    lines += [
        "",
        f"Black hole: {BLACK_HOLE_AMONG} hosts plus one whose packets are dropped (connect "
        f"timeout 5 s). The last of the {BLACK_HOLE_AMONG} reachable hosts finished after "
        f"{ms(median(without))} without it and {ms(median(with_bh))} with it: it delays "
        f"the others by **{ms(delay)}** (target ≤ 100 ms); the whole report waits for its "
        f"timeout ({ms(median(total_bh))}).",
    ]
    return lines


# ------------------------------------------------------------------ 3. Slack


async def part_slack(bench: Bench, fan: Any | None) -> list[str]:
    import aiohttp

    from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
    from tests.slackstub.signing import signed_headers, slash_command_body

    ensure_s1(bench.lab)
    extra: dict[str, Any] = {"access": {"viewer": [VIEWER]}}
    if fan is not None:
        path = fan.write_inventory(
            bench.dir / "serve.yaml", [50], data_dir=str(bench.data_dir), **extra
        )
    else:
        path = bench.inventory("serve.yaml", **extra)
    port = _free_port()
    lines = ["## 3. Slack: `stackbot serve --http`", ""]
    log_path = bench.dir / "serve.log"
    with SlackStub() as stub, log_path.open("wb") as log:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": stub.api_url,
            "PYTHONPATH": str(ROOT),
        }
        env.pop("STACKBOT_ALERT_TOKEN", None)
        serve = subprocess.Popen(  # noqa: ASYNC220 (started once, stopped by signal)
            [sys.executable, "-m", "bot.cli", "--config", str(path), "serve", "--http",
             "--host", "127.0.0.1", "--port", str(port)],
            # a file, never a pipe nobody reads: once the pipe is full serve blocks
            # writing its log and answers nothing more
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/slack/events"
            await _wait_port(port, serve, log_path)
            sent_count = 0
            timeout = aiohttp.ClientTimeout(total=ACK_GIVE_UP)
            async with aiohttp.ClientSession(timeout=timeout) as client:

                async def post(text: str) -> float:
                    nonlocal sent_count
                    sent_count += 1  # each command its own trigger_id: its own delivery
                    body = slash_command_body(
                        text, user_id=VIEWER, channel_id=CHANNEL,
                        trigger_id=f"{sent_count}.{os.getpid()}.bench",
                    )  # fmt: skip
                    started = time.perf_counter()
                    try:
                        async with client.post(
                            url, data=body, headers=signed_headers(body, SECRET)
                        ) as r:
                            await r.read()
                            assert r.status == 200, r.status
                    except TimeoutError as exc:
                        raise RuntimeError(
                            f"serve did not answer request {sent_count} within {ACK_GIVE_UP:g} "
                            f"s; its log ends:\n{_tail(log_path)}"
                        ) from exc
                    return time.perf_counter() - started

                def reports() -> int:  # the progress message edited into the report
                    return sum(1 for c in stub.calls("chat.update") if c.body.get("blocks"))

                def errors() -> list[str]:  # a request that failed: told so, ephemerally
                    return [str(c.body.get("text")) for c in stub.calls("chat.postEphemeral")]

                def answered() -> int:
                    return reports() + len(errors())

                begun = time.perf_counter()
                await post("diagnose lab")  # the first: a new SSH connection; warms the pool
                await _until(lambda: reports() >= 1, 120, log_path)
                first_report = time.perf_counter() - begun
                base_rss = rss_peak_mb(serve.pid)
                gate = asyncio.Semaphore(SLACK_CONCURRENCY)

                async def limited() -> float:
                    async with gate:
                        return await post("diagnose lab")

                load_before = load_average()
                started = time.perf_counter()
                acks = await asyncio.gather(*(limited() for _ in range(SLACK_REQUESTS)))
                sent = time.perf_counter() - started
                await _until(lambda: answered() >= SLACK_REQUESTS + 1, 900, log_path)
                drained = time.perf_counter() - started
                load_after = load_average()
                burst_rss = rss_peak_mb(serve.pid)
                to_report: list[float] = []
                for _ in range(bench.runs):
                    before = answered()
                    begun = time.perf_counter()
                    await post("diagnose lab")
                    await _until(_more_than(answered, before), 120, log_path)
                    to_report.append(time.perf_counter() - begun)
                fan_line = ""
                if fan is not None:
                    before = answered()
                    begun = time.perf_counter()
                    await post("diagnose fan50")
                    await _until(lambda: answered() > before, 300, log_path)
                    fan_line = (
                        f"- `/stack diagnose fan50` (50 hosts, new connections) to its report: "
                        f"{ms(time.perf_counter() - begun)}; serve's peak RSS after it "
                        f"**{rss_peak_mb(serve.pid):.0f} MB**"
                    )
            lines += [
                f"{SLACK_REQUESTS} signed `/stack diagnose lab` (S1), {SLACK_CONCURRENCY} at a "
                "time, to serve's HTTP endpoint; the Slack Web API is the local stand-in.",
                "",
                f"- ack (HTTP 200 to the slash command): p50 **{ms(percentile(acks, 50))}**, "
                f"p99 **{ms(percentile(acks, 99))}**, max {ms(max(acks))} (target p99 ≤ 50 ms); "
                f"all {SLACK_REQUESTS} sent in {sent:.1f} s",
                f"- all {SLACK_REQUESTS} answered {drained:.1f} s after the first request; "
                f"load average (1 / 5 / 15 min) {load_before} when the burst began, "
                f"{load_after} when the last report was posted",
                f"- time to the report: the first `/stack diagnose` after serve started (a new "
                f"SSH connection) **{ms(first_report)}**; warm, the connection pooled (one "
                f"request at a time, n={bench.runs}): median **{ms(median(to_report))}**, "
                f"min {ms(min(to_report))}",
                f"- serve's peak RSS (VmHWM): {base_rss:.0f} MB after the first diagnosis, "
                f"**{burst_rss:.0f} MB** after the burst (target ≤ 150 MB)",
            ]
            if fan_line:
                lines.append(fan_line)
            failed = Counter(errors())
            if failed:
                said = "; ".join(f"{n} x `{text[:160]}`" for text, n in failed.most_common(3))
                lines.append(
                    f"- **{sum(failed.values())} requests got an error instead of their "
                    f"report**: {said}"
                )
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
    lines += [await _diagnoses_run(path), _log_summary(log_path)]
    return lines


def _log_summary(path: Path) -> str:
    """serve's warnings and errors, the most frequent first (numbers and ids masked)."""
    found: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        level = next((w for w in (" WARNING ", " ERROR ") if w in line), None)
        if level is not None:
            message = line.split(level, 1)[1]
            found[level.strip() + " " + re.sub(r"[0-9a-f]{6,}|\d+", "N", message)[:90]] += 1
    if not found:
        return "- serve's log: no warnings, no errors"
    top = "; ".join(f"{count} x `{message}`" for message, count in found.most_common(4))
    return f"- serve's log: {sum(found.values())} warnings and errors: {top}"


async def _diagnoses_run(path: Path) -> str:
    """How many diagnoses serve ran for the requests, from its audit rows (Slack's only;
    a request that shared a run in flight names it in ``shared_with``)."""
    from bot.inventory.config import load_inventory
    from bot.stores.audit.setup import open_trail
    from bot.stores.audit.store import RowFilter

    async with open_trail(load_inventory(path)) as trail:
        if trail.store is None:
            return "- (the audit database did not start: diagnoses not counted)"
        rows = await trail.store.rows(RowFilter(action="diagnose"))
    rows = [r for r in rows if r.surface == "slack"]  # not the other parts' (same data_dir)
    requested = sum(1 for r in rows if r.kind == "requested")
    diagnosed = [r for r in rows if r.kind == "diagnosed"]
    shared = sum(1 for r in diagnosed if "shared_with" in r.details)
    return (
        f"- audit trail: {requested} diagnoses requested, {len(diagnosed)} answered "
        f"(`diagnosed` rows); **{len(diagnosed) - shared} runs**, the other {shared} "
        "shared a run in flight"
    )


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("serve did not listen")


def _more_than(count: Callable[[], int], before: int) -> Callable[[], bool]:
    return lambda: count() > before


async def _until(predicate: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s; serve's log ends:\n{_tail(log)}")
        await asyncio.sleep(0.005)


# ------------------------------------------------------------------ 4. counts


REQUEST_LINE = re.compile(rb"(GET|POST|PUT|DELETE|HEAD) (/[^ ]*) HTTP/1\.[01]\r\n")
USER_AGENT = re.compile(rb"\r\nUser-Agent: ([^\r]*)", re.IGNORECASE)


class CountingProxy:
    """A Unix socket in front of the Docker socket that counts the HTTP requests."""

    def __init__(self, target: Path, path: Path) -> None:
        self.target, self.path = target, path
        self.requests: list[tuple[str, str, str]] = []  # (user agent, method, path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.path.chmod(0o666)  # the lab user (sshd's forward) connects to it
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self.path.unlink(missing_ok=True)

    async def _start(self) -> None:
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(self.target))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            tail = b""
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while chunk := await src.read(65536):
                    if count:
                        data = tail + chunk
                        for match in REQUEST_LINE.finditer(data):
                            agent = USER_AGENT.search(data, match.end() - 2)
                            self.requests.append(
                                (
                                    agent[1].decode(errors="replace").split("/")[0]
                                    if agent
                                    else "?",
                                    match[1].decode(),
                                    match[2].decode(errors="replace").split("?")[0],
                                )
                            )
                        tail = data[-256:] if not REQUEST_LINE.search(data[-256:]) else b""
                    dst.write(chunk)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


def _endpoint(path: str) -> str:
    path = re.sub(r"^/v[\d.]+", "", path)
    return re.sub(r"/(containers|networks|volumes|images|exec)/(?!json$)[^/]+", r"/\1/{id}", path)


@contextlib.contextmanager
def extra_containers(lab: Any, count: int) -> Iterator[None]:
    client = lab.docker("h1")
    made = []
    try:
        for i in range(count):
            made.append(
                client.containers.run(
                    lab.images["busybox"],
                    ["sleep", "3600"],
                    name=f"bench-load-{i}",
                    detach=True,
                    labels={"stackbot-bench": "load"},
                )
            )
        yield
    finally:
        for container in made:
            with contextlib.suppress(Exception):
                container.remove(force=True)


async def part_counts(bench: Bench) -> list[str]:
    from bot.inventory.config import load_inventory
    from bot.operations import Operations, Requester
    from bot.stores.audit.setup import open_trail
    from bot.transport import Transport

    ensure_s1(bench.lab)
    h1 = bench.lab.hosts["h1"]
    proxy_path = bench.dir / "counted-docker.sock"
    path = bench.inventory(
        "counts.yaml",
        environments={"lab": {"hosts": {"h1": {"docker_socket": str(proxy_path)}}}},
    )
    inventory = load_inventory(path)
    who = Requester(actor="bench", surface="cli")
    base = len(bench.lab.docker("h1").containers.list(all=True))
    lines = [
        "## 4. Counts",
        "",
        "Per diagnosis of one host (S1 plus idle containers), a new transport each time; "
        "SSH logins from sshd's log, Docker API requests from a counting proxy in front of "
        "the engine's socket (by client: docker-py through the forwarded socket, or the "
        "docker/compose CLI run on the host).",
        "",
        "| containers | SSH logins | Docker API requests | by docker-py | by CLIs on the host | "
        "target (≤ 2 + N) |",
        "|---|---|---|---|---|---|",
    ]
    endpoints: dict[int, Counter[str]] = {}
    with CountingProxy(h1.docker_socket, proxy_path) as proxy:
        async with open_trail(inventory) as trail:
            for total in (5, 20):
                with extra_containers(bench.lab, total - base):
                    logins = bench.lab.login_count("h1")
                    proxy.requests.clear()
                    async with Transport(inventory.ssh) as transport:
                        await Operations(inventory, trail=trail, transport=transport).diagnose(
                            who, "lab"
                        )
                    await asyncio.sleep(0.2)
                    requests = list(proxy.requests)
                    logins = bench.lab.login_count("h1") - logins
                sdk = [r for r in requests if r[0].startswith("docker-sdk-python")]
                endpoints[total] = Counter(f"{m} {_endpoint(p)}" for _, m, p in sdk)
                lines.append(
                    f"| {total} | {logins} | {len(requests)} | {len(sdk)} | "
                    f"{len(requests) - len(sdk)} | {2 + total} |"
                )
    for total, counter in endpoints.items():
        top = ", ".join(f"{k} x{v}" for k, v in counter.most_common())
        lines.append(f"\ndocker-py's requests with {total} containers: {top}")
    lines += ["", *processes_per_run(bench)]
    return lines


def processes_per_run(bench: Bench) -> list[str]:
    if shutil.which("strace") is None:
        return ["(strace is not installed: programs per CLI run not counted)"]
    path = bench.inventory()
    out: list[str] = []
    trees = [("this tree", ROOT)] + ([("before", bench.before)] if bench.before else [])
    for label, tree in trees:
        with tempfile.NamedTemporaryFile(suffix=".strace") as trace:
            subprocess.run(
                ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace.name,
                 *bench.cli(tree, path, "diagnose", "lab", "--format", "json")],
                capture_output=True, env=bench.cli_env(tree), cwd=tree, check=False, timeout=300,
            )  # fmt: skip
            text = Path(trace.name).read_text(errors="replace")
        programs = Counter(
            Path(m[1]).name for m in re.finditer(r'execve\("([^"]+)".*\) = 0$', text, re.MULTILINE)
        )
        programs[Path(sys.executable).name] -= 1  # the CLI process itself
        spawned = +programs
        out.append(
            f"Programs executed by one `stackbot diagnose lab` ({label}; strace -f, the "
            f"embedded audit Postgres included): **{sum(spawned.values())}**: "
            + ", ".join(f"{k} x{v}" for k, v in spawned.most_common())
        )
    return out


# ------------------------------------------------------------------ main


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench speed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("part", nargs="?", default="all", choices=[*PARTS, "all"])
    parser.add_argument("--runs", type=int, default=10, help="alternating runs (default 10)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--before", type=Path, help="another checkout, for the before numbers")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # libraries' import-time deprecations, as the CLI does
    parts = PARTS if args.part == "all" else (args.part,)

    from tests.lab.lab import Lab

    lab = Lab()
    started_here = lab.start()
    work = Path(tempfile.mkdtemp(prefix="bench-speed-", dir=lab.run_dir))
    work.chmod(0o755)
    bench = Bench(lab=lab, dir=work, runs=args.runs, before=args.before)
    results = Results()
    header = machine()
    try:
        asyncio.run(_run(bench, parts, results))
    finally:
        results.write(args.out, header, only_these=parts != PARTS)
        shutil.rmtree(work, ignore_errors=True)
        if started_here:
            lab.stop()
        else:
            lab.close()


async def _run(bench: Bench, parts: tuple[str, ...], results: Results) -> None:
    fan_parts = {"fanout", "slack"} & set(parts)
    if "counts" in parts:
        results.add("counts", await part_counts(bench))
    if "manual" in parts:
        results.add("manual", await part_manual(bench))
    if not fan_parts:
        return
    from tests.lab.fanout import FanoutHosts

    with FanoutHosts(bench.lab, max(FAN_SIZES), black_holed=1) as fan:
        ensure_s1(bench.lab)
        if "fanout" in parts:
            results.add("fanout", await part_fanout(bench, fan))
        if "slack" in parts:
            results.add("slack", await part_slack(bench, fan))


if __name__ == "__main__":
    main(sys.argv[1:])
