"""Plain-text tables for benchmark output: aligned columns, nothing else."""

from __future__ import annotations

import textwrap
from typing import Sequence


def render(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    note: str = "",
    wrap: int = 64,
) -> str:
    """A titled table; cells longer than `wrap` wrap onto more lines; `note` follows the table."""
    cells = [[str(c) for c in header]] + [[_wrapped(fmt(c), wrap) for c in row] for row in rows]
    for number, row in enumerate(cells):
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} cells, the header {len(header)}")
    widths = [max(len(line) for row in cells for line in row[i].splitlines() or [""]) for i in range(len(header))]
    lines = [title, "=" * len(title)]
    for n, row in enumerate(cells):
        # A cell may span lines (a long explanation); the other cells stay on the first.
        split = [cell.splitlines() or [""] for cell in row]
        for depth in range(max(len(parts) for parts in split)):
            parts = [cell[depth] if depth < len(cell) else "" for cell in split]
            lines.append("  ".join(part.ljust(widths[i]) for i, part in enumerate(parts)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if note:
        lines.append("")
        lines.extend(note.strip("\n").splitlines())
    return "\n".join(lines) + "\n"


def _wrapped(text: str, width: int) -> str:
    lines = []
    for line in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(line, width, subsequent_indent="  ") or [""])
    return "\n".join(lines)


def fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    if value is None:
        return "-"
    return str(value)


def ratio(value: float) -> str:
    """A ratio as the tables print it: 2.41x."""
    return f"{value:.2f}x"
