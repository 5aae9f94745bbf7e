"""json-file logs without rotation eat the disk.

Host h2 (environment ``small``, a 192 MiB tmpfs data root): project ``ingest`` runs a
``collector`` that logs every record it handles to stdout, with Docker's default
json-file driver and no ``max-size``. Its log grew until Docker's filesystem was
nearly 90 % full. The SSH user may stat the log files (``x`` on Docker's
``containers/`` directories, as a root login or a log shipper's ACL would give).
"""

from __future__ import annotations

from pathlib import Path

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import (
    H2,
    allow_log_stat,
    cname,
    compose,
    images,
    shop_dir,
    usage,
    wait_until,
)
from tests.lab.lab import Lab
from tests.lab.stack import write_compose

LINE = "2026-12-06T07:00:00Z INFO collector: record accepted source=edge-7 batch=88123 " + (
    "x" * 40
)
TARGET = 88.0  # % of h2's data filesystem


def build(lab: Lab) -> None:
    d = shop_dir("ingest")
    blocks, _ = usage(H2.data_root)
    size = _size(H2.data_root)
    # one json line: the text, the stream, the time, the quotes: ~63 bytes more than it
    lines = int((TARGET - blocks) / 100 * size / (len(LINE) + 64))
    collector = {
        "image": images.ref("busybox"),
        "command": ["sh", "-c", f'yes "{LINE}" | head -n {lines}; exec sleep 86400'],
        "restart": "unless-stopped",
    }
    write_compose(d, {"services": {"collector": collector}})
    compose(H2, d, "up", "-d")
    client = lab.docker("h2")
    name = cname("ingest", "collector")

    def written() -> bool:
        log_path = client.containers.get(name).attrs["LogPath"]
        return Path(log_path).stat().st_size >= 0.98 * lines * (len(LINE) + 60)

    wait_until(f"{name} wrote its log", written, timeout=120)
    allow_log_stat(H2)


def _size(path: object) -> int:
    import os

    st = os.statvfs(str(path))
    return st.f_blocks * st.f_frsize


SCENARIO = Scenario(
    id="logs-unrotated",
    title="a collector's json-file log without rotation filled h2's data disk to ~88 %",
    family="disk",
    environment="small",
    build=build,
    expect=Expect(
        required=(
            Required(code="disk.logs_unrotated", subject="collector"),
            Required(code="disk.low", subject="h2-root"),
        ),
        forbidden=("disk.inodes_low", "container.restarting"),
    ),
)
