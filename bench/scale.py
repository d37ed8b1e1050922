"""Scale: `list` and `reap --dry-run` over 1, 10 and 50 feature stacks; `reap --parallel 1` vs 4.

The stacks are real: each feature is `up`ped with a tenant and an override in
the emulator (by the bare Automation API, two processes at a time, to save
time), all in one file backend. `list` reads each stack's last update, config
and outputs; `reap --dry-run` its last update and config. Their time per
stack must not grow as the backend fills (total time linear or better).
The reap comparison destroys 10 expired features out of 50 twice, once one
at a time and once four at a time, keeping the other 40 (--keep-file).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from typing import Any, Sequence

from bench import raw_up
from bench.report import Report
from bench.table import ratio, render
from bench.timing import CommandFailed, timed

SIZES = (1, 10, 50)
QUICK_SIZES = (1, 4, 8)
REAPED = 10
QUICK_REAPED = 3
RUNS = 3
QUICK_RUNS = 1
#: Growth of the time per stack that still counts as linear (these machines are noisy).
LINEAR_TOLERANCE = 1.25
POPULATE_PROCESSES = 2


def populate(box: Any, features: Sequence[str]) -> None:
    """`up` each feature (tenant + override) in a few processes side by side."""
    if not features:
        return
    box.seed_releases(*(f"1.0.0-{feature}" for feature in features))
    chunks = [features[i::POPULATE_PROCESSES] for i in range(POPULATE_PROCESSES)]
    processes = [
        subprocess.Popen(
            raw_up.argv_for(box, {f: f"1.0.0-{f}" for f in chunk}), env=box.env, cwd=box.work_dir,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for chunk in chunks if chunk
    ]
    for process in processes:
        _, err = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise CommandFailed(f"populating stacks failed: {err[-1500:]}")


def per_stack_rows(measured: dict[int, float]) -> list[tuple]:
    """(stacks, seconds, per stack, growth of the per-stack time, linear?) rows."""
    rows = []
    previous = None
    for size in sorted(measured):
        per = measured[size] / size
        growth = per / previous if previous else None
        linear = growth is None or growth <= LINEAR_TOLERANCE
        rows.append((size, measured[size], per, ratio(growth) if growth else "-", "yes" if linear else "NO"))
        previous = per
    return rows


def _median_time(box: Any, runs: int, *args: str) -> tuple[float, Any]:
    times, last = [], None
    for _ in range(runs):
        seconds, last = timed(lambda: box.cli(*args))
        times.append(seconds)
    return statistics.median(times), last


def run(*, quick: bool = False) -> Report:
    from bench.sandbox import sandbox

    sizes = QUICK_SIZES if quick else SIZES
    reaped = QUICK_REAPED if quick else REAPED
    runs = QUICK_RUNS if quick else RUNS
    listing: dict[int, float] = {}
    planning: dict[int, float] = {}
    reap_rows = []
    with sandbox() as box:
        features: list[str] = []
        for size in sizes:
            new = [f"s{index:03d}" for index in range(len(features) + 1, size + 1)]
            populate(box, new)
            features += new
            listing[size], listed = _median_time(box, runs, "list", "--json")
            if sorted(row["feature"] for row in json.loads(listed.stdout)) != features:
                raise RuntimeError(f"list did not show the {size} stacks")
            planning[size], planned = _median_time(box, runs, "reap", "--dry-run", "--older-than", "0s", "--json")
            if sum(1 for o in json.loads(planned.stdout) if o["action"] == "planned") != size:
                raise RuntimeError(f"reap --dry-run did not plan all {size} stacks")
            if box.stacks() != set(features):
                raise RuntimeError("a dry run changed the backend")

        keep_file = box.root / "keep.txt"
        for parallel, prefix in ((1, "p"), (4, "q")):
            doomed = [f"{prefix}{index:03d}" for index in range(1, reaped + 1)]
            populate(box, doomed)
            keep_file.write_text("\n".join(features) + "\n", encoding="utf-8")
            seconds, done = timed(lambda: box.cli(
                "reap", "--older-than", "0s", "--keep-file", str(keep_file), "--parallel", str(parallel), "--quiet",
            ))
            destroyed = [line for line in done.stdout.splitlines() if ": destroyed" in line]
            left = {t["Name"] for t in box.emulator.tenants()}
            if len(destroyed) != reaped or left != set(features) or box.stacks() != set(features):
                raise RuntimeError(f"reap --parallel {parallel} did not destroy exactly the {reaped} expired features")
            reap_rows.append((f"--parallel {parallel}", reaped, len(features), seconds, seconds / reaped))
    speedup = reap_rows[0][3] / reap_rows[1][3]
    tables = [
        render(
            f"4a. `list` over N feature stacks (median of {runs})",
            ["stacks", "seconds", "per stack", "per-stack growth", "linear or better"],
            per_stack_rows(listing),
        ),
        render(
            f"4b. `reap --dry-run` over N feature stacks (median of {runs})",
            ["stacks", "seconds", "per stack", "per-stack growth", "linear or better"],
            per_stack_rows(planning),
            note=f"Growth is this size's time per stack over the previous size's; up to {LINEAR_TOLERANCE}x counts as linear.",
        ),
        render(
            f"4c. `reap` of {reaped} expired features among {len(features) + reaped} stacks",
            ["run", "destroyed", "kept", "seconds", "per feature"],
            reap_rows,
            note=f"--parallel 4 vs --parallel 1: {ratio(speedup)} as fast, on {os.cpu_count() or '?'} cores.",
        ),
    ]
    return Report("\n".join(tables))
