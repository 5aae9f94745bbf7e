"""The database's own volume is nearly full.

Project ``shop`` whose db keeps its data on a size-limited volume (``local`` driver, a
128 MiB tmpfs: the lab's stand-in for a small dedicated disk). The shop grew (5,000
customers and orders), and someone left a manual dump inside the data directory: the
volume is about 93 % full, while the host's disks have plenty of room.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Required, Scenario
from tests.lab.corpus_builders import cname, exec_in, shop
from tests.lab.lab import Lab
from tests.lab.util import LabError

TARGET = 93  # % of the volume


def build(lab: Lab) -> None:
    volume = {
        "name": "shop_postgres_data",
        "driver": "local",
        "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=128m"},
    }
    shop(lab, volumes={"postgres_data": volume})
    client = lab.docker("h1")
    db, backend = cname("shop", "db"), cname("shop", "backend")
    exec_in(client, backend, ["python3", "/app/manage.py", "seed", "5000"])
    size, used = _df(lab, db)
    extra = int(size * TARGET / 100) - used
    if extra > 0:
        dump = "/var/lib/postgresql/data/pg_dumpall-2026-12-01.sql"
        exec_in(client, db, ["sh", "-c", f"head -c {extra * 1024} /dev/zero > {dump}"])
    size, used = _df(lab, db)
    if not 90 <= 100 * used / size < 97:
        raise LabError(f"the db volume is {100 * used / size:.0f} % full")


def _df(lab: Lab, db: str) -> tuple[int, int]:
    """(size, used) in KiB of the db's data directory's filesystem."""
    out = exec_in(lab.docker("h1"), db, ["df", "-P", "-k", "/var/lib/postgresql/data"])[1]
    fields = out.strip().splitlines()[-1].split()
    return int(fields[1]), int(fields[2])


SCENARIO = Scenario(
    id="db-volume-nearly-full",
    title="the db's 128 MiB data volume is 93 % full (the host's disks are not)",
    family="database",
    build=build,
    expect=Expect(
        required=(Required(code="volume.nearly_full", subject="shop"),),
        forbidden=("disk.low", "db.unreachable", "volume.orphaned_data"),
    ),
)
