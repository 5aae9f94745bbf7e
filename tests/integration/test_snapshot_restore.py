"""A snapshot taken before ``db.migrate`` puts the volume back to its pre-fix content
(issue #13), on the lab over SSH, under Compose v2 and v1.

Seed 003's class (S4: the app exited, its database has no tables), with a table of the
operator's own (``keepsake``, three rows) in the database before anything runs:

- through the action: ``db.migrate`` (its archive of the data volume is a snapshot on
  the outcome), then ``volume.unarchive`` with exactly the params the snapshot gives:
  the tables and rows are those of before the migration; the restore's own archive of
  the migrated content puts that back in turn (nothing made worse); an archive with
  another sha256, or one not in the backup directory, is refused and changes nothing;
- through Slack, where the environment asks for a second person's approval: the
  migration's result in the thread carries "Restore this snapshot"; clicking it asks
  for approval like the migration did, the approval restores, and the audit trail holds
  the restore's rows (who asked, who approved, the comparison that saw the volume equal
  the archive) and the migration's row the snapshot's sha256.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from pydantic import SecretStr

from bot.framework.action import ActionResult, Snapshot
from bot.inventory.access import needs_approval
from bot.inventory.config import Inventory, load_inventory
from bot.slack.app import SlackBot
from bot.slack.settings import SlackSettings
from bot.stores.audit.setup import open_trail
from bot.stores.audit.store import RowFilter
from tests.integration.compose_kinds import V2_AND_SAMPLED_V1
from tests.integration.inventories import lab_host, write_inventory
from tests.integration.test_cures import run  # plan, then execute it confirmed
from tests.integration.test_ownership import send
from tests.lab.lab import Lab
from tests.lab.stack import cname, exec_in
from tests.lab.util import LabError
from tests.slackstub.fixtures import slack_api
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import block_actions_body

pytestmark = pytest.mark.lab
__all__ = ["slack_api"]

ENV = "lab"
MIGRATE = ["python3", "/app/manage.py", "migrate"]
CHECK = ["python3", "/app/manage.py", "check_migrations"]
STACKS = {"hanna": {"compose_project": "hanna", "migrate_command": MIGRATE,
                    "migration_check_command": CHECK}}  # fmt: skip
VOLUME = "hanna_postgres_data"
KEEPSAKE = (
    "CREATE TABLE keepsake (id int PRIMARY KEY, note text NOT NULL); "
    "INSERT INTO keepsake VALUES (1, 'first'), (2, 'second'), (3, 'third')"
)
OPERATOR, APPROVER = "UOPERATOR", "UAPPROVER"
CHANNEL = "CDATA"
SECRET = "signing-secret-for-tests"  # tests/integration/test_ownership.py's send signs with it


@pytest.fixture(scope="module")
def backups(lab: Lab) -> Iterator[Path]:
    directory = lab.run_dir / "snapshot-backups"
    shutil.rmtree(directory, ignore_errors=True)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def inventory_of(lab: Lab, path: Path, **env: Any) -> Inventory:
    hosts = {"h1": lab_host(lab, "h1")}
    data = {ENV: {"hosts": hosts, "stacks": STACKS, **env}}
    return load_inventory(write_inventory(path, lab, data))


def psql(lab: Lab, sql: str) -> str:
    argv = ["psql", "-h", "/run/postgresql", "-U", "hanna", "-d", "hanna", "-Atc", sql]
    return exec_in(lab.docker("h1"), cname("hanna", "db"), argv)[1].strip()


def content(lab: Lab) -> tuple[set[str], str]:
    """The database's tables, and the keepsake's rows (once the server answers)."""
    tables = "select table_name from information_schema.tables where table_schema = 'public'"
    for _ in range(60):
        try:
            names = set(psql(lab, tables).split())
            rows = psql(lab, "select id, note from keepsake order by id") if names else ""
            return names, rows
        except (LabError, docker.errors.APIError):
            time.sleep(1)
    raise AssertionError("the database did not answer within 60 s")


def prepared(lab: Lab, compose: str) -> tuple[set[str], str]:
    """S4 with the operator's table in it: the content before any fix."""
    lab.scenario("S4", compose)
    psql(lab, KEEPSAKE)
    before = content(lab)
    assert before == ({"keepsake"}, "1|first\n2|second\n3|third")
    return before


def checked(snapshot: Snapshot, directory: Path) -> Path:
    """The archive is where the snapshot says, with the sha256 it says."""
    path = Path(snapshot.path)
    assert path.parent == directory and path.is_file()
    assert path.stat().st_size == snapshot.size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == snapshot.sha256
    return path


@pytest.mark.parametrize("compose", V2_AND_SAMPLED_V1)
def test_the_migrations_snapshot_puts_the_tables_and_rows_back(
    lab: Lab, tmp_path: Path, backups: Path, compose: str
) -> None:
    inventory = inventory_of(lab, tmp_path / "inv.yaml")
    before = prepared(lab, compose)
    _, migrated = run(inventory, "db.migrate", tmp_path, stack="hanna",
                      backup_directory=str(backups))  # fmt: skip
    assert migrated.status == "applied", [o.detail for o in migrated.outcomes]
    (snapshot,) = migrated.snapshots
    assert snapshot.volume == VOLUME
    checked(snapshot, backups)
    migrated_content = content(lab)
    assert {"app_migrations", "customers", "orders", "keepsake"} <= migrated_content[0]

    db = lab.docker("h1").containers.get(cname("hanna", "db"))
    # refused, nothing run: another sha256 (altered), an archive not in the directory
    for changes, says in (
        ({"sha256": "0" * 64}, "altered or replaced"),
        ({"archive": f"{VOLUME}-19990101T000000Z.tar.gz"}, "no archive"),
    ):
        raw = {**snapshot.restore_params("h1"), **changes}
        _, refused = run(inventory, "volume.unarchive", tmp_path, **raw)
        assert refused.status == "refused" and says in refused.message, refused.message
        assert not refused.changed and refused.outcomes == []
    db.reload()
    assert db.status == "running" and content(lab) == migrated_content

    params = {k: v for k, v in snapshot.restore_params("h1").items() if k != "host"}
    plan, restored = run(inventory, "volume.unarchive", tmp_path, settle=3, **params)
    assert [s.description.split()[0] for s in plan.steps] == [
        "stop", "archive", "check", "compare", "start",
    ]  # fmt: skip
    assert plan.before["running"] == [db.name]
    assert restored.status == "applied", [o.detail for o in restored.outcomes]
    compared = restored.outcomes[3].detail
    assert compared.startswith(f"{VOLUME} holds exactly what {snapshot.archive} holds:"), compared
    assert "answers (pg_isready" in restored.outcomes[4].detail
    assert content(lab) == before  # the tables and rows of before the migration
    db.reload()
    assert db.status == "running"
    assert not [c for c in lab.docker("h1").containers.list(all=True)
                if "stackbot-backup-" in str(c.name)]  # fmt: skip

    # nothing made worse: what the volume held is a snapshot too, and puts it back
    (undo,) = restored.snapshots
    assert undo.volume == VOLUME and undo.archive != snapshot.archive
    checked(undo, backups)
    back = {k: v for k, v in undo.restore_params("h1").items() if k != "host"}
    _, again = run(inventory, "volume.unarchive", tmp_path, settle=3, **back)
    assert again.status == "applied", [o.detail for o in again.outcomes]
    assert content(lab) == migrated_content


# v2 only: from the button on, nothing runs compose (volume.unarchive is Engine API and
# helper containers); the restore under v1 is the test above.
@pytest.mark.parametrize("compose", ["v2"])
async def test_restore_this_snapshot_from_the_result_thread_with_approval(
    lab: Lab, tmp_path: Path, backups: Path, slack_api: SlackStub, compose: str
) -> None:
    access = {"operator": [OPERATOR], "approver": [APPROVER]}
    inventory = inventory_of(lab, tmp_path / "inv.yaml", access=access, approval_required=True)
    before = await asyncio.to_thread(prepared, lab, compose)
    settings = SlackSettings(bot_token=SecretStr(DEFAULT_TOKEN), signing_secret=SecretStr(SECRET),
                             api_url=slack_api.api_url)  # fmt: skip
    assert inventory.data_dir is not None
    async with open_trail(inventory) as trail:
        bot = SlackBot(inventory, settings, trail=trail, lock_dir=inventory.data_dir / "locks")
        assert bot.pending is not None and trail.store is not None
        # the migration's button, stored as Offers.fix stores a report's (with the lab's
        # backup directory: the default one is outside the lab)
        given = {"host": "h1", "stack": "hanna", "backup_directory": str(backups)}
        posted = await bot.client.chat_postMessage(channel=CHANNEL, text="hanna is down")
        root = str(posted["ts"])
        migrate = await bot.pending.create(
            environment=ENV, action="db.migrate", requester=OPERATOR, params=given, host="h1",
            plan=await bot.operations.plan_fix(ENV, "db.migrate", given),
            channel=CHANNEL, message_ts=root,
            needs_approval=needs_approval(inventory, ENV, destructive=True),
        )  # fmt: skip
        await click_and_approve(bot, slack_api, "fix:migrate:0", str(migrate.id), root)
        (result,) = replies(slack_api, root, "db.migrate on")
        action_id, value, button = restore_button(result.blocks)
        assert button["style"] == "danger" and button["confirm"]["confirm"]["text"] == "Restore"
        assert f"stackbot fix volume.unarchive {ENV} --param host=h1 --param volume={VOLUME}" in (
            str(result.blocks)
        )
        assert {"app_migrations", "keepsake"} <= (await asyncio.to_thread(content, lab))[0]
        stored = await bot.pending.get(value)
        assert stored.action == Snapshot.RESTORE and stored.needs_approval
        snapshot = ActionResult.model_validate((await bot.pending.get(str(migrate.id))).result)
        exact = snapshot.snapshots[0].restore_params("h1")
        assert {k: stored.params[k] for k in exact} == exact

        await click_and_approve(bot, slack_api, action_id, value, root, thread=result.ts)
        (restored,) = replies(slack_api, root, "volume.unarchive on")
        assert ":white_check_mark:" in str(restored.blocks), restored.blocks
        assert await asyncio.to_thread(content, lab) == before
        # the restore's own snapshot is offered in turn (undo the restore)
        assert restore_button(restored.blocks)[1] != value
        await bot.drain()
        assert bot.failures == [] and not slack_api.violations

        rows = await trail.store.rows(RowFilter(action=Snapshot.RESTORE))
        kinds = [r.kind for r in rows]
        assert kinds[:4] == ["requested", "authorised", "planned", "confirmed"], kinds
        assert "started" in kinds and "finished" in kinds
        authorised = next(r for r in rows if r.kind == "authorised")
        assert authorised.details["approved_by"] == APPROVER
        assert (await bot.pending.get(value)).approval_requested_by == OPERATOR
        finished = next(r for r in rows if r.kind == "finished")
        assert finished.details["status"] == "applied"
        outcomes = " ".join(o["detail"] for o in finished.details["outcomes"])
        assert f"holds exactly what {snapshot.snapshots[0].archive} holds" in outcomes
        migrated = await trail.store.rows(RowFilter(action="db.migrate"))
        done = next(r for r in migrated if r.kind == "finished")
        assert f"sha256 {snapshot.snapshots[0].sha256}" in str(done.details["outcomes"])
        # and as data: the row names the archive the button restores, with its digest
        assert done.details["snapshots"] == [snapshot.snapshots[0].model_dump(mode="json")]


async def click_and_approve(
    bot: SlackBot, slack_api: SlackStub, action_id: str, value: str, root: str,
    thread: str | None = None,
) -> None:  # fmt: skip
    """The operator clicks; the environment asks for approval; the approver approves."""
    message = {"type": "message", "ts": thread or root, "text": "", "blocks": []}
    if thread:
        message["thread_ts"] = root
    click = block_actions_body(action_id, value, user_id=OPERATOR, channel_id=CHANNEL,
                               message_ts=thread or root, message=message)  # fmt: skip
    assert (await send(bot, click)).status == 200
    await bot.drain()
    asks = [m for m in slack_api.messages(CHANNEL) if m.thread_ts == root
            and "Approval needed" in m.text and value in str(m.blocks)]  # fmt: skip
    assert asks, [m.text for m in slack_api.messages(CHANNEL)]
    approve = block_actions_body(f"approve:{value}", value, user_id=APPROVER, channel_id=CHANNEL)
    assert (await send(bot, approve)).status == 200
    await bot.drain()


def replies(slack_api: SlackStub, root: str, starts: str) -> list[Any]:
    return [m for m in slack_api.messages(CHANNEL) if m.thread_ts == root
            and m.text.startswith(starts)]  # fmt: skip


def restore_button(blocks: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    (actions,) = [b for b in blocks if b.get("block_id") == "restore"]
    (button,) = actions["elements"]
    assert button["text"]["text"] == "Restore this snapshot"
    return str(button["action_id"]), str(button["value"]), button
