"""A sleeping feature under Pulumi's mocks: no instances, no NAT; everything else exactly as awake."""

from __future__ import annotations

import pytest

from automation.cost.estimate import estimate
from automation.cost.prices import load_prices
from tests.synth import sample

ASLEEP = "phoenix:asleep=true"


def by_address(synthesis) -> dict:
    return {f"{r.type.rsplit(':', 1)[-1]}:{r.name}": r for r in synthesis.resources}


@pytest.mark.parametrize(("nat", "gone"), [
    ("single", {"Eip:phoenix-network-nat-0", "NatGateway:phoenix-network-nat-0"}),
    ("per_az", {"Eip:phoenix-network-nat-0", "NatGateway:phoenix-network-nat-0",
                "Eip:phoenix-network-nat-1", "NatGateway:phoenix-network-nat-1"}),
    ("none", set()),
])
def test_sleep_removes_the_nat_and_the_instances_and_nothing_else(nat: str, gone: set) -> None:
    awake = by_address(sample.synthesize(overrides=(f"phoenix:network.nat={nat}",)))
    asleep = by_address(sample.synthesize(overrides=(f"phoenix:network.nat={nat}", ASLEEP)))
    assert set(awake) - set(asleep) == gone and set(asleep) <= set(awake)
    changed = {name for name in asleep if asleep[name].inputs != awake[name].inputs}
    private_tables = {name for name in awake if name.startswith("RouteTable:phoenix-network-private-")}
    assert changed == {"Group:phoenix-fleet-asg"} | private_tables
    group = asleep["Group:phoenix-fleet-asg"].inputs
    assert (group["minSize"], group["desiredCapacity"], group["maxSize"]) == (0, 0, 2)
    for table in private_tables:
        assert asleep[table].inputs["routes"] == [], "no way out through a NAT gateway that is gone"
    # Neither the launch template (its stamp) nor the rollout changes: no refresh on sleep or wake.
    for name in ("LaunchTemplate:phoenix-fleet-lt", "RolloutGate:phoenix-fleet-rollout"):
        assert asleep[name].inputs == awake[name].inputs


def test_a_sleeping_feature_costs_only_what_stays() -> None:
    table = load_prices()
    region = table.region("eu-west-1")
    found = estimate(sample.synthesize(overrides=(ASLEEP,)), table, ttl_hours=72)
    assert found.per_hour == pytest.approx(
        region.application_load_balancer_hour + 2 * region.public_ipv4_hour + region.kms_key_month / 730
    )


@pytest.mark.parametrize("value", ["maybe", "1", "[true]"])
def test_the_recorded_state_must_be_a_flag(value: str) -> None:
    from automation.config import ConfigError

    with pytest.raises(ConfigError, match="phoenix:asleep: must be true or false"):
        sample.synthesize(overrides=(f"phoenix:asleep={value}",))
