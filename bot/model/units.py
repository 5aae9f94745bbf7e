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


def human_duration(seconds: float) -> str:
    """``45 s``, ``2 min 5 s``, ``1 h 3 min``, ``2 d 4 h``: the two largest units."""
    total = max(0, round(seconds))
    parts = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    out: list[str] = []
    for unit, size in parts:
        if total >= size or (unit == "s" and not out):
            out.append(f"{total // size} {unit}")
            total %= size
        if len(out) == 2:
            break
    return " ".join(out) if out else "0 s"
