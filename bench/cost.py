"""The estimate's price: what pricing a feature adds to synthesizing it, measured side by side.

create and preview synthesize the feature under Pulumi's mocks and price what
it declares before they touch anything, so the estimate must stay a small share
of a synth (it must not double it). Each case runs in this process, warm,
interleaved with the others; the budget's refusal, which synthesizes a second
time without NAT to say what would fit, is shown beside them.
"""

from __future__ import annotations

import gc

from bench.report import Report
from bench.table import ratio, render
from bench.timing import interleaved_medians

RUNS = 7
QUICK_RUNS = 3


def run(*, quick: bool = False) -> Report:
    from automation import config
    from automation.cost.budget import OverBudget, check
    from automation.cost.estimate import estimate
    from automation.cost.feature_cost import estimate_feature
    from automation.cost.prices import load_prices
    from automation.feature import parse_feature
    from automation.pulumi_cli import PROJECT_ROOT
    from automation.synth.command import synth_feature

    runs = QUICK_RUNS if quick else RUNS
    feature = parse_feature("ryan0001", "1.0.0-ryan0001")
    sources = config.load(PROJECT_ROOT)
    bare = config.load(PROJECT_ROOT, ("phoenix:network.nat=none",))
    environ: dict[str, str] = {}
    table = load_prices()
    synthesis = synth_feature(feature, sources=sources, environ=environ)  # warm: pulumi_aws imported once
    found = estimate(synthesis, table, ttl_hours=72)

    def refused() -> None:
        try:
            check(found, found.per_day / 2, table.region(found.region), origin="bench",
                  without_nat=lambda: estimate_feature(feature, sources=bare, work_dir=PROJECT_ROOT, environ=environ))
        except OverBudget:
            return
        raise AssertionError("the budget did not refuse")

    def collected(fn):
        """Each case starts from a collected heap, so no case pays for the garbage of the one before."""
        def run_case():
            gc.collect()
            return fn()
        return run_case

    medians = interleaved_medians(
        {
            "synth": collected(lambda: synth_feature(feature, sources=sources, environ=environ)),
            "synth + estimate": collected(lambda: estimate_feature(
                feature, sources=sources, work_dir=PROJECT_ROOT, environ=environ, table=table)),
            "estimate alone": lambda: estimate(synthesis, table, ttl_hours=72),
            "budget refusal": collected(refused),
        },
        runs,
    )
    base = medians["synth"]
    share = (medians["synth + estimate"] - base) / base
    rows = [
        ("synth of the defaults (baseline)", f"{base:.3f}", ratio(1.0)),
        ("synth + estimate (what create and preview add)", f"{medians['synth + estimate']:.3f}",
         ratio(medians["synth + estimate"] / base)),
        ("estimate alone, on that synthesis", f"{medians['estimate alone']:.5f}", ratio(medians["estimate alone"] / base)),
        ("budget refusal (estimate + a synth without NAT)", f"{medians['budget refusal']:.3f}",
         ratio(medians["budget refusal"] / base)),
    ]
    text = render(
        f"9. The cost estimate as a share of synth (median of {runs}, in-process, interleaved)",
        ["case", "seconds", "vs synth"],
        rows,
        note=f"Pricing {len(synthesis.resources)} resources into {len(found.lines)} lines adds "
             f"{medians['estimate alone'] * 1000:.2f} ms ({medians['estimate alone'] / base:.2%} of a synth);\n"
             f"synth + estimate measured {share:+.1%} against synth alone in this run (noise included).",
    )
    return Report(text=text, ok=medians["synth + estimate"] < 2 * base)
