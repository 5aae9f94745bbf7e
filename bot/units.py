"""Sizes for people: ``47.7 MB`` (decimal, as Docker prints them) or ``6.0 GiB`` (binary)."""

from __future__ import annotations

_DECIMAL = (1000, ("B", "kB", "MB", "GB", "TB"))
_BINARY = (1024, ("B", "KiB", "MiB", "GiB", "TiB"))


def human_size(size: int, *, binary: bool = False) -> str:
    """Whole bytes below the first unit, one decimal above it: ``512 B``, ``1.5 KiB``."""
    step, units = _BINARY if binary else _DECIMAL
    value = float(size)
    for unit in units[:-1]:
        if abs(value) < step:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{value:.1f} {units[-1]}"
