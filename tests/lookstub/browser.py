"""Debian's headless Chromium: the layout of a page (``--dump-dom``) and its picture.

Each run gets a fresh profile directory and no network, sync or updates.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["chromium", "layout", "screenshot"]

TIMEOUT = 90.0


def chromium() -> str | None:
    """The browser's path, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, width: int, height: int, *extra: str) -> subprocess.CompletedProcess[str]:
    browser = chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="stackbot-look-") as profile:
        argv = [
            browser,
            "--headless",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *extra,
            page.resolve().as_uri(),
        ]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=True)


def layout(page: Path, width: int, height: int = 2000) -> dict[str, Any]:
    """What the page's measuring script wrote into its title, at ``width`` CSS pixels."""
    dom = _run(page, width, height, "--dump-dom").stdout
    match = re.search(r"<title>(.*?)</title>", dom, re.S)
    if match is None:
        raise RuntimeError(f"no title in the dumped DOM of {page}")
    found: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return found


def screenshot(page: Path, png: Path, width: int, height: int) -> Path:
    """A ``width`` by ``height`` picture of the page (its top, when it is longer)."""
    _run(page, width, height, f"--screenshot={png.resolve()}")
    return png
