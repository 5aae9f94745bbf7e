"""Inode exhaustion: Docker's data filesystem has space left but almost no inodes.

Host h2 (environment ``small``: a 192 MiB tmpfs data root with 20,000 inodes): a
cache of small files (sessions, thumbnails) piled up beside Docker's data until 97 %
of the inodes were used; only a few MiB of space are. New files fail with "No space
left on device" although ``df -h`` shows room.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import H2, usage
from tests.lab.lab import Lab
from tests.lab.scenarios import fill_dir
from tests.lab.util import LabError


def build(lab: Lab) -> None:
    import os

    d = fill_dir() / "sessions"
    d.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(H2.data_root)
    for i in range(max(0, int(st.f_files * 0.97) - (st.f_files - st.f_ffree))):
        (d / f"sess_{i:06d}").touch()
    blocks, inodes = usage(H2.data_root)
    if inodes < 96 or blocks >= 85:
        raise LabError(f"h2: {blocks:.0f} % of blocks, {inodes:.0f} % of inodes used")


SCENARIO = Scenario(
    id="inode-exhaustion",
    title="h2's data filesystem: 97 % of inodes used by small files, space to spare",
    family="disk",
    environment="small",
    build=build,
    expect=Expect(
        required=(Required(code="disk.inodes_low", subject="h2-root"),),
        forbidden=("disk.low", "disk.logs_unrotated"),
    ),
)
