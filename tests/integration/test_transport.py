"""The SSH transport against real OpenSSH sshd hosts and a real dockerd, in the lab."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.inventory.config import Inventory, load_inventory
from bot.inventory.config.models import SSHEndpoint
from bot.model.errors import (
    AuthenticationFailed,
    CommandFailed,
    CommandTimeout,
    DatabaseMissing,
    DockerObjectNotFound,
    DockerUnavailable,
    HostKeyRejected,
    HostUnreachable,
)
from bot.transport import Transport
from tests.integration.inventories import ensure_scenario, lab_host, write_inventory
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab


@pytest.fixture
def inventory(lab: Lab, tmp_path: Path) -> Inventory:
    path = write_inventory(
        tmp_path / "inv.yaml",
        lab,
        {
            "lab": {"hosts": {"h1": lab_host(lab, "h1")}},
            "small": {"hosts": {"h2": lab_host(lab, "h2")}},
            "wrongkey": {
                "hosts": {"h1": lab_host(lab, "h1", private_key=str(lab.wrong_client_key))}
            },
            "wronghost": {
                "hosts": {"h1": lab_host(lab, "h1", known_hosts=str(lab.wrong_known_hosts))}
            },
            "nodocker": {"hosts": {"h1": lab_host(lab, "h1", docker_socket="/run/nothing.sock")}},
            "local": {
                "hosts": {
                    "me": {"address": "local", "docker_socket": str(lab.hosts["h1"].docker_socket)}
                }
            },
        },
        ssh={"idle_close": 0.3, "command_timeout": 20},
    )
    return load_inventory(path)


async def test_run_returns_a_record_and_argv_reaches_the_host_literally(
    lab: Lab, inventory: Inventory
) -> None:
    host = inventory.resolved_host("lab", "h1")
    tricky = ["it's", "a b", "$(touch /tmp/pwned)", "; rm -rf /", "`id`", "*"]
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        result = await session.run(["printf", "%s\\n", *tricky])
        assert result.stdout.splitlines() == tricky
        assert result.exit_status == 0 and result.argv[0] == "printf"
        assert result.duration > 0
        failed = await session.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
        assert (failed.exit_status, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
        with pytest.raises(CommandFailed) as info:
            await session.run(["ls", "/no/such/dir"])
        assert info.value.result.exit_status != 0 and "No such file" in info.value.result.stderr
    assert not await asyncio.to_thread(Path("/tmp/pwned").exists)


async def test_timeout_keeps_partial_output(lab: Lab, inventory: Inventory) -> None:
    host = inventory.resolved_host("lab", "h1")
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        with pytest.raises(CommandTimeout) as info:
            await session.run(["sh", "-c", "echo started; sleep 30"], timeout=1)
        assert isinstance(info.value, TimeoutError)
        assert info.value.stdout == "started\n"
        # the connection is still good afterwards
        assert (await session.run(["echo", "again"])).stdout == "again\n"


async def test_a_command_reading_stdin_gets_eof_and_never_waits(
    lab: Lab, inventory: Inventory
) -> None:
    """A prompt (compose's "Recreate volume? [y/N]") reads end of input at once: stdin is
    closed, so nothing hangs until the time limit and nothing answers for the user."""
    host = inventory.resolved_host("lab", "h1")
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        result = await session.run(
            ["sh", "-c", 'read answer; echo "read [$answer] status $?"'], timeout=10
        )
    assert result.stdout == "read [] status 1\n" and result.duration < 5


async def test_a_command_in_a_container_gets_its_own_time_limit(
    lab: Lab, inventory: Inventory
) -> None:
    ensure_scenario(lab, "healthy")
    host = inventory.resolved_host("lab", "h1")
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        # quiet for 2 s, then done: within its 5 s limit
        done = await session.docker.exec_run(
            "shop_db_1", ["sh", "-c", "sleep 2; echo done"], timeout=5
        )
        assert (done.exit_code, done.output) == (0, "done\n")
        with pytest.raises(CommandTimeout) as info:
            await session.docker.exec_run("shop_db_1", ["sleep", "30"], timeout=1)
        assert "sleep 30 (in shop_db_1)" in info.value.message and "1 s" in info.value.message
        # the shared client is unaffected
        assert (await session.docker.version()).api_version


async def test_docker_api_and_files_through_one_connection(lab: Lab, inventory: Inventory) -> None:
    host = inventory.resolved_host("lab", "h1")
    before = lab.login_count("h1")
    async with Transport(inventory.ssh) as transport:
        async with transport.session(host) as session:
            version = await session.docker.version()
            containers, info = await asyncio.gather(
                session.docker.containers(all=True), session.docker.info()
            )
            assert version.api_version and info.docker_root_dir
            assert isinstance(containers, list)
            with pytest.raises(DockerObjectNotFound):
                await session.docker.inspect_container("no-such-container")
            text = await session.read_file("/etc/hostname")
            assert text
        async with transport.session(host) as session:
            await session.docker.volumes()
        assert transport.ssh.logins == 1
    assert lab.login_count("h1") - before == 1


async def test_postgres_through_a_forwarded_port(lab: Lab, inventory: Inventory) -> None:
    ensure_scenario(lab, "healthy")
    db = lab.docker("h1").containers.get("shop_db_1")
    env = dict(item.split("=", 1) for item in db.attrs["Config"]["Env"])
    address = next(iter(db.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    host = inventory.resolved_host("lab", "h1")
    creds = {"user": env["POSTGRES_USER"], "password": env["POSTGRES_PASSWORD"]}
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        async with session.database(address=address, port=5432, dbname="shop", **creds) as pg:
            rows = await pg.fetch(
                "select count(*) from information_schema.tables where table_schema = %s", ["public"]
            )
            assert rows[0][0] > 0
        with pytest.raises(DatabaseMissing):
            async with session.database(address=address, port=5432, dbname="nope", **creds):
                pass


async def test_idle_connection_is_closed_and_reopened(lab: Lab, inventory: Inventory) -> None:
    host = inventory.resolved_host("lab", "h1")
    async with Transport(inventory.ssh) as transport:
        async with transport.session(host) as session:
            await session.run(["true"])
        assert transport.ssh.open_connections == 1
        await asyncio.sleep(1.0)  # idle_close is 0.3 s in this inventory
        assert transport.ssh.open_connections == 0
        async with transport.session(host) as session:
            await session.run(["true"])
        assert transport.ssh.logins == 2


async def test_concurrent_sessions_share_one_handshake(lab: Lab, inventory: Inventory) -> None:
    host = inventory.resolved_host("lab", "h1")
    async with Transport(inventory.ssh) as transport:

        async def one(i: int) -> str:
            async with transport.session(host) as session:
                return (await session.run(["echo", str(i)])).stdout.strip()

        assert await asyncio.gather(*(one(i) for i in range(10))) == [str(i) for i in range(10)]
        assert transport.ssh.logins == 1


async def test_refusals_say_why(lab: Lab, inventory: Inventory) -> None:
    async with Transport(inventory.ssh) as transport:
        with pytest.raises(HostKeyRejected) as key_info:
            async with transport.session(inventory.resolved_host("wronghost", "h1")):
                pass
        assert key_info.value.changed
        assert "SHA256:" in str(key_info.value) and lab.hosts["h1"].address in str(key_info.value)
        with pytest.raises(AuthenticationFailed, match="authentication refused"):
            async with transport.session(inventory.resolved_host("wrongkey", "h1")):
                pass
        with pytest.raises(DockerUnavailable, match=r"/run/nothing\.sock"):
            async with transport.session(inventory.resolved_host("nodocker", "h1")) as session:
                await session.docker.version()


async def test_unknown_host_key_is_refused_with_its_fingerprint(
    lab: Lab, inventory: Inventory, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = inventory.resolved_host("lab", "h1").model_copy(update={"known_hosts": empty})
    async with Transport(inventory.ssh) as transport:
        with pytest.raises(HostKeyRejected) as info:
            async with transport.session(host):
                pass
    assert not info.value.changed and "unknown" in str(info.value)
    assert info.value.fingerprint.startswith("SHA256:")


async def test_stopped_sshd_is_unreachable(lab: Lab, inventory: Inventory) -> None:
    lab.stop_sshd("h2")
    try:
        async with Transport(inventory.ssh) as transport:
            with pytest.raises(HostUnreachable, match="refused"):
                async with transport.session(inventory.resolved_host("small", "h2")):
                    pass
    finally:
        lab.start_sshd("h2")


async def test_local_session_uses_the_same_interface(lab: Lab, inventory: Inventory) -> None:
    host = inventory.resolved_host("local", "me")
    async with Transport(inventory.ssh) as transport, transport.session(host) as session:
        assert (await session.docker.version()).api_version
        assert (await session.run(["echo", "a b"])).stdout == "a b\n"
        with pytest.raises(CommandTimeout) as info:
            await session.run(["sh", "-c", "echo partial; sleep 10"], timeout=0.5)
        assert info.value.stdout == "partial\n"
        assert transport.ssh.logins == 0


async def test_jump_host_tunnels_the_connection(lab: Lab, inventory: Inventory) -> None:
    """Through a bastion: here h1 is its own jump host (its netns reaches only itself)."""
    h1 = inventory.resolved_host("lab", "h1")
    via_jump = h1.model_copy(
        update={"jump_host": SSHEndpoint(address=h1.address, port=h1.port, user=h1.user)}
    )
    before = lab.login_count("h1")
    async with Transport(inventory.ssh) as transport, transport.session(via_jump) as session:
        assert (await session.run(["echo", "tunnelled"])).stdout == "tunnelled\n"
        assert (await session.docker.version()).api_version
    assert lab.login_count("h1") - before == 2  # the bastion login, then the host's
