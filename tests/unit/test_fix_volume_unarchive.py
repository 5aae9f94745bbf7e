"""volume.unarchive ("restore this snapshot") against fakes, and the snapshots fixes carry.

The lab tests (tests/integration/test_snapshot_restore.py) put a db.migrate snapshot back
on a real engine, through the action and through Slack; these pin the rules: an archive
is a file name in the backup directory whose sha256 must match, every container that
mounts the volume must be this environment's, the current content is archived first,
the containers stopped are always started again, a comparison that finds a difference
fails the restore and puts the previous content back; and every archive a fix takes is
a ``Snapshot`` on its outcome, with the exact params and command that put it back.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console

from bot.cli.fix import _print_result
from bot.framework.action import ActionResult, Plan, ReadOnlyHost, Snapshot, StepOutcome
from bot.inventory.config.models import Neighbour, StackConfig
from bot.render.slack import RESTORE, result_message, validate_blocks
from runbooks import fix_db_migrate, fix_volume_unarchive, load_actions
from runbooks.fix_volume_unarchive import Params
from tests.unit.diagnose.factories import container, lab_stack
from tests.unit.fakes import completed
from tests.unit.test_fix_db_and_volumes import (
    CHECK,
    DIGEST,
    MIGRATE,
    Session,
    WritingDocker,
    leaks,
    make_session,
)

VOLUME = "shop_pgdata"
ARCHIVE = f"{VOLUME}-20250101T120000Z.tar.gz"
DIRECTORY = "/var/backups/stackbot"
PATH = f"{DIRECTORY}/{ARCHIVE}"
MANIFEST = "ab" * 32
SAME = f"same entries=1204 files=987 manifest={MANIFEST}\n"


@dataclass
class UnarchiveDocker(WritingDocker):
    """Each helper's exit status (``statuses``, in order: archive, unpack, compare, …) and
    the output of those whose logs are read (``helper_logs``, in order)."""

    statuses: list[int] = field(default_factory=list)
    helper_logs: list[str] = field(default_factory=list)

    async def wait_container(self, ref: str, *, timeout: float) -> int:
        return self.statuses.pop(0) if self.statuses else 0

    async def logs(self, ref: str, *, tail: int = 50) -> str:
        if ref == "helper-id":
            return self.helper_logs.pop(0) if self.helper_logs else ""
        return await super().logs(ref, tail=tail)


def params(**changes: Any) -> Params:
    given = {"host": "web1", "volume": VOLUME, "archive": ARCHIVE, "sha256": DIGEST, "settle": 0}
    return Params.model_validate({**given, **changes})


def unarchive_host(
    *,
    kind: str = "regular file",
    stat_ok: bool = True,
    statuses: tuple[int, ...] = (),
    logs: tuple[str, ...] = (SAME,),
    extra: tuple[Any, ...] = (),
    volumes: tuple[str, ...] = (VOLUME,),
) -> tuple[Session, UnarchiveDocker]:
    stat = completed([], f"{kind}|52428800\n", status=0 if stat_ok else 1)
    session, base = make_session(
        [*lab_stack(), *extra],
        volumes=volumes,
        stat="52428800",
        commands={"%F|%s": stat},
    )
    docker = UnarchiveDocker(**{k: getattr(base, k) for k in base.__dataclass_fields__})
    docker.statuses, docker.helper_logs = list(statuses), list(logs)
    session._docker = docker
    return session, docker


async def planned(session: Session, p: Params | None = None) -> Plan:
    return await fix_volume_unarchive.plan(ReadOnlyHost(session), p or params())


# --- params -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "archive",
    ["../etc/shadow.tar.gz", "/var/backups/stackbot/x.tar.gz", ".hidden.tar.gz", "x.tar",
     "a/b.tar.gz", "..tar.gz", "", "x.tar.gz\n"],
)  # fmt: skip
def test_the_archive_is_a_file_name_in_the_backup_directory_never_a_path(archive: str) -> None:
    with pytest.raises(ValidationError):
        params(archive=archive)


def test_the_expected_sha256_and_the_directory_are_validated() -> None:
    for bad in ({"sha256": "5E" * 32}, {"sha256": "abc"}, {"backup_directory": "/proc/x"},
                {"backup_directory": "/var/backups/../etc"}, {"volume": "-x"}):  # fmt: skip
        with pytest.raises(ValidationError):
            params(**bad)


# --- plan -------------------------------------------------------------------------------


async def test_the_plan_stops_the_users_archives_first_unpacks_compares_and_starts() -> None:
    session, docker = unarchive_host()
    plan = await planned(session)
    assert plan.refusal is None and plan.destructive
    assert plan.target == {"volume": VOLUME, "archive": PATH}
    assert [s.description.split()[0] for s in plan.steps] == [
        "stop", "archive", "check", "compare", "start",
    ]  # fmt: skip
    assert plan.steps[0].call == "POST /containers/shop-db-1/stop?t=60"
    assert f"{VOLUME}:/data:ro" in plan.steps[1].call  # the current content, read-only
    unpack, compare = plan.steps[2].call, plan.steps[3].call
    assert f"'{VOLUME}:/data', '{DIRECTORY}:/backup:ro'" in unpack
    assert f"/backup/{ARCHIVE} {DIGEST}" in unpack  # the sha256 is checked in the helper too
    assert f"'{VOLUME}:/data:ro', '{DIRECTORY}:/backup:ro'" in compare
    assert plan.before == {
        "volume": VOLUME, "archive": PATH, "archive_sha256": DIGEST, "archive_size": 52428800,
        "mounted_by": ["shop-db-1"], "running": ["shop-db-1"], "image": "lab/postgres:16",
    }  # fmt: skip
    notes = " ".join(plan.notes)
    assert f"archived first to {DIRECTORY}/{VOLUME}-<UTC time>.tar.gz" in notes
    assert "undoes this restore" in notes
    assert docker.created == [] and docker.stopped == [] and docker.started == []
    assert ("sha256sum", "--", PATH) in session.commands
    assert ("stat", "-c", "%F|%s", "--", PATH) in session.commands
    assert not leaks(plan)


async def test_an_archive_of_another_volume_is_said_in_the_plan() -> None:
    session, _ = unarchive_host()
    plan = await planned(session, params(archive="shop-legacy_pgdata-20250101T120000Z.tar.gz"))
    assert plan.refusal is None
    assert any("does not start with shop_pgdata-" in note for note in plan.notes)


async def test_an_altered_archive_is_refused_naming_both_digests() -> None:
    session, docker = unarchive_host()
    plan = await planned(session, params(sha256="0" * 64))
    assert plan.refusal is not None and plan.empty
    assert f"has sha256 {DIGEST}, not {'0' * 64}" in plan.refusal
    assert "altered or replaced" in plan.refusal and docker.created == []


@pytest.mark.parametrize(
    ("kind", "stat_ok", "says"),
    [("regular file", False, f"no archive {ARCHIVE} in {DIRECTORY} on web1"),
     ("symbolic link", True, "is a symbolic link, not a regular file"),
     ("directory", True, "is a directory, not a regular file")],
)  # fmt: skip
async def test_a_missing_archive_or_one_that_is_no_regular_file_is_refused(
    kind: str, stat_ok: bool, says: str
) -> None:
    session, _ = unarchive_host(kind=kind, stat_ok=stat_ok)
    plan = await planned(session)
    assert plan.refusal is not None and says in plan.refusal
    assert not any(c[0] == "sha256sum" for c in session.commands)  # never read through a link


async def test_a_missing_volume_is_refused() -> None:
    session, _ = unarchive_host(volumes=())
    plan = await planned(session)
    assert plan.refusal == "volume shop_pgdata does not exist on web1"


async def test_a_volume_no_container_mounts_needs_an_image_the_host_has() -> None:
    session, _ = unarchive_host(volumes=(VOLUME, "loose"))
    plan = await planned(session, params(volume="loose"))
    assert plan.refusal is not None and "pass the param image" in plan.refusal


async def test_a_container_of_another_environment_that_mounts_the_volume_is_refused() -> None:
    staging = container("shop-staging-db-1", project="shop-staging", service="db",
                        image="lab/postgres:16", volumes=[VOLUME])  # fmt: skip
    session, docker = unarchive_host(extra=(staging,))
    session._host = session.host.model_copy(
        update={
            "stacks": {"shop": StackConfig()},
            "neighbours": (Neighbour(env="staging", hosts=("web1",), projects=("shop-staging",)),),
        }
    )
    plan = await planned(session)
    assert plan.refusal == (
        "shop-staging-db-1, which mounts shop_pgdata, belongs to environment staging, not "
        "prod: volume.unarchive would stop it; nothing was run"
    )
    assert docker.created == []


# --- apply ------------------------------------------------------------------------------


async def test_restore_archives_first_unpacks_compares_and_starts_the_database_again() -> None:
    session, docker = unarchive_host()
    plan = await planned(session)
    outcomes = await fix_volume_unarchive.apply(session, params(), plan)
    assert [o.ok for o in outcomes] == [True] * 5, outcomes
    db = docker.details["shop-db-1"].id
    assert docker.stopped == [db] and docker.started[-1] == db
    archive, unpack, compare = (body for _, body in docker.created)
    assert archive["Cmd"][:2] == ["tar", "-czf"] and archive["HostConfig"]["Binds"][0] == (
        f"{VOLUME}:/data:ro"
    )
    assert unpack["Cmd"][-2:] == [f"/backup/{ARCHIVE}", DIGEST]
    assert unpack["HostConfig"]["Binds"] == [f"{VOLUME}:/data", f"{DIRECTORY}:/backup:ro"]
    assert "find /data -mindepth 1 -delete" in unpack["Cmd"][2]
    assert unpack["Cmd"][2].index("sha256sum") < unpack["Cmd"][2].index("-delete")
    assert compare["HostConfig"]["Binds"] == [f"{VOLUME}:/data:ro", f"{DIRECTORY}:/backup:ro"]
    assert all(b["Image"] == docker.details["shop-db-1"].image_id for b in (unpack, compare))
    assert all(b["HostConfig"]["NetworkMode"] == "none" for b in (archive, unpack, compare))
    previous = outcomes[1].snapshot
    assert previous is not None and previous.volume == VOLUME and previous.sha256 == DIGEST
    assert previous.archive != ARCHIVE and previous.archive.startswith(f"{VOLUME}-")
    assert outcomes[3].detail == (
        f"{VOLUME} holds exactly what {ARCHIVE} holds: 1204 entries, 987 files, manifest "
        f"sha256 {MANIFEST}"
    )
    assert "answers (pg_isready" in outcomes[4].detail
    assert docker.execs == [(db, ("pg_isready", "-q"))]
    assert docker.removed == ["helper-id"] * 3  # every helper is removed


async def test_a_difference_after_the_unpack_fails_and_puts_the_previous_content_back() -> None:
    differs = "differ entries=1204\nf 00  ./base/1/1259\n"
    session, docker = unarchive_host(statuses=(0, 0, 3, 0), logs=(differs,))
    plan = await planned(session)
    outcomes = await fix_volume_unarchive.apply(session, params(), plan)
    assert [o.ok for o in outcomes] == [True, True, True, False, True, True], outcomes
    assert "does not hold what" in outcomes[3].detail and "./base/1/1259" in outcomes[3].detail
    previous = outcomes[1].snapshot
    assert previous is not None
    rollback = docker.created[-1][1]
    assert rollback["Cmd"][-2:] == [f"/backup/{previous.archive}", previous.sha256]
    assert outcomes[4].step.startswith("roll back") and "holds what it held before" in (
        outcomes[4].detail
    )
    assert docker.started[-1] == docker.details["shop-db-1"].id  # started again all the same


async def test_an_archive_altered_after_the_plan_changes_nothing_and_starts_the_db_again() -> None:
    mismatch = f"the archive's sha256 is not {DIGEST}: nothing changed\n"
    session, docker = unarchive_host(statuses=(0, 4), logs=(mismatch,))
    plan = await planned(session)
    outcomes = await fix_volume_unarchive.apply(session, params(), plan)
    assert [o.ok for o in outcomes] == [True, True, False, True], outcomes
    assert "nothing changed" in outcomes[2].detail and PATH in outcomes[2].detail
    assert len(docker.created) == 2  # no comparison, no roll back: the volume was not touched
    assert docker.started[-1] == docker.details["shop-db-1"].id


async def test_when_the_archive_of_the_current_content_fails_nothing_is_unpacked() -> None:
    session, docker = unarchive_host(statuses=(2,), logs=("tar: /data: Cannot open\n",))
    plan = await planned(session)
    outcomes = await fix_volume_unarchive.apply(session, params(), plan)
    assert [o.ok for o in outcomes] == [True, False, True], outcomes
    assert "tar exited 2" in outcomes[1].detail and outcomes[1].snapshot is None
    assert len(docker.created) == 1
    assert docker.started[-1] == docker.details["shop-db-1"].id


async def test_apply_refuses_a_plan_the_host_no_longer_matches() -> None:
    session, docker = unarchive_host()
    plan = await planned(session)
    stale = plan.model_copy(update={"steps": plan.steps[1:]})
    (outcome,) = await fix_volume_unarchive.apply(session, params(), stale)
    assert not outcome.ok and "plan again" in outcome.detail
    assert docker.created == [] and docker.stopped == []


def test_the_action_is_destructive_verifies_nothing_and_is_what_a_snapshot_names() -> None:
    action = load_actions()[Snapshot.RESTORE]
    assert action is fix_volume_unarchive.ACTION
    assert (action.name, action.destructive, action.verifies) == ("volume.unarchive", True, ())


# --- every archive a fix takes is a snapshot --------------------------------------------


async def test_the_db_migrate_snapshot_carries_the_exact_params_that_put_it_back() -> None:
    cfg = StackConfig(migrate_command=MIGRATE, migration_check_command=CHECK)
    session, _ = make_session(
        lab_stack(),
        stacks={"shop": cfg},
        execs={CHECK: (1, "pending\n"), MIGRATE: (0, "OK\n")},
        volumes=[VOLUME],
        stat="123456",
    )
    p = fix_db_migrate.Params(host="web1", stack="shop")
    plan = await fix_db_migrate.plan(ReadOnlyHost(session), p)
    outcomes = await fix_db_migrate.apply(session, p, plan)
    result = ActionResult(
        action="db.migrate", environment="prod", host="web1", target=plan.target,
        changed=True, plan=plan, outcomes=outcomes, status="applied",
    )  # fmt: skip
    (snapshot,) = result.snapshots
    assert snapshot.volume == VOLUME and snapshot.directory == DIRECTORY
    assert snapshot.sha256 == DIGEST and snapshot.size == 123456
    assert snapshot.path in outcomes[1].detail  # the audit row's text names the same archive
    restore = Params.model_validate(snapshot.restore_params("web1"))  # valid as given
    assert (restore.volume, restore.archive, restore.sha256) == (
        VOLUME, snapshot.archive, DIGEST,
    )  # fmt: skip


def _result(*snapshots: Snapshot, status: str = "applied") -> ActionResult:
    plan = Plan(action="db.migrate", target={"stack": "shop"}, destructive=True)
    outcomes = [StepOutcome(step=f"archive {s.volume}", ok=True, snapshot=s) for s in snapshots]
    outcomes.append(StepOutcome(step="run shop's migrate_command", ok=status == "applied"))
    return ActionResult.model_validate(
        {"action": "db.migrate", "environment": "prod", "host": "web1", "target": plan.target,
         "changed": True, "plan": plan, "outcomes": outcomes, "status": status}
    )  # fmt: skip


SNAPSHOT = Snapshot(volume=VOLUME, directory=DIRECTORY, archive=ARCHIVE, sha256=DIGEST, size=5000)
COMMAND = (
    f"stackbot fix volume.unarchive prod --param host=web1 --param volume={VOLUME} "
    f"--param archive={ARCHIVE} --param sha256={DIGEST} --param backup_directory={DIRECTORY}"
)


def test_the_result_thread_offers_restore_this_snapshot_with_a_dialog() -> None:
    message = result_message(_result(SNAPSHOT, status="failed"), audit_id="a1",
                             restore_values=["pending-id"])  # fmt: skip
    validate_blocks(message.blocks)
    text = str(message.blocks)
    assert COMMAND in text and PATH in text and DIGEST[:12] in text
    (actions,) = [b for b in message.blocks if b.get("block_id") == "restore"]
    (button,) = actions["elements"]
    assert button["action_id"] == f"{RESTORE}:0" and button["action_id"].startswith("fix:")
    assert button["value"] == "pending-id" and button["text"]["text"] == "Restore this snapshot"
    assert button["style"] == "danger"
    assert button["confirm"]["title"]["text"] == "Restore snapshot (prod)?"
    assert "archived first" in button["confirm"]["text"]["text"]


def test_without_a_stored_action_the_snapshot_is_named_with_its_command_only() -> None:
    two = SNAPSHOT.model_copy(update={"volume": "other", "archive": "other-x.tar.gz"})
    message = result_message(_result(SNAPSHOT, two), audit_id=None, restore_values=[None, "id2"])
    text = str(message.blocks)
    assert COMMAND in text and "Snapshots taken* (2)" in text
    (actions,) = [b for b in message.blocks if b.get("block_id") == "restore"]
    assert [(e["value"], e["text"]["text"]) for e in actions["elements"]] == [
        ("id2", "Restore snapshot 2")
    ]
    plain = result_message(_result(), audit_id=None)
    assert "Snapshot" not in str(plain.blocks)


def test_the_cli_prints_the_command_that_restores_each_snapshot() -> None:
    out = Console(record=True, width=400, file=io.StringIO())
    _print_result(out, _result(SNAPSHOT))
    printed = out.export_text()
    assert f"snapshot of {VOLUME}: {PATH} (sha256 {DIGEST}); to put it back:" in printed
    assert f"$ {COMMAND}" in printed
