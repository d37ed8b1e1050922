"""The estimate: what the resources one synthesis declares cost, line by line, from the price table.

It reads the resources the program registered (automation/synth), never the
settings they came from, so what is priced is what create would build. Every
resource type is either priced here or listed as free; any other type stops
the estimate (`UnpricedResource`), so a new resource fails a test instead of
counting as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from automation.cost.prices import PriceTable, RegionPrices
from automation.errors import PhoenixError
from automation.synth.model import SynthResource, Synthesis, address

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * HOURS_PER_DAY

#: Types that cost nothing while they exist (usage-based charges aside), each with why.
FREE_TYPES: Mapping[str, str] = {
    "pulumi:pulumi:Stack": "Pulumi's stack",
    "phoenix:index:FeatureEnvironment": "a component: its children are priced",
    "phoenix:index:Network": "a component: its children are priced",
    "phoenix:index:Fleet": "a component: its children are priced",
    "phoenix:index:FeatureKey": "a component: its children are priced",
    "phoenix:index:FeatureDomain": "a component: its children are priced",
    "pulumi-python:dynamic/octopus:Tenant": "Octopus, not AWS",
    "pulumi-python:dynamic/octopus:AutoDeployOverride": "Octopus, not AWS",
    "pulumi-python:dynamic/octopus:TenantVariables": "Octopus, not AWS",
    "pulumi-python:dynamic/rollout:RolloutGate": "starts instance refreshes; no AWS resource of its own",
    "aws:ec2/vpc:Vpc": "VPCs are free",
    "aws:ec2/subnet:Subnet": "subnets are free",
    "aws:ec2/internetGateway:InternetGateway": "internet gateways are free (data transfer aside)",
    "aws:ec2/routeTable:RouteTable": "route tables are free",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "route tables are free",
    "aws:ec2/securityGroup:SecurityGroup": "security groups are free",
    "aws:ec2/launchTemplate:LaunchTemplate": "free; its instances are priced on the group that launches them",
    "aws:autoscaling/lifecycleHook:LifecycleHook": "Auto Scaling itself is free",
    "aws:autoscaling/schedule:Schedule": "Auto Scaling itself is free",
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:iam/instanceProfile:InstanceProfile": "IAM is free",
    "aws:kms/alias:Alias": "aliases are free; the key is priced",
    "aws:lb/listener:Listener": "listeners are free; the load balancer is priced",
    "aws:lb/targetGroup:TargetGroup": "target groups are free; the load balancer is priced",
    "aws:route53/record:Record": "records are free; queries are usage (alias queries to a load balancer are free)",
    "aws:acm/certificate:Certificate": "public ACM certificates are free",
    "aws:acm/certificateValidation:CertificateValidation": "public ACM certificates are free",
}


class UnpricedResource(PhoenixError):
    """The program declares a resource type the estimate has no rule for."""


@dataclass(frozen=True, kw_only=True)
class Line:
    """One priced item: what it is, how many, and what it costs per hour while it runs."""

    item: str
    """instances, volumes, load balancer, NAT gateway, public IPv4, KMS key, SSM parameter."""
    detail: str
    """`2 x t3.small (linux)`: enough to check the figure by hand."""
    resource: str
    """The resource it prices (`Group:phoenix-fleet-asg`)."""
    quantity: float
    unit_price: float
    """USD per hour for one."""
    setting: str
    """The setting that decides it (network.nat, fleet.instanceType, ...)."""
    awake_share: float = 1.0
    """The share of a week it is billed: below 1 when awake hours scale the group to zero."""
    instance_type: Optional[str] = None
    """For instance lines: the type priced, so the budget can price another in its place."""
    platform: Optional[str] = None

    @property
    def hourly(self) -> float:
        """USD per hour, averaged over a week."""
        return self.quantity * self.unit_price * self.awake_share


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """What one feature costs, from the resources it declares."""

    feature: str
    region: str
    currency: str
    prices_taken: str
    prices_source: str
    lines: tuple[Line, ...]
    ttl_hours: Optional[float]
    """The feature's TTL (reap destroys it after), for the cost over its life; None: no TTL."""

    @property
    def per_hour(self) -> float:
        return sum(line.hourly for line in self.lines)

    @property
    def per_day(self) -> float:
        return self.per_hour * HOURS_PER_DAY

    @property
    def over_ttl(self) -> Optional[float]:
        return None if self.ttl_hours is None else self.per_hour * self.ttl_hours

    def largest(self, count: int = 3) -> list[Line]:
        return sorted(self.lines, key=lambda line: line.hourly, reverse=True)[:count]

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "region": self.region,
            "perHour": round(self.per_hour, 4),
            "perDay": round(self.per_day, 2),
            "ttlHours": self.ttl_hours,
            "overTtl": None if self.over_ttl is None else round(self.over_ttl, 2),
            "prices": {"taken": self.prices_taken, "source": self.prices_source},
            "lines": [
                {
                    "item": line.item, "detail": line.detail, "resource": line.resource,
                    "quantity": line.quantity, "unitPricePerHour": line.unit_price,
                    "awakeShare": round(line.awake_share, 4), "perDay": round(line.hourly * HOURS_PER_DAY, 2),
                    "setting": line.setting,
                }
                for line in self.lines
            ],
        }


@dataclass(frozen=True)
class _Context:
    synthesis: Synthesis
    prices: RegionPrices
    table: PriceTable
    by_urn: Mapping[str, SynthResource]

    @property
    def platform(self) -> str:
        fleet = self.synthesis.config.get("phoenix:fleet")
        return str(fleet.get("os") or "linux") if isinstance(fleet, Mapping) else "linux"

    def referenced(self, resource: SynthResource, prop: str, type_: str) -> Optional[SynthResource]:
        for urn in resource.dependencies.get(prop, ()):
            found = self.by_urn.get(urn)
            if found is not None and found.type == type_:
                return found
        return None


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SCHEDULE = "aws:autoscaling/schedule:Schedule"


def _group(resource: SynthResource, ctx: _Context) -> list[Line]:
    """Instances of the group's launch template, at its desired capacity, with their volumes and addresses."""
    inputs = resource.inputs
    capacity = inputs.get("desiredCapacity", inputs.get("minSize", 0))
    template = ctx.referenced(resource, "launchTemplate", LAUNCH_TEMPLATE)
    if template is None:
        raise UnpricedResource(f"{address(resource)}: the group launches no launch template the estimate can read")
    instance_type = str(template.inputs.get("instanceType"))
    platform = ctx.platform
    share = awake_share(resource, ctx.synthesis)
    where = address(resource)
    awake = f", awake {share:.0%} of the week" if share < 1 else ""
    lines = [Line(
        item="instances", detail=f"{capacity} x {instance_type} ({platform}){awake}", resource=where,
        quantity=capacity, unit_price=ctx.prices.instance_hour(instance_type, platform),
        setting="fleet.instanceType, fleet.desiredCapacity", awake_share=share,
        instance_type=instance_type, platform=platform,
    )]
    for mapping in template.inputs.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        root = ctx.table.root_volumes[platform]
        size = ebs.get("volumeSize") or root.size_gib
        kind = ebs.get("volumeType") or root.type
        lines.append(Line(
            item="volumes", detail=f"{capacity} x {size} GiB {kind}", resource=where, quantity=capacity * size,
            unit_price=ctx.table.monthly(ctx.prices.volume_gb_month[kind]), setting="fleet.desiredCapacity",
            awake_share=share,
        ))
    public = any(
        str(interface.get("associatePublicIpAddress")).lower() == "true"
        for interface in template.inputs.get("networkInterfaces") or []
    )
    if public:
        lines.append(Line(
            item="public IPv4", detail=f"{capacity} instance addresses", resource=where, quantity=capacity,
            unit_price=ctx.prices.public_ipv4_hour, setting="network.nat (none gives instances public addresses)",
            awake_share=share,
        ))
    return lines


def _load_balancer(resource: SynthResource, ctx: _Context) -> list[Line]:
    kind = resource.inputs.get("loadBalancerType", "application")
    if kind != "application":
        raise UnpricedResource(f"{address(resource)}: no price for a {kind} load balancer")
    where = address(resource)
    lines = [Line(item="load balancer", detail="application load balancer (capacity units not counted)",
                  resource=where, quantity=1, unit_price=ctx.prices.application_load_balancer_hour,
                  setting="(every feature has one)")]
    if not resource.inputs.get("internal", False):
        zones = len(resource.inputs.get("subnets") or [])
        lines.append(Line(item="public IPv4", detail=f"{zones} load balancer addresses (one per zone)",
                          resource=where, quantity=zones, unit_price=ctx.prices.public_ipv4_hour,
                          setting="network.azCount"))
    return lines


def _nat_gateway(resource: SynthResource, ctx: _Context) -> list[Line]:
    return [Line(item="NAT gateway", detail="NAT gateway hour (data processing not counted)",
                 resource=address(resource), quantity=1, unit_price=ctx.prices.nat_gateway_hour,
                 setting="network.nat")]


def _elastic_ip(resource: SynthResource, ctx: _Context) -> list[Line]:
    return [Line(item="public IPv4", detail="elastic IP (the NAT gateway's address)", resource=address(resource),
                 quantity=1, unit_price=ctx.prices.public_ipv4_hour, setting="network.nat")]


def _kms_key(resource: SynthResource, ctx: _Context) -> list[Line]:
    return [Line(item="KMS key", detail="customer managed key, 1 USD a month (requests not counted)",
                 resource=address(resource), quantity=1, unit_price=ctx.table.monthly(ctx.prices.kms_key_month),
                 setting="(every feature has one)")]


def _parameter(resource: SynthResource, ctx: _Context) -> list[Line]:
    if resource.inputs.get("tier") != "Advanced":
        return []  # standard parameters are free
    return [Line(item="SSM parameter", detail="advanced parameter", resource=address(resource), quantity=1,
                 unit_price=ctx.table.monthly(ctx.prices.ssm_advanced_parameter_month), setting="-")]


PRICED: Mapping[str, Callable[[SynthResource, _Context], list[Line]]] = {
    "aws:autoscaling/group:Group": _group,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _elastic_ip,
    "aws:kms/key:Key": _kms_key,
    "aws:ssm/parameter:Parameter": _parameter,
}


def _minute_of_day(recurrence: str) -> tuple[int, int]:
    """(minute of the day, days a week) of a recurrence as components/awake.py writes it (`M H * * d,d`)."""
    minute, hour, _, _, days = recurrence.split()
    return int(hour) * 60 + int(minute), len(days.split(","))


def awake_share(group: SynthResource, synthesis: Synthesis) -> float:
    """The share of a week the group runs: what its scheduled actions leave awake (1 without any)."""
    actions = [r for r in synthesis.of_type(SCHEDULE) if group.urn in r.dependencies.get("autoscalingGroupName", ())]
    wake = [r for r in actions if r.inputs.get("desiredCapacity", 0) > 0]
    sleep = [r for r in actions if r.inputs.get("desiredCapacity", 0) == 0]
    if not actions:
        return 1.0
    if len(wake) != 1 or len(sleep) != 1:
        raise UnpricedResource(f"{address(group)}: the estimate reads one wake and one sleep action, found "
                               f"{', '.join(address(r) for r in actions)}")
    (start, days), (end, _) = _minute_of_day(wake[0].inputs["recurrence"]), _minute_of_day(sleep[0].inputs["recurrence"])
    return days * (end - start) / (HOURS_PER_WEEK * 60)


def unpriced_types(types: Sequence[str]) -> list[str]:
    """The types neither priced nor free: each one is a gap in the estimate."""
    return sorted({t for t in types if t not in PRICED and t not in FREE_TYPES})


def estimate(synthesis: Synthesis, table: PriceTable, *, ttl_hours: Optional[float]) -> Estimate:
    """Price every resource the synthesis declares; an unknown type is an error, never zero."""
    missing = unpriced_types([resource.type for resource in synthesis.resources])
    if missing:
        raise UnpricedResource(
            f"no price for resource type {', '.join(missing)}: add a rule to PRICED or a reason to FREE_TYPES "
            "in automation/cost/estimate.py"
        )
    region = str(synthesis.config.get("aws:region"))
    ctx = _Context(synthesis=synthesis, prices=table.region(region), table=table, by_urn=synthesis.by_urn())
    lines: list[Line] = []
    for resource in synthesis.resources:
        rule = PRICED.get(resource.type)
        if rule is not None:
            lines.extend(rule(resource, ctx))
    return Estimate(
        feature=synthesis.stack, region=region, currency=table.currency, prices_taken=table.taken,
        prices_source=table.source, lines=tuple(lines), ttl_hours=ttl_hours,
    )
