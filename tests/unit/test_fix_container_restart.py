"""container.restart's post-check: what must be gone for a restart to count as a cure."""

from __future__ import annotations

from bot.model.findings import Fix, Severity, Subject, make_finding
from runbooks.fix_container_restart import NAME, Params, remaining

WORKER = "shop-worker-1"
PARAMS = Params(host="web1", container=WORKER)


def restart_of(container: str) -> Fix:
    return Fix(action=NAME, params={"host": "web1", "container": container})


def test_its_own_findings_and_any_that_still_offer_this_restart_remain() -> None:
    down = make_finding("container.down", Severity.CRITICAL, "down", Subject(container=WORKER))
    stale = make_finding(
        "network.stale_upstream", Severity.CRITICAL, "stale", Subject(container=WORKER)
    )
    held = make_finding(  # the database's finding; its fix restarts the worker
        "db.connections_exhausted", Severity.CRITICAL, "full",
        Subject(container="shop-db-1", database="shop"), fixes=(restart_of(WORKER),),
    )  # fmt: skip
    other = make_finding(  # another container's restart: not this one's business
        "db.lock_blocking", Severity.WARNING, "lock",
        Subject(container="shop-db-1"), fixes=(restart_of("shop-cron-1"),),
    )  # fmt: skip
    unrelated = make_finding("disk.low", Severity.WARNING, "disk", Subject(host="web1"))
    assert remaining([down, stale, held, other, unrelated], PARAMS) == [down, stale, held]
    assert remaining([other, unrelated], PARAMS) == []
