"""The lab's images, built locally (no registry): Debian via debootstrap, busybox, services.

Every image is tagged with a hash of what built it (package list, slimming, Dockerfile
and context files), so a second lab start finds them in the persistent data root of h1
and rebuilds only what changed. Each repository also gets a stable ``:lab`` tag that the
compose files use.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from .config import CACHE_DIR, STACK_SRC
from .util import LabError, log, run, step

SUITE = "bookworm"
DEBIAN_PACKAGES = (
    "postgresql",
    "python3",
    "python3-psycopg2",
    "nginx-light",
    "redis-server",
    "iproute2",
    "procps",
    "ca-certificates",
    "netbase",
)
# What slimming removes from the rootfs (relative paths; globs allowed).
SLIM_PATHS = (
    "var/lib/apt/lists/*",
    "var/cache/apt/*",
    "var/cache/debconf/*-old",
    "var/log/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/i18n/*",
    "usr/share/lintian/*",
    "var/lib/postgresql/*",
    "etc/postgresql/*",
    "usr/lib/x86_64-linux-gnu/libLLVM-*",
    "usr/lib/x86_64-linux-gnu/libz3.so*",
    "usr/lib/postgresql/*/lib/llvmjit*",
    "usr/lib/postgresql/*/lib/bitcode",
)
SLIM_VERSION = "1"
REPO_PREFIX = "stackbot-lab"
HASH_LABEL = "org.stackbot-lab.hash"
SERVICE_IMAGES = ("postgres", "backend", "nginx", "redis")


def ref(name: str) -> str:
    """The stable reference compose files use, e.g. ``stackbot-lab/postgres:lab``."""
    return f"{REPO_PREFIX}/{name}:lab"


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- the Debian mirror


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 sources first, then sources.list)."""
    sources_d = Path("/etc/apt/sources.list.d")
    for path in sorted(sources_d.glob("*.sources")) if sources_d.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            enabled = fields.get("enabled", "yes").lower() != "no"
            if (
                enabled
                and "deb" in fields.get("types", "").split()
                and SUITE in fields.get("suites", "").split()
                and fields.get("uris")
            ):
                return fields["uris"].split()[0]
    lists = [Path("/etc/apt/sources.list")]
    if sources_d.is_dir():
        lists += sorted(sources_d.glob("*.list"))
    for path in lists:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                rest = [w for w in words[1:] if not w.startswith("[")]
                if len(rest) >= 2 and rest[1] == SUITE:
                    return rest[0]
    raise LabError(f"no Debian {SUITE} mirror found in /etc/apt/sources.list(.d)")


# ---------------------------------------------------------------- base images


def debian_hash() -> str:
    spec = json.dumps([SUITE, DEBIAN_PACKAGES, SLIM_PATHS, SLIM_VERSION]).encode()
    return _sha(spec)


def debian_tarball() -> Path:
    """The slimmed debootstrap rootfs as a tar, cached under CACHE_DIR (built once, ~60 s)."""
    h = debian_hash()
    tarball = CACHE_DIR / f"debian-{SUITE}-{h}.tar"
    if tarball.exists():
        return tarball
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    build = CACHE_DIR / "build"
    rootfs = build / f"rootfs-{h}"
    debs = CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.mkdir(parents=True)
    mirror = debian_mirror()
    with step(f"debootstrap {SUITE} ({len(DEBIAN_PACKAGES)} packages) from {mirror}"):
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={debs}",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                SUITE,
                str(rootfs),
                mirror,
            ],
            timeout=1200,
        )
    with step("slim the rootfs"):
        for pattern in SLIM_PATHS:
            for path in rootfs.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    with step("tar the rootfs"):
        tmp = tarball.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=out, check=True
            )
        tmp.rename(tarball)
    shutil.rmtree(rootfs)
    for old in CACHE_DIR.glob(f"debian-{SUITE}-*.tar"):
        if old != tarball:
            old.unlink()
    return tarball


def busybox_tar() -> tuple[bytes, str]:
    """A rootfs tar with /bin/busybox and its applet symlinks, and its hash."""
    binary = Path("/bin/busybox").read_bytes()
    applets = run(["/bin/busybox", "--list-full"]).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "tmp", "etc", "proc", "sys"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(binary)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(binary))
        for applet in sorted(set(applets)):
            if applet == "bin/busybox":
                continue
            info = tarfile.TarInfo(applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "/bin/busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(passwd))
    data = buf.getvalue()
    return data, _sha(binary, b"busybox-1")


def _has(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def _retag(client: docker.DockerClient, name: str, h: str) -> None:
    """Point :lab at the :h image and drop the other hash tags of this repository."""
    repo = f"{REPO_PREFIX}/{name}"
    image = client.images.get(f"{repo}:{h}")
    image.tag(repo, "lab")
    for other in client.images.list(name=repo):
        for tag in other.tags:
            if tag.startswith(f"{repo}:") and tag not in (f"{repo}:{h}", f"{repo}:lab"):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag, noprune=False)


def ensure_busybox(client: docker.DockerClient, host_name: str) -> str:
    data, h = busybox_tar()
    reference = f"{REPO_PREFIX}/busybox:{h}"
    if not _has(client, reference):
        with step(f"{host_name}: import busybox image"):
            client.api.import_image_from_data(
                data, repository=f"{REPO_PREFIX}/busybox", tag=h, changes=['CMD ["/bin/sh"]']
            )
    _retag(client, "busybox", h)
    return reference


def ensure_debian(client: docker.DockerClient) -> str:
    h = debian_hash()
    reference = f"{REPO_PREFIX}/debian:{h}"
    if not _has(client, reference):
        tarball = debian_tarball()
        with step(f"import {tarball.name} ({tarball.stat().st_size >> 20} MB)"):
            client.api.import_image_from_file(
                str(tarball),
                repository=f"{REPO_PREFIX}/debian",
                tag=h,
                changes=['CMD ["/bin/sh"]'],
            )
    _retag(client, "debian", h)
    return reference


# ---------------------------------------------------------------- service images


@dataclass(frozen=True)
class BuiltImage:
    name: str
    hash: str
    reference: str
    built: bool


def context_hash(context: Path, base_ref: str) -> str:
    parts = [base_ref.encode()]
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        parts += [str(path.relative_to(context)).encode(), path.read_bytes()]
    return _sha(*parts)


def ensure_service(client: docker.DockerClient, name: str, base_ref: str) -> BuiltImage:
    context = STACK_SRC / "images" / name
    h = context_hash(context, base_ref)
    reference = f"{REPO_PREFIX}/{name}:{h}"
    built = False
    if not _has(client, reference):
        with step(f"build {reference}"):
            try:
                client.images.build(
                    path=str(context),
                    tag=reference,
                    buildargs={"BASE": base_ref},
                    labels={HASH_LABEL: h},
                    rm=True,
                    forcerm=True,
                )
            except docker.errors.BuildError as exc:
                lines = "".join(str(chunk.get("stream", "")) for chunk in exc.build_log)
                raise LabError(f"building {name} failed: {exc}\n{lines[-3000:]}") from exc
        built = True
    _retag(client, name, h)
    return BuiltImage(name, h, reference, built)


def ensure_all(client: docker.DockerClient) -> dict[str, str]:
    """Every image h1 needs; returns name -> hash-tagged reference."""
    refs = {"debian": ensure_debian(client), "busybox": ensure_busybox(client, "h1")}
    for name in SERVICE_IMAGES:
        refs[name] = ensure_service(client, name, refs["debian"]).reference
    log("images ready: " + ", ".join(sorted(refs.values())))
    return refs
