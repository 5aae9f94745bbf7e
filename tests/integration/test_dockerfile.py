"""The project's Dockerfile, built in the lab's dockerd (no registry) and run there.

The wheel-house (stackbot and every dependency as wheels, plus pip's own wheel) is built
on this machine with this Python once and cached under the lab's cache directory, keyed
on pyproject.toml and the source tree. The image is built FROM the lab's Debian image
(Python 3.11, no pip, no ensurepip), so nothing is pulled; the image and its containers
are removed from h1's dockerd at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from tests.lab.config import CACHE_DIR
from tests.lab.lab import Lab
from tests.slackstub.server import DEFAULT_TOKEN, SlackStub
from tests.slackstub.signing import signed_headers, slash_command_body

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("bot", "runbooks")
REPOSITORY = "stackbot-test/stackbot"
SECRET = "dockerfile-signing-secret"
UID = 10001
STOP_BUDGET = 5.0  # seconds; Docker kills after 10

GOOD_INVENTORY = """\
version: 1
environments:
  prod:
    hosts: {web1: {address: 192.0.2.10}, web2: {address: 192.0.2.11}}
    access: {viewer: [UVIEWER]}
"""
BAD_INVENTORY = """\
version: 1
environments:
  prod:
    hosts: {web1: {address: 192.0.2.10, prot: 22}}
"""

# Run inside the container with its own Python: one signed request to serve on loopback.
REQUEST_SCRIPT = """\
import json, sys, urllib.request, urllib.error
body, headers = sys.argv[1].encode(), json.loads(sys.argv[2])
req = urllib.request.Request("http://127.0.0.1:3000/slack/events", data=body,
                             headers=headers, method="POST")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""


# ------------------------------------------------------------------------ the wheel-house


def source_hash() -> str:
    """pyproject.toml, the packages' files and the Python that builds the wheels."""
    h = hashlib.sha256(f"wheelhouse-1 {sys.version_info[:2]}".encode())
    files = [ROOT / "pyproject.toml"]
    for name in SOURCE_DIRS:
        files += sorted(
            p for p in (ROOT / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    for path in files:
        data = path.read_bytes()
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:16]


def build_wheelhouse(target: Path) -> None:
    """``pip wheel . -w target`` and pip's own wheel (the image has no pip)."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    with tempfile.TemporaryDirectory(prefix="stackbot-wheel-build-") as tmp:
        # Build from a copy: setuptools leaves build/ and *.egg-info in the source tree.
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        for name in SOURCE_DIRS:
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        for argv in (
            [*pip, "wheel", "--wheel-dir", str(target), str(src)],
            [*pip, "download", "--no-deps", "--only-binary=:all:", "-d", str(target), "pip"],
        ):
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
            assert proc.returncode == 0, f"{argv}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"


def wheelhouse() -> tuple[Path, bool]:
    """The cached wheel-house for this source tree, and whether this call built it."""
    assert sys.version_info[:2] == (3, 11), "the image's Python is 3.11: build wheels with 3.11"
    h = source_hash()
    final = CACHE_DIR / f"wheels-{h}"
    if (final / ".complete").exists():
        return final, False
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"wheels-{h}.tmp-", dir=CACHE_DIR))
    try:
        build_wheelhouse(tmp)
        (tmp / ".complete").write_text(h + "\n")
        try:
            tmp.rename(final)
        except OSError:  # another session finished the same wheel-house first
            if not (final / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Other source trees' wheel-houses, once no other session can be building from them.
    for old in CACHE_DIR.glob("wheels-*"):
        with contextlib.suppress(OSError):
            if old != final and time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)
    return final, True


# ------------------------------------------------------------------------ image, containers


@dataclass(frozen=True)
class Image:
    reference: str
    build_seconds: float
    wheelhouse_seconds: float
    wheelhouse_built: bool
    size: int
    base_size: int


@dataclass(frozen=True)
class Run:
    status: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def client(lab: Lab) -> docker.DockerClient:
    return lab.docker("h1")


@pytest.fixture(scope="module")
def image(lab: Lab, client: docker.DockerClient) -> Iterator[Image]:
    t0 = time.monotonic()
    wheels, built = wheelhouse()
    wheelhouse_seconds = time.monotonic() - t0
    base = lab.images["debian"]
    reference = f"{REPOSITORY}:{source_hash()}"
    with tempfile.TemporaryDirectory(prefix="stackbot-image-context-") as tmp:
        context = Path(tmp)
        for name in ("Dockerfile", ".dockerignore"):
            shutil.copy2(ROOT / name, context / name)
        shutil.copytree(wheels, context / "wheels")
        (context / "stray.txt").write_text("not sent: .dockerignore keeps only wheels/\n")
        t0 = time.monotonic()
        try:
            client.images.build(
                path=str(context), tag=reference, buildargs={"BASE": base}, rm=True, forcerm=True
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(chunk.get("stream", "")) for chunk in exc.build_log)
            pytest.fail(f"docker build failed: {exc}\n{log[-4000:]}", pytrace=False)
        build_seconds = time.monotonic() - t0
    built_image = client.images.get(reference)
    size = int(built_image.attrs["Size"])
    base_size = int(client.images.get(base).attrs["Size"])
    print(
        f"\n[dockerfile] wheel-house {'built' if built else 'cached'} in "
        f"{wheelhouse_seconds:.1f}s; image built in {build_seconds:.1f}s; "
        f"size {size / 1e6:.0f} MB ({(size - base_size) / 1e6:.0f} MB over the base)"
    )
    try:
        yield Image(reference, build_seconds, wheelhouse_seconds, built, size, base_size)
    finally:
        # The image's own containers, then the image and the build's dangling layers.
        for container in client.containers.list(all=True, filters={"ancestor": reference}):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True, v=True)
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(reference, force=True)
        with contextlib.suppress(docker.errors.APIError):
            client.images.prune(filters={"dangling": True})


@contextlib.contextmanager
def container(client: docker.DockerClient, image: Image, **kwargs: Any) -> Iterator[Any]:
    """A started container of the image (network off unless asked), removed afterwards."""
    kwargs.setdefault("network_mode", "none")
    made = client.containers.create(image.reference, detach=True, **kwargs)
    try:
        made.start()
        yield made
    finally:
        with contextlib.suppress(docker.errors.APIError):
            made.remove(force=True, v=True)


def run(client: docker.DockerClient, image: Image, **kwargs: Any) -> Run:
    with container(client, image, **kwargs) as made:
        status = int(made.wait(timeout=60)["StatusCode"])
        out = made.logs(stdout=True, stderr=False).decode()
        err = made.logs(stdout=False, stderr=True).decode()
    return Run(status, out, err)


def inventory_mount(tmp_path: Path, text: str) -> dict[str, dict[str, str]]:
    path = tmp_path / "stackbot.yaml"
    path.write_text(text)
    path.chmod(0o644)  # readable by the image's non-root user
    return {str(path): {"bind": "/etc/stackbot/stackbot.yaml", "mode": "ro"}}


@pytest.fixture
def lab_slack_api(lab: Lab) -> Iterator[SlackStub]:
    # on the root side of h1's link, so h1's containers reach it (on this machine)
    with SlackStub(DEFAULT_TOKEN, host=lab.hosts["h1"].root_address) as stub:
        yield stub


# ------------------------------------------------------------------------ tests


def test_image_metadata(client: docker.DockerClient, image: Image) -> None:
    config = client.images.get(image.reference).attrs["Config"]
    assert config["User"] == "stackbot"
    assert config["Entrypoint"] == ["stackbot"] and config["Cmd"] == ["serve"]
    assert config["StopSignal"] == "SIGTERM"
    assert "3000/tcp" in config["ExposedPorts"]
    assert "/var/lib/stackbot" in config["Volumes"]


def test_help_runs_as_the_non_root_user(client: docker.DockerClient, image: Image) -> None:
    result = run(client, image, command=["--help"])
    assert result.status == 0, result.stderr
    assert "usage: stackbot" in result.stdout and "check-config" in result.stdout
    who = run(client, image, entrypoint=["id"])
    assert who.status == 0 and who.stdout.startswith(f"uid={UID}(stackbot) gid={UID}(stackbot)")
    # Lean: no pip, no compiler, nothing left of the wheel-house.
    probe = (
        "import importlib.util as u, shutil, os; "
        "print(u.find_spec('pip'), shutil.which('gcc'), shutil.which('cc'), "
        "os.path.exists('/wheels'))"
    )
    lean = run(client, image, entrypoint=["python", "-c", probe])
    assert lean.stdout.split() == ["None", "None", "None", "False"], lean


def test_check_config_reads_the_default_path(
    client: docker.DockerClient, image: Image, tmp_path: Path
) -> None:
    result = run(
        client, image, command=["check-config"], volumes=inventory_mount(tmp_path, GOOD_INVENTORY)
    )
    assert result.status == 0, result.stderr
    assert "inventory OK" in result.stdout and "2 hosts" in result.stdout
    assert result.stderr == "", result.stderr  # no library warning reaches the user


def test_bad_inventory_exits_3_with_one_line(
    client: docker.DockerClient, image: Image, tmp_path: Path
) -> None:
    result = run(
        client, image, command=["check-config"], volumes=inventory_mount(tmp_path, BAD_INVENTORY)
    )
    assert result.status == 3, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stackbot: error: ")
    assert "environments.prod.hosts.web1.prot: unknown key" in lines[0]
    missing = run(client, image, command=["check-config"])  # nothing mounted
    assert missing.status == 3 and "no inventory at /etc/stackbot/stackbot.yaml" in missing.stderr


def test_serve_http_answers_and_stops_promptly_on_docker_stop(
    client: docker.DockerClient, image: Image, tmp_path: Path, lab_slack_api: SlackStub
) -> None:
    environment = {
        "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": lab_slack_api.api_url,
    }
    with container(
        client,
        image,
        network_mode="bridge",  # h1's default network: out through h1's link to the stand-in
        command=["serve", "--http"],
        environment=environment,
        volumes=inventory_mount(tmp_path, GOOD_INVENTORY),
    ) as server:
        deadline = time.monotonic() + 60
        logs = ""
        while "listening on http://0.0.0.0:3000" not in logs:
            server.reload()
            logs = server.logs().decode()
            assert server.status == "running", logs
            assert time.monotonic() < deadline, f"serve did not start listening:\n{logs}"
            time.sleep(0.2)
        # PID 1 is stackbot itself, as the non-root user.
        status = server.exec_run(["cat", "/proc/1/status"]).output.decode()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(UID)] * 4, uid_line
        # A request signed as Slack signs it is answered; a forged one is refused.
        body = slash_command_body(
            "help", user_id="UVIEWER", response_url=lab_slack_api.response_url()
        )
        for secret, want in ((SECRET, "200"), ("not-the-secret", "401")):
            headers = signed_headers(body, secret)
            answer = server.exec_run(
                ["python", "-c", REQUEST_SCRIPT, body.decode(), json.dumps(headers)]
            ).output.decode()
            assert answer.split(" ", 1)[0] == want, answer
            if want == "200":
                assert "/stack diagnose ENV" in answer
        assert lab_slack_api.calls("auth.test"), "the bot never reached SLACK_API_URL"
        assert lab_slack_api.violations == []
        # The data directory is the volume, owned by stackbot; the embedded audit Postgres
        # runs there as stackbot (no database_url), so on-call is on.
        ls = server.exec_run(["stat", "-c", "%U %a", "/var/lib/stackbot"]).output.decode()
        assert ls.split() == ["stackbot", "750"], ls
        pid = server.exec_run(["stat", "-c", "%U", "/var/lib/stackbot/postgres/postmaster.pid"])
        assert pid.exit_code == 0 and pid.output.decode().strip() == "stackbot", pid.output
        assert "on-call is off" not in server.logs().decode()
        t0 = time.monotonic()
        server.stop(timeout=10)
        stopped_in = time.monotonic() - t0
        state = client.api.inspect_container(server.id)["State"]
        logs = server.logs().decode()
        print(f"\n[dockerfile] docker stop took {stopped_in:.2f}s; exit {state['ExitCode']}")
        assert state["ExitCode"] == 0 and not state["OOMKilled"], logs
        assert stopped_in < STOP_BUDGET, f"docker stop took {stopped_in:.1f}s\n{logs}"
        assert "Traceback" not in logs, logs
