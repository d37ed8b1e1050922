"""The estimate as people read it: a table for the terminal and the CI step summary."""

from __future__ import annotations

from typing import Any

from automation.cost.estimate import HOURS_PER_DAY, Estimate


def money(value: float) -> str:
    """Cents for figures a person compares, tenths of a cent below 10 cents (an hour of a NAT gateway)."""
    return f"{value:.3f}" if abs(value) < 0.1 else f"{value:.2f}"


def _ttl(estimate: Estimate) -> str:
    if estimate.over_ttl is None:
        return "no TTL"
    return f"{money(estimate.over_ttl)} over its {estimate.ttl_hours:g} h TTL"


def headline(estimate: Estimate) -> str:
    """`estimated cost: 0.118 USD/hour, 2.83 USD/day, 8.49 over its 72 h TTL (eu-west-1, prices of 2024-06-01)`."""
    return (
        f"estimated cost: {money(estimate.per_hour)} {estimate.currency}/hour, "
        f"{money(estimate.per_day)} {estimate.currency}/day, {_ttl(estimate)} "
        f"({estimate.region}, prices of {estimate.prices_taken})"
    )


def text(estimate: Estimate) -> list[str]:
    """The headline, then one line per item, largest first."""
    rows = [(line.item, line.detail, money(line.hourly * HOURS_PER_DAY)) for line in estimate.largest(len(estimate.lines))]
    item_width = max((len(row[0]) for row in rows), default=0)
    detail_width = max((len(row[1]) for row in rows), default=0)
    lines = [headline(estimate)]
    lines += [f"  {item.ljust(item_width)}  {detail.ljust(detail_width)}  {day:>7}/day" for item, detail, day in rows]
    return lines


def markdown(estimate: Estimate) -> str:
    """A table for the CI step summary, ending with a blank line."""
    lines = [
        f"**Estimated cost** ({estimate.region}, {estimate.currency}, prices of {estimate.prices_taken}): "
        f"{money(estimate.per_hour)}/hour, {money(estimate.per_day)}/day, {_ttl(estimate)}",
        "",
        "| Item | What | Per day |",
        "| --- | --- | --- |",
    ]
    for line in estimate.largest(len(estimate.lines)):
        lines.append(f"| {line.item} | {line.detail} | {money(line.hourly * HOURS_PER_DAY)} |")
    return "\n".join(lines) + "\n\n"


def synthesis_lines(synthesis: Any) -> list[str]:
    """What synth shows of the estimate: its text, whether the budget would refuse it, or why there is none."""
    from automation.cost.feature_cost import BUDGET_SETTING, estimate_synthesis
    from automation.cost.prices import PriceError

    try:
        found = estimate_synthesis(synthesis)
    except PriceError as error:
        return [f"no cost estimate: {error}"]
    lines = text(found)
    budget = synthesis.config.get(BUDGET_SETTING)
    if isinstance(budget, (int, float)) and not isinstance(budget, bool) and found.per_day > budget:
        lines.append(f"  over feature.maxCostPerDay {money(budget)}: create and preview would refuse it (exit 2)")
    return lines


def estimate_json(synthesis: Any) -> dict[str, Any]:
    """The estimate in synth's JSON document; an `error` when the table cannot price it."""
    from automation.cost.feature_cost import estimate_synthesis
    from automation.cost.prices import PriceError

    try:
        return estimate_synthesis(synthesis).as_json()
    except PriceError as error:
        return {"error": str(error)}
