"""`Network`: the feature's VPC, its subnets across zones, and its way out."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import pulumi
import pulumi_aws as aws

from components.naming import named
from components.settings import DEFAULT_NAT, NatMode, SettingsError

#: Subnets are four bits longer than the VPC: 16 slots, public zones from slot 0 and
#: private zones from slot 8, so adding a zone never moves an existing subnet.
SUBNET_BITS = 4
PRIVATE_OFFSET = 8


def subnet_cidrs(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs, one of each per zone."""
    slots = [str(net) for net in ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=SUBNET_BITS)]
    if az_count > PRIVATE_OFFSET:
        raise ValueError(f"at most {PRIVATE_OFFSET} zones fit the subnet layout, not {az_count}")
    return slots[:az_count], slots[PRIVATE_OFFSET : PRIVATE_OFFSET + az_count]


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """What a feature's network is built from (validated by `parse_settings`)."""

    cidr: str
    """The VPC's IPv4 CIDR, /16 to /22 (`phoenix:network.cidr`)."""
    az_count: int
    """How many availability zones to spread across, looked up in the region (`azCount`)."""
    nat: NatMode = DEFAULT_NAT
    """`none`: instances in public subnets; `single`/`per_az`: private subnets behind NAT."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource (`naming.resource_tags`)."""
    asleep: bool = False
    """The feature sleeps: no NAT gateways (nor their addresses), which cost money idle and come back
    on waking; the private route tables stay, without their way out."""


class Network(pulumi.ComponentResource):
    """A VPC with public subnets for the load balancer and, with NAT, private ones for instances."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    instance_subnet_ids: pulumi.Output[list[str]]
    availability_zones: list[str]
    assign_public_ip: bool
    """Instances need a public address (NAT `none`): their only way out."""

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("phoenix:index:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc_cidr = args.cidr
        self.availability_zones = self._zones(args.az_count)
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, args.az_count)

        def tags(suffix: str) -> dict[str, str]:
            return named(args.tags, f"{name}-{suffix}")

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags=tags("public"),
            opts=child,
        )
        public = [
            self._subnet(name, "public", index, zone, cidr, vpc.id, public_routes.id, tags)
            for index, (zone, cidr) in enumerate(zip(self.availability_zones, public_cidrs))
        ]

        private: list[aws.ec2.Subnet] = []
        if args.nat != "none":
            zones = self.availability_zones if args.nat == "per_az" else self.availability_zones[:1]
            private_routes = [
                self._nat_routes(name, index, zone, vpc.id, public[index].id, gateway, tags, asleep=args.asleep)
                for index, zone in enumerate(zones)
            ]
            private = [
                self._subnet(
                    name, "private", index, zone, cidr, vpc.id,
                    private_routes[index if args.nat == "per_az" else 0].id, tags,
                )
                for index, (zone, cidr) in enumerate(zip(self.availability_zones, private_cidrs))
            ]

        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.assign_public_ip = args.nat == "none"
        self.instance_subnet_ids = self.public_subnet_ids if self.assign_public_ip else self.private_subnet_ids
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "instance_subnet_ids": self.instance_subnet_ids,
                "availability_zones": self.availability_zones,
            }
        )

    def _zones(self, count: int) -> list[str]:
        """The first `count` zones the account may use without opting in (no Local Zones)."""
        found = aws.get_availability_zones(
            state="available",
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOptions(parent=self),
        )
        names = sorted(found.names or [])
        if len(names) < count:
            raise SettingsError(
                "phoenix:network.azCount",
                f"{count} zones requested but the region offers only {len(names)} ({', '.join(names) or 'none'})",
            )
        return names[:count]

    def _subnet(
        self, name: str, tier: str, index: int, zone: str, cidr: str,
        vpc_id: pulumi.Input[str], route_table_id: pulumi.Input[str], tags: Callable[[str], dict[str, str]],
    ) -> aws.ec2.Subnet:
        child = pulumi.ResourceOptions(parent=self)
        subnet = aws.ec2.Subnet(
            f"{name}-{tier}-{index}",
            vpc_id=vpc_id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags=tags(f"{tier}-{zone}"),
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-{tier}-{index}", subnet_id=subnet.id, route_table_id=route_table_id, opts=child
        )
        return subnet

    def _nat_routes(
        self, name: str, index: int, zone: str, vpc_id: pulumi.Input[str], public_subnet_id: pulumi.Input[str],
        gateway: aws.ec2.InternetGateway, tags: Callable[[str], dict[str, str]], *, asleep: bool = False,
    ) -> aws.ec2.RouteTable:
        """A NAT gateway in a public subnet and the private route table that leads to it (asleep: the table only)."""
        child = pulumi.ResourceOptions(parent=self)
        if asleep:
            return aws.ec2.RouteTable(f"{name}-private-{index}", vpc_id=vpc_id, routes=[],
                                      tags=tags(f"private-{zone}"), opts=child)
        address = aws.ec2.Eip(f"{name}-nat-{index}", domain="vpc", tags=tags(f"nat-{zone}"), opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat-{index}",
            allocation_id=address.id,
            subnet_id=public_subnet_id,
            tags=tags(f"nat-{zone}"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        return aws.ec2.RouteTable(
            f"{name}-private-{index}",
            vpc_id=vpc_id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags=tags(f"private-{zone}"),
            opts=child,
        )
