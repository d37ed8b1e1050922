"""One feature's estimate, from the config create would write, and its budget check.

Synth runs the program under Pulumi's mocks with that config; the estimate
prices what it registered. create and preview call `checked_estimate` before
they touch a stack or Octopus, so a feature over its budget leaves nothing
behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from automation.cost.budget import NO_NAT, check
from automation.cost.estimate import Estimate, estimate
from automation.cost.prices import PriceError, PriceTable, load_prices
from automation.errors import InputError

BUDGET_SETTING = "phoenix:maxCostPerDay"


def ttl_hours(ttl: Any) -> Optional[float]:
    from automation.reap import parse_duration

    if not isinstance(ttl, str) or not ttl:
        return None
    try:
        return parse_duration(ttl).total_seconds() / 3600
    except ValueError:
        return None  # the settings check names a bad TTL


def estimate_synthesis(synthesis: Any, table: Optional[PriceTable] = None) -> Estimate:
    """Price what one synthesis declares, over the TTL its config gives the feature."""
    return estimate(synthesis, table or load_prices(), ttl_hours=ttl_hours(synthesis.config.get("phoenix:ttl")))


def estimate_feature(
    feature: Any, *, sources: Any, work_dir: Path, environ: Mapping[str, str],
    table: Optional[PriceTable] = None,
) -> Estimate:
    """Synthesize the feature offline and price what it declares."""
    from automation.synth.command import synth_feature

    synthesis = synth_feature(feature, sources=sources, work_dir=work_dir, environ=environ)
    return estimate_synthesis(synthesis, table)


def budget_origin(sources: Any) -> str:
    origin = sources.origin(BUDGET_SETTING)
    return f"{origin[0]}: {origin[1]}" if origin else BUDGET_SETTING


def checked_estimate(
    feature: Any, *, sources: Any, work_dir: Path, environ: Mapping[str, str], budget: Optional[float],
    sources_with: Callable[[Sequence[str]], Any], warn: Callable[[str], None],
) -> Optional[Estimate]:
    """The estimate, refused (exit 2) when it is over `budget`; `sources_with` adds --set overrides.

    Without a price for the region or instance type there is no estimate: a
    warning when there is no budget, a refusal when there is one to hold to.
    """
    table = load_prices()
    try:
        found = estimate_feature(feature, sources=sources, work_dir=work_dir, environ=environ, table=table)
    except PriceError as error:
        if budget is None:
            warn(f"no cost estimate: {error}")
            return None
        raise InputError(
            f"cannot hold feature {feature.id!r} to feature.maxCostPerDay ({budget_origin(sources)}):\n  {error}"
        ) from None
    network = sources.values.get("phoenix:network")
    has_nat = not (isinstance(network, Mapping) and network.get("nat") == "none")

    def without_nat() -> Estimate:
        return estimate_feature(
            feature, sources=sources_with((NO_NAT,)), work_dir=work_dir, environ=environ, table=table
        )

    check(found, budget, table.region(found.region), origin=budget_origin(sources),
          without_nat=without_nat if has_nat else None)
    return found
