"""The estimate under Pulumi's mocks: what the program declares, priced from the table in the repository."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from automation.cost.estimate import FREE_TYPES, PRICED, UnpricedResource, estimate, unpriced_types
from automation.cost.prices import PriceError, load_prices
from automation.cost.render import headline, markdown, text
from automation.synth.model import SynthResource
from tests.synth import sample

TABLE = load_prices()
EU = TABLE.region("eu-west-1")


def priced(*overrides: str, ttl_hours: float = 72):
    return estimate(sample.synthesize(overrides=overrides), TABLE, ttl_hours=ttl_hours)


def items(found) -> dict[str, float]:
    """Quantity per item, summed over lines (two NAT gateways: 2)."""
    totals: dict[str, float] = {}
    for line in found.lines:
        totals[line.item] = totals.get(line.item, 0) + line.quantity
    return totals


@pytest.fixture(scope="module")
def defaults():
    return priced()


def test_the_defaults_line_by_line(defaults) -> None:
    assert items(defaults) == {
        "instances": 1, "volumes": 8, "load balancer": 1, "NAT gateway": 1, "public IPv4": 3, "KMS key": 1,
    }
    expected_hour = (
        EU.instances["t3.small"]["linux"] + 8 * EU.volume_gb_month["gp3"] / 730 + EU.application_load_balancer_hour
        + EU.nat_gateway_hour + 3 * EU.public_ipv4_hour + EU.kms_key_month / 730
    )
    assert defaults.per_hour == pytest.approx(expected_hour)
    assert defaults.per_day == pytest.approx(24 * expected_hour)
    assert defaults.over_ttl == pytest.approx(72 * expected_hour)
    assert defaults.largest(1)[0].item == "NAT gateway"


@pytest.mark.parametrize(("nat", "gateways", "addresses"), [("none", 0, 3), ("single", 1, 3), ("per_az", 2, 4)])
def test_each_nat_choice(defaults, nat: str, gateways: int, addresses: int) -> None:
    found = priced(f"phoenix:network.nat={nat}")
    assert items(found).get("NAT gateway", 0) == gateways
    # Without NAT the instance gets a public address; with it, each gateway has an elastic IP; the
    # load balancer has one per zone either way.
    assert items(found)["public IPv4"] == addresses
    instance_addresses = [line for line in found.lines if line.detail.endswith("instance addresses")]
    assert len(instance_addresses) == (1 if nat == "none" else 0)
    difference = found.per_hour - defaults.per_hour
    assert difference == pytest.approx(
        (gateways - 1) * (EU.nat_gateway_hour + EU.public_ipv4_hour) + (EU.public_ipv4_hour if nat == "none" else 0)
    )


@pytest.mark.parametrize(("instance_type", "capacity"), [("t3.micro", 1), ("t3.medium", 2), ("m6i.large", 2)])
def test_instance_type_and_capacity(defaults, instance_type: str, capacity: int) -> None:
    found = priced(f"phoenix:fleet.instanceType={instance_type}", "phoenix:fleet.maxSize=3",
                   f"phoenix:fleet.desiredCapacity={capacity}")
    [instances] = [line for line in found.lines if line.item == "instances"]
    assert (instances.quantity, instances.unit_price) == (capacity, EU.instances[instance_type]["linux"])
    assert instances.detail == f"{capacity} x {instance_type} (linux)"
    assert items(found)["volumes"] == 8 * capacity
    others = [line for line in found.lines if line.item not in ("instances", "volumes")]
    assert sum(line.hourly for line in others) == pytest.approx(
        sum(line.hourly for line in defaults.lines if line.item not in ("instances", "volumes"))
    )


def test_windows_instances_cost_their_licence_and_a_larger_root_volume() -> None:
    found = priced("phoenix:fleet.os=windows")
    [instances] = [line for line in found.lines if line.item == "instances"]
    assert instances.unit_price == EU.instances["t3.small"]["windows"] > EU.instances["t3.small"]["linux"]
    assert items(found)["volumes"] == 30


def test_the_region_decides_the_prices(defaults) -> None:
    found = priced("aws:region=us-east-1")
    assert found.region == "us-east-1"
    assert found.per_hour < defaults.per_hour
    [instances] = [line for line in found.lines if line.item == "instances"]
    assert instances.unit_price == TABLE.region("us-east-1").instances["t3.small"]["linux"]


@pytest.mark.parametrize(
    "overrides",
    [(), ("phoenix:network.nat=none",), ("phoenix:network.nat=per_az", "phoenix:network.azCount=3"),
     ("phoenix:fleet.os=windows",), ("phoenix:fleet.volumeKey=account",)],
)
def test_every_resource_the_program_declares_is_priced_or_free(overrides) -> None:
    """The test a new resource type fails until it gets a price (or a reason it is free)."""
    synthesis = sample.synthesize(overrides=overrides)
    assert unpriced_types([resource.type for resource in synthesis.resources]) == []


def test_a_resource_type_with_no_price_stops_the_estimate() -> None:
    synthesis = sample.synthesize()
    stranger = SynthResource(
        urn="urn:pulumi:ryan0001::phoenix::aws:rds/instance:Instance::db", type="aws:rds/instance:Instance",
        name="db", parent=synthesis.root().urn, custom=True, inputs={}, dependencies={}, physical_name=None,
    )
    with pytest.raises(UnpricedResource, match="aws:rds/instance:Instance"):
        estimate(dataclasses.replace(synthesis, resources=(*synthesis.resources, stranger)), TABLE, ttl_hours=72)


def test_priced_and_free_never_overlap() -> None:
    assert set(PRICED).isdisjoint(FREE_TYPES)


def test_a_region_or_instance_type_without_prices_is_named() -> None:
    with pytest.raises(PriceError, match=r"region 'ap-south-2' \(supported: .*eu-west-1"):
        priced("aws:region=ap-south-2")
    with pytest.raises(PriceError, match="instance type 'z1d.metal' in eu-west-1"):
        priced("phoenix:fleet.instanceType=z1d.metal")


def test_the_price_table_covers_every_region_for_both_platforms_and_names_its_date_and_source() -> None:
    assert date.fromisoformat(TABLE.taken) <= date.today()
    assert "AWS" in TABLE.source and "Price List" in TABLE.source
    types = set(TABLE.region("eu-west-1").instances)
    for region in TABLE.regions.values():
        assert set(region.instances) == types, region.region
        for prices in region.instances.values():
            assert 0 < prices["linux"] < prices["windows"]
        assert region.nat_gateway_hour > 0 and region.application_load_balancer_hour > 0


def test_the_windows_licence_costs_the_same_in_every_region_and_grows_with_the_size() -> None:
    """AWS charges the Windows licence per instance type, whatever the region: a Linux or Windows price
    typed wrong in one region shows here."""
    fees = {(name, instance_type): round(prices["windows"] - prices["linux"], 4)
            for name, region in TABLE.regions.items() for instance_type, prices in region.instances.items()}
    for instance_type in TABLE.region("us-east-1").instances:
        assert len({fee for (_, kind), fee in fees.items() if kind == instance_type}) == 1, instance_type
    fee = {kind: value for (name, kind), value in fees.items() if name == "us-east-1"}
    assert fee["t3.micro"] <= fee["t3.small"] <= fee["t3.medium"] < fee["t3.large"] < fee["t3.xlarge"]


def test_the_table_date_is_shown_wherever_the_estimate_is(defaults) -> None:
    assert f"prices of {TABLE.taken}" in headline(defaults)
    assert f"prices of {TABLE.taken}" in text(defaults)[0]
    assert f"prices of {TABLE.taken}" in markdown(defaults)
    assert defaults.as_json()["prices"] == {"taken": TABLE.taken, "source": TABLE.source}


def test_the_text_lists_items_largest_first_and_the_totals(defaults) -> None:
    lines = text(defaults)
    assert "USD/hour" in lines[0] and "USD/day" in lines[0] and "72 h TTL" in lines[0]
    assert lines[1].split()[:2] == ["NAT", "gateway"]
    assert len(lines) == 1 + len(defaults.lines)
    no_ttl = dataclasses.replace(defaults, ttl_hours=None)
    assert no_ttl.over_ttl is None and "no TTL" in headline(no_ttl)
