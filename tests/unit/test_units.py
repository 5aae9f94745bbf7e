"""One size formatter for findings and plans: decimal as Docker prints sizes, or binary."""

from __future__ import annotations

import pytest

from bot.model.units import human_size


@pytest.mark.parametrize(
    ("size", "binary", "text"),
    [
        (0, False, "0 B"),
        (999, False, "999 B"),
        (47_725_641, False, "47.7 MB"),
        (2_500_000_000_000, False, "2.5 TB"),
        (4_000_000_000_000_000, False, "4000.0 TB"),
        (512, True, "512 B"),
        (1536, True, "1.5 KiB"),
        (256 * 1024 * 1024, True, "256.0 MiB"),
        (6 * 1024**3, True, "6.0 GiB"),
    ],
)
def test_human_size(size: int, binary: bool, text: str) -> None:
    assert human_size(size, binary=binary) == text
