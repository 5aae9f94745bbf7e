"""Draw S1's report, its thread, the recreate confirmation and the after-fix report.

python -m tests.lookstub DIR      # PNGs (and the HTML) in DIR
python -m tests.lookstub --readme # docs/report-s1.png, the README's picture
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.lookstub.browser import layout, screenshot
from tests.lookstub.pages import write_pages

README_PICTURE = Path(__file__).resolve().parents[2] / "docs" / "report-s1.png"
README_WIDTH = 600


def draw(page: Path, png: Path, width: int) -> Path:
    """``page`` drawn ``width`` pixels wide, exactly as tall as its content."""
    height = layout(page, width)["blocks"]["screen"]["bottom"]
    return screenshot(page, png, width, height)


def main(argv: list[str]) -> int:
    if argv == ["--readme"]:
        with tempfile.TemporaryDirectory() as work:
            pages = write_pages(Path(work), README_WIDTH)
            draw(pages.report, README_PICTURE, README_WIDTH)
        print(README_PICTURE)
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    for width in (400, 1280):
        pages = write_pages(out, width)
        for name in ("report", "thread", "confirm", "after_fix"):
            page: Path = getattr(pages, name)
            print(draw(page, page.with_suffix(".png"), width))
    shutil.copy(out / "report-400.png", out / "s1-phone.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
