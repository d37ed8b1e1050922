"""`python -m bench [NAME ...] [--quick]`: run the benchmarks, the bad-input table and the soak.

`python -m bench mutation [MODULE ...]` runs the mutation testing alone (hours for all
modules, so never part of the default run; `--resume` continues a stopped one, `--jobs N` checks N
mutants at once); see bench/mutation.py.

Every figure is a ratio or a count taken side by side in the same run;
seconds are printed, never judged. The exit code is 1 when the soak or the
bad-input table found a problem, or a benchmark failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from typing import Optional, Sequence

from bench.report import Report
from bench.table import render

BENCHMARKS = ("startup", "calls", "rollout", "engine", "scale", "program", "s3", "cost")
MODES = ("bad-input", "soak", "soak-s3")
NAMES = BENCHMARKS + MODES


def _run(name: str, args: argparse.Namespace) -> Report:
    """One benchmark's report; its module is imported only when it is chosen."""
    if name in ("soak", "soak-s3"):
        from bench import soak

        return soak.run(quick=args.quick, lifecycles=args.lifecycles, workers=args.workers,
                        seed=args.seed, max_minutes=args.max_minutes, s3=name == "soak-s3")
    module = importlib.import_module(f"bench.{name.replace('-', '_')}")
    if name == "mutation":
        return module.run(modules=args.names[1:], resume=args.resume, jobs=args.jobs)
    return module.run(quick=args.quick)


def mutation_modules() -> list[str]:
    from bench.mutation import MODULES

    return list(MODULES)


def _unknown_modules(names: Sequence[str]) -> list[str]:
    """The names after `mutation` that name no measured module."""
    from bench.mutation import resolve_module

    unknown = []
    for name in names:
        try:
            resolve_module(name)
        except ValueError:
            unknown.append(name)
    return unknown


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks, the bad-input table and the reliability soak; all on 127.0.0.1.",
        epilog="names: " + ", ".join(NAMES) + " (default: all of them, in this order); "
               "mutation [MODULE ...] alone",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="what to run (default: everything)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and a 16-lifecycle soak on 4 workers: a smoke run, minutes not tens")
    parser.add_argument("--lifecycles", type=int, metavar="N",
                        help="soak lifecycles in all (default 200, soak-s3 60; --quick 16)")
    parser.add_argument("--workers", type=int, metavar="N", help="soak workers, one stack each (default 8; --quick 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the soak's faults and choices (default 1)")
    parser.add_argument("--max-minutes", type=float, default=60.0, metavar="M",
                        help="the soak starts no lifecycle after M minutes (default 60)")
    parser.add_argument("--resume", action="store_true",
                        help="mutation: continue in each module's work folder (tests refreshed, survivors and "
                             "unchecked mutants run again) instead of starting afresh")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="mutation: mutants checked at once (default 1; more only with cores to spare, "
                             "as each runs its tests on one)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    mutation = args.names[:1] == ["mutation"]
    unknown = _unknown_modules(args.names[1:]) if mutation else [name for name in args.names if name not in NAMES]
    if unknown and mutation:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(mutation_modules())}")
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if args.resume and not mutation:
        parser.error("--resume continues a mutation run: python -m bench mutation --resume [MODULE ...]")
    if args.jobs != 1 and not mutation:
        parser.error("--jobs belongs to a mutation run: python -m bench mutation --jobs 2 [MODULE ...]")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.lifecycles is not None and args.lifecycles < 1 or args.workers is not None and args.workers < 1:
        parser.error("--lifecycles and --workers must be at least 1")
    chosen = ["mutation"] if mutation else [name for name in NAMES if name in args.names] or list(NAMES)

    from bench import machine

    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    print(render("Machine", ["", ""], machine.describe(), note=f"command: {command.strip()}"), flush=True)
    failed = []
    for name in chosen:
        started = time.monotonic()
        try:
            report = _run(name, args)
        except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the others
            report = Report(f"{name}: FAILED: {type(error).__name__}: {error}\n{traceback.format_exc(limit=4)}", ok=False)
        print(report.text, flush=True)
        print(f"({name}: {time.monotonic() - started:.0f} s)\n", flush=True)
        if not report.ok:
            failed.append(name)
    if failed:
        print(f"problems in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
