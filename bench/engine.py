"""Engine overhead: `python -m automation create` against a bare Automation API `up`, same backend.

Both run the Octopus test project in a subprocess against one emulator and
one file backend, interleaved: a first create of a fresh feature (the stack,
a tenant, an override) and a re-run with nothing to change. `create` also
validates the feature and defaults, rebuilds and writes the stack config
(secrets through `pulumi config set --secret`), looks for pending operations
and records the change steps; `--skip-preflight` leaves out doctor's checks,
which need AWS. The ratio is what phoenix adds on top of the engine.
"""

from __future__ import annotations

import statistics
from typing import Callable

from bench import raw_up
from bench.report import Report
from bench.table import ratio, render
from bench.timing import run_command, timed

RUNS = 5
QUICK_RUNS = 2


def run(*, quick: bool = False) -> Report:
    from bench.sandbox import sandbox

    runs = QUICK_RUNS if quick else RUNS
    samples: dict[tuple[str, str], list[float]] = {}
    with sandbox() as box:
        env = box.env

        def cli(feature: str) -> Callable[[], object]:
            return lambda: box.cli("create", f"1.0.0-{feature}", "--skip-preflight", "--quiet")

        def raw(feature: str) -> Callable[[], object]:
            argv = raw_up.argv_for(box, {feature: f"1.0.0-{feature}"})
            return lambda: run_command(argv, env=env, cwd=box.work_dir)

        for index in range(runs):
            pair = {"create": cli(f"cli{index}"), "raw up": raw(f"raw{index}")}
            box.seed_releases(f"1.0.0-cli{index}", f"1.0.0-raw{index}")
            order = list(pair) if index % 2 == 0 else list(reversed(pair))
            for phase in ("first (3 resources created)", "again (no change)"):
                for name in order:
                    samples.setdefault((phase, name), []).append(timed(pair[name])[0])
        tenants = len(box.emulator.tenants())
        if tenants != 2 * runs or len(box.overrides()) != 2 * runs:
            raise RuntimeError(f"expected {2 * runs} tenants and overrides, found {tenants}")
    rows = []
    for phase in ("first (3 resources created)", "again (no change)"):
        cli_s = statistics.median(samples[(phase, "create")])
        raw_s = statistics.median(samples[(phase, "raw up")])
        rows.append((phase, cli_s, raw_s, ratio(cli_s / raw_s), f"+{cli_s - raw_s:.2f} s"))
    return Report(render(
        f"3. Engine overhead: `python -m automation create` vs a bare Automation API `up` "
        f"(median of {runs}, interleaved)",
        ["run", "create s", "raw up s", "ratio", "added"],
        rows,
        note=(
            "Both are subprocesses (interpreter start-up included) on the same file backend and emulator;\n"
            "create ran with --skip-preflight --quiet (doctor's checks need AWS)."
        ),
    ))
