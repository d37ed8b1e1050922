"""feature.maxCostPerDay: a feature whose estimate is over it is refused before anything is created.

The refusal names the largest items and the settings that would bring the
estimate under the budget, each worked out from a real estimate: network.nat
by synthesizing the feature without NAT (the resources change), a smaller
instance type by pricing the same instances at its price (only the price does).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from automation.cost.estimate import HOURS_PER_DAY, Estimate, Line
from automation.cost.prices import PriceError, RegionPrices
from automation.cost.render import money
from automation.errors import InputError

#: The override that takes the NAT gateways away (instances get public addresses instead).
NO_NAT = "phoenix:network.nat=none"


class OverBudget(InputError):
    """The feature's estimate is over feature.maxCostPerDay; nothing was created."""


def with_instance_type(estimate: Estimate, instance_type: str, prices: RegionPrices) -> Estimate:
    """The same resources with every instance priced as `instance_type`."""

    def swap(line: Line) -> Line:
        if line.instance_type is None or line.platform is None:
            return line
        return dataclasses.replace(
            line, instance_type=instance_type, unit_price=prices.instance_hour(instance_type, line.platform),
            detail=line.detail.replace(line.instance_type, instance_type),
        )

    return dataclasses.replace(estimate, lines=tuple(swap(line) for line in estimate.lines))


def cheaper_instance_types(estimate: Estimate, prices: RegionPrices) -> list[str]:
    """Instance types priced below the ones the feature runs, dearest first (the least change first)."""
    current = [line for line in estimate.lines if line.instance_type and line.platform]
    if not current:
        return []
    platform = current[0].platform or "linux"
    now = max(prices.instance_hour(line.instance_type or "", platform) for line in current)
    cheaper = [(by_platform[platform], name) for name, by_platform in prices.instances.items()
               if by_platform[platform] < now]
    return [name for _, name in sorted(cheaper, reverse=True)]


def suggestions(
    estimate: Estimate, budget: float, prices: RegionPrices, *, without_nat: Optional[Callable[[], Estimate]],
) -> list[str]:
    """Settings that bring the estimate under `budget`, each with the cost per day it would reach."""
    found: list[str] = []
    types = cheaper_instance_types(estimate, prices)
    fitting = [t for t in types if with_instance_type(estimate, t, prices).per_day <= budget]
    if fitting:
        chosen = fitting[0]
        found.append(f"fleet.instanceType: {chosen} ({money(with_instance_type(estimate, chosen, prices).per_day)}/day)")
    if without_nat is not None:
        bare = without_nat()
        if bare.per_day <= budget:
            found.append(f"network.nat: none ({money(bare.per_day)}/day)")
        elif types:
            both = [t for t in types if with_instance_type(bare, t, prices).per_day <= budget]
            if both:
                found.append(
                    f"network.nat: none with fleet.instanceType: {both[0]} "
                    f"({money(with_instance_type(bare, both[0], prices).per_day)}/day)"
                )
    return found


def check(
    estimate: Estimate, budget: Optional[float], prices: RegionPrices, *, origin: str,
    without_nat: Optional[Callable[[], Estimate]] = None,
) -> None:
    """Refuse (exit 2) when the estimate per day is over the budget; None is no budget."""
    if budget is None or estimate.per_day <= budget:
        return
    largest = ", ".join(
        f"{line.item}{f' ({line.detail})' if line.instance_type else ''} {money(line.hourly * HOURS_PER_DAY)}/day"
        for line in estimate.largest(3)
    )
    try:
        ways = suggestions(estimate, budget, prices, without_nat=without_nat)
    except PriceError:
        ways = []
    advice = (
        "settings that would bring it under: " + "; ".join(ways) if ways
        else "no single setting brings it under: lower fleet.desiredCapacity or raise the budget"
    )
    raise OverBudget(
        f"feature {estimate.feature!r} is estimated at {money(estimate.per_day)} {estimate.currency}/day, over "
        f"feature.maxCostPerDay {money(budget)}; nothing was created.\n"
        f"  budget: {origin}\n  largest items: {largest}\n  {advice}"
    )
