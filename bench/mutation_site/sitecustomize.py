"""Python's start-up hook in a test's subprocess while `python -m bench mutation` runs (never otherwise).

`bench.mutation_relay` puts this folder first on the PYTHONPATH of every process a test
starts. While mutmut collects which tests reach which function (MUTANT_UNDER_TEST=stats),
its trampolines record a hit in the process they run in, so a function reached only in a
subprocess (the dynamic-provider host, the synth CLI, the emulator) would count as
untested. Here each first hit is appended to a file in the relay's folder instead, where
the test process reads it back. Outside the stats run this does nothing.
"""

from __future__ import annotations

import os

HITS_ENV = "PHOENIX_MUTATION_HITS"


def _relay_hits(folder: str) -> None:
    try:
        from mutmut.mutation import trampoline
    except ImportError:  # an interpreter without mutmut (not this project's virtualenv)
        return
    path = os.path.join(folder, f"{os.getpid()}.hits")
    seen: set[str] = set()

    def record(name: str, caller: object = None) -> None:
        if name not in seen:
            seen.add(name)
            with open(path, "a", encoding="utf-8") as hits:
                hits.write(name + "\n")

    trampoline.record_trampoline_hit = record


if os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get(HITS_ENV):
    _relay_hits(os.environ[HITS_ENV])
