"""Program evaluation: the whole `__main__.py` under Pulumi mocks, and tenant look-ups among 200 tenants.

The program runs the way `synth` runs it (in-process, offline mocks, the unit
tests' sample config); its baseline is an empty program under the same mocks,
so the ratio is the cost of building the feature's resources. `synth` end to
end (a new interpreter that imports pulumi_aws) is compared with bare Python.

The look-ups run the Octopus client against one emulator holding first 1, then
200 tenants connected to the project: what pagination costs as Octopus fills
with features. The server's `partialName` is a contains-match, so a name
contained in every other one (`ryan` among `ryan0001`...) reads every page.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from bench.report import Report
from bench.table import ratio, render
from bench.timing import interleaved_medians, run_command

RUNS = 10
QUICK_RUNS = 3
LOOKUP_RUNS = 20
QUICK_LOOKUP_RUNS = 5
TENANTS = 200


def evaluation(runs: int) -> str:
    from automation import pulumi_cli
    from automation.synth import synthesize
    from tests.unit.sample_config import sample_config

    config = sample_config()
    found: dict[str, int] = {}

    def full() -> None:
        found["full"] = len(synthesize(config, stack="ryan0001").resources)

    def empty() -> None:
        found["empty"] = len(synthesize(config, stack="ryan0001", program=lambda: None).resources)

    full()  # imports pulumi_aws once; the medians below are warm
    medians = interleaved_medians({"full": full, "empty": empty}, runs)
    env = pulumi_cli.engine_env()
    env.pop("OCTOPUS_API_KEY", None)
    synth = [sys.executable, "-m", "automation", "synth", "ryan0001", "--version", "1.0.0-ryan0001", "--format", "json"]
    cold = interleaved_medians(
        {
            "synth": lambda: run_command(synth, env=env, cwd=pulumi_cli.PROJECT_ROOT),
            "bare": lambda: run_command([sys.executable, "-c", "pass"], env=env, cwd=pulumi_cli.PROJECT_ROOT),
        },
        max(1, runs // 2),
    )
    rows = [
        ("__main__.py, sample config", found["full"], medians["full"], ratio(medians["full"] / medians["empty"]),
         f"{medians['full'] / found['full'] * 1000:.1f} ms"),
        ("empty program (baseline)", found["empty"], medians["empty"], ratio(1.0), "-"),
        ("`automation synth` process", found["full"], cold["synth"], ratio(cold["synth"] / cold["bare"]),
         "vs `python -c pass`"),
    ]
    return render(
        f"5a. Program evaluation under Pulumi mocks (median of {runs}, in-process; synth: {max(1, runs // 2)})",
        ["program", "resources", "seconds", "ratio", "per resource"],
        rows,
        note="The first two ran warm in this process (pulumi_aws imported once before); the synth row\n"
             "is a new interpreter each time, imports included.",
    )


def lookups(runs: int) -> str:
    from components.octopus.client import OctopusClient
    from bench.sandbox import sandbox

    with sandbox() as box:
        emulator = box.emulator
        names = [f"ryan{index:04d}" for index in range(1, TENANTS + 1)]
        cases: dict[str, Callable[[OctopusClient], Any]] = {
            "find_tenant('ryan0001'): unique name": lambda c: c.find_tenant("ryan0001"),
            "find_tenant('ryan'): in every name, absent": lambda c: c.find_tenant("ryan"),
            "every tenant, 100 a page (client)": lambda c: c.tenants(),
            "every tenant, 30 a page (server default)": None,
            "releases of the project (version look-up)": lambda c: c.releases(c.find_project(box.names.project)["Id"]),
        }
        measured: dict[int, dict[str, tuple[int, float]]] = {}
        for count in (1, TENANTS):
            for name in names[len(emulator.tenants()):count]:
                emulator.seed_tenant(name, projects=[box.names.project], environments=[box.names.environment])
                box.seed_releases(f"1.0.0-{name}")
            measured[count] = _measure(box, cases, runs)
    rows = []
    for case in measured[1]:
        (one_requests, one_s), (many_requests, many_s) = measured[1][case], measured[TENANTS][case]
        rows.append((case, one_requests, many_requests, one_s * 1000, many_s * 1000, ratio(many_s / one_s)))
    return render(
        f"5b. Octopus look-ups with 1 and {TENANTS} tenants (and releases) in the project (median of {runs})",
        ["look-up", "requests (1)", f"requests ({TENANTS})", "ms (1)", f"ms ({TENANTS})", "time ratio"],
        rows,
        note="Requests are counted in the emulator's log (one space look-up included); the client pages 100 at a time.",
    )


def _measure(box: Any, cases: dict[str, Any], runs: int) -> dict[str, tuple[int, float]]:
    from components.octopus.client import OctopusClient

    emulator = box.emulator
    results: dict[str, tuple[int, float]] = {}
    for case, call in cases.items():
        page_size = 30 if call is None else None
        call = call or (lambda c: c.tenants())

        def once(call=call, page_size=page_size) -> None:
            options = {"page_size": page_size} if page_size else {}
            with OctopusClient(emulator.url, emulator.api_key, **options) as client:
                call(client)

        emulator.clear_log()
        once()
        requests = len(emulator.request_log)
        results[case] = (requests, interleaved_medians({case: once}, runs)[case])
    return results


def run(*, quick: bool = False) -> Report:
    return Report("\n".join([
        evaluation(QUICK_RUNS if quick else RUNS),
        lookups(QUICK_LOOKUP_RUNS if quick else LOOKUP_RUNS),
    ]))
