"""Timing side by side: cases run interleaved in one loop, so a noisy neighbour slows all alike."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Callable, Mapping, Optional, Sequence, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(runs))


def interleaved_medians(cases: Mapping[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """The median of `runs` timings of each case, taken round-robin (a, b, c, a, b, c, ...)."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            samples[name].append(timed(fn)[0])
    return {name: statistics.median(values) for name, values in samples.items()}


class CommandFailed(RuntimeError):
    """A benchmarked command did not succeed; its measurement would mean nothing."""


def run_command(
    argv: Sequence[str],
    env: Optional[Mapping[str, str]] = None,
    cwd=None,
    *,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        list(argv), env=dict(env) if env is not None else None, cwd=cwd, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv[:6])} ... exited {done.returncode}: {done.stderr[-1500:]}")
    return done
