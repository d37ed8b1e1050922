"""What every benchmark returns: its printed tables and whether it found a problem."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    text: str
    ok: bool = True
    """False when the run found a problem (the soak's reconciliation, a bad-input row, an unexplained call)."""
