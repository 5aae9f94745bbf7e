"""Healthy, with a trap: an unused volume that is a backup, labelled as one.

Project ``shop`` is healthy; beside its data volume sits
``shop_postgres_data_backup_20261201``, a copy of it taken after the cluster was made
(labels ``org.example.purpose=backup``), mounted by nothing. An unused volume the same
size as the database's: orphaned data it is not (the running cluster is older than the
copy), so at most an info line.
"""

from __future__ import annotations

from bench.accuracy.model import Expect, Scenario
from tests.lab.corpus_builders import images, shop
from tests.lab.lab import Lab

BACKUP = "shop_postgres_data_backup_20261201"


def build(lab: Lab) -> None:
    shop(lab)
    client = lab.docker("h1")
    client.volumes.create(
        BACKUP, labels={"org.example.purpose": "backup", "org.example.source": "shop_postgres_data"}
    )
    client.containers.run(
        images.ref("busybox"),
        ["cp", "-a", "/from/.", "/to/"],
        volumes={
            "shop_postgres_data": {"bind": "/from", "mode": "ro"},
            BACKUP: {"bind": "/to", "mode": "rw"},
        },
        remove=True,
    )


SCENARIO = Scenario(
    id="healthy-backup-volume",
    title="healthy; trap: an unmounted volume holding a labelled backup of the db",
    family="healthy",
    build=build,
    expect=Expect(tolerated=("volume.unused",), forbidden=("volume.orphaned_data",)),
)
