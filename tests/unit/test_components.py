"""Network and Fleet on their own: each takes plain values and outputs, not the other component."""

from __future__ import annotations

import ipaddress

from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

from components.fleet import Fleet, FleetArgs
from components.network import Network, NetworkArgs, subnet_cidrs
from components.settings import parse_settings
from components.versioning import bootstrap_for
from tests.unit.conftest import FeatureMocks, run_inline, use_mocks
from tests.unit.sample_config import sample_config

PLAIN_KEY = "API-PLAINKEY0000000000000000"


def test_adding_a_zone_never_moves_an_existing_subnet() -> None:
    public2, private2 = subnet_cidrs("10.20.0.0/16", 2)
    public3, private3 = subnet_cidrs("10.20.0.0/16", 3)
    assert public3[:2] == public2 and private3[:2] == private2
    assert public2 == ["10.20.0.0/20", "10.20.16.0/20"]
    assert private2 == ["10.20.128.0/20", "10.20.144.0/20"]


def test_smallest_vpc_with_most_zones_still_gives_balancer_sized_subnets() -> None:
    public, private = subnet_cidrs("10.0.0.0/22", 6)
    blocks = [ipaddress.ip_network(c) for c in public + private]
    assert {b.prefixlen for b in blocks} == {26}
    assert len(set(blocks)) == 12


def test_network_alone_spreads_over_the_zones_it_was_given() -> None:
    mocks = FeatureMocks(region="us-east-1", zones=6)
    use_mocks(mocks)

    def program():
        network = Network("solo", NetworkArgs(cidr="10.0.0.0/22", az_count=6, nat="per_az", tags={"k": "v"}))
        return {"zones": network.availability_zones, "instances": network.instance_subnet_ids}

    result = run_inline(program)
    assert result["zones"] == [f"us-east-1{z}" for z in "abcdef"]
    assert len(result["instances"]) == 6
    subnets = [r for r in mocks.registered if r.typ == "aws:ec2/subnet:Subnet"]
    assert all(r.name.startswith("solo-") for r in mocks.registered if r.custom)
    assert all(s.inputs["tags"]["k"] == "v" for s in subnets)
    assert len([r for r in mocks.registered if r.typ == "aws:ec2/natGateway:NatGateway"]) == 6


def test_fleet_alone_keeps_even_a_plain_key_secret() -> None:
    mocks = FeatureMocks()
    use_mocks(mocks)
    settings = parse_settings(sample_config())

    def program():
        fleet = Fleet(
            "solo",
            FleetArgs(
                feature=settings.feature,
                settings=settings.fleet,
                bootstrap=bootstrap_for(settings),
                registration_key=PLAIN_KEY,
                vpc_id="vpc-0123456789abcdef0",
                vpc_cidr="10.9.0.0/16",
                public_subnet_ids=["subnet-a", "subnet-b"],
                instance_subnet_ids=["subnet-c", "subnet-d"],
            ),
        )
        return {"url": fleet.url, "group": fleet.group_name, "version": fleet.launch_template_version}

    result = run_inline(program)
    assert result["group"].endswith("-asg")
    assert result["version"] == "1", "the version the rollout recorded"
    parameter = next(r for r in mocks.registered if r.typ == "aws:ssm/parameter:Parameter")
    assert parameter.inputs["value"] == {_special_sig_key: _special_secret_sig, "value": PLAIN_KEY}
    group = next(r for r in mocks.registered if r.typ == "aws:autoscaling/group:Group")
    assert group.inputs["vpcZoneIdentifiers"] == ["subnet-c", "subnet-d"]
    # Without Octopus ids there is nothing to record on the group.
    assert not {t["key"] for t in group.inputs["tags"]} & {"phoenix:octopus-tenant", "phoenix:octopus-release"}
    balancer_group = next(r for r in mocks.registered if r.typ == "aws:ec2/securityGroup:SecurityGroup" and r.name == "solo-lb")
    assert balancer_group.inputs["egress"][0]["cidrBlocks"] == ["10.9.0.0/16"]
