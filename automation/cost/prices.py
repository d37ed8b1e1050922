"""The price table (prices.yaml): AWS on-demand prices per supported region, with their date and source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from automation.errors import InputError

PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"
#: The operating systems the table prices instances for, in the order of each [linux, windows] pair.
PLATFORMS = ("linux", "windows")


class PriceError(InputError):
    """The table holds no price for what was asked (a region or instance type it does not cover)."""


@dataclass(frozen=True, kw_only=True)
class RootVolume:
    size_gib: int
    type: str


@dataclass(frozen=True, kw_only=True)
class RegionPrices:
    """One region's prices, USD per hour unless the name says otherwise."""

    region: str
    instances: Mapping[str, Mapping[str, float]]
    """instance type -> platform -> USD per hour."""
    nat_gateway_hour: float
    application_load_balancer_hour: float
    public_ipv4_hour: float
    volume_gb_month: Mapping[str, float]
    kms_key_month: float
    ssm_advanced_parameter_month: float

    def instance_hour(self, instance_type: str, platform: str) -> float:
        try:
            return self.instances[instance_type][platform]
        except KeyError:
            raise PriceError(
                f"the price table has no {platform} price for instance type {instance_type!r} in {self.region} "
                f"(priced: {', '.join(self.instances)}); add it to automation/cost/prices.yaml"
            ) from None


@dataclass(frozen=True, kw_only=True)
class PriceTable:
    taken: str
    """The date the prices were taken (ISO 8601)."""
    source: str
    currency: str
    hours_per_month: float
    root_volumes: Mapping[str, RootVolume]
    regions: Mapping[str, RegionPrices]

    def region(self, name: str) -> RegionPrices:
        try:
            return self.regions[name]
        except KeyError:
            raise PriceError(
                f"the price table has no prices for region {name!r} (supported: {', '.join(self.regions)}); "
                "add them to automation/cost/prices.yaml"
            ) from None

    def monthly(self, usd_per_month: float) -> float:
        """A monthly price as AWS bills it by the hour."""
        return usd_per_month / self.hours_per_month


def parse_table(document: Mapping[str, Any]) -> PriceTable:
    """The table from its YAML document; a malformed one fails naming the key (a test reads the real one)."""

    def number(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"prices.yaml: {key}: must be a non-negative number, got {value!r}")
        return float(value)

    regions = {}
    for name, body in document["regions"].items():
        instances = {}
        for instance_type, pair in body["instances"].items():
            if not isinstance(pair, list) or len(pair) != len(PLATFORMS):
                raise ValueError(f"prices.yaml: regions.{name}.instances.{instance_type}: expected [linux, windows]")
            instances[instance_type] = {
                platform: number(price, f"regions.{name}.instances.{instance_type}")
                for platform, price in zip(PLATFORMS, pair)
            }
        regions[name] = RegionPrices(
            region=name,
            instances=instances,
            nat_gateway_hour=number(body["natGatewayHour"], f"regions.{name}.natGatewayHour"),
            application_load_balancer_hour=number(
                body["applicationLoadBalancerHour"], f"regions.{name}.applicationLoadBalancerHour"
            ),
            public_ipv4_hour=number(body["publicIpv4Hour"], f"regions.{name}.publicIpv4Hour"),
            volume_gb_month={kind: number(v, f"regions.{name}.volumeGbMonth.{kind}")
                             for kind, v in body["volumeGbMonth"].items()},
            kms_key_month=number(body["kmsKeyMonth"], f"regions.{name}.kmsKeyMonth"),
            ssm_advanced_parameter_month=number(
                body["ssmAdvancedParameterMonth"], f"regions.{name}.ssmAdvancedParameterMonth"
            ),
        )
    return PriceTable(
        taken=str(document["taken"]),
        source=" ".join(str(document["source"]).split()),
        currency=str(document["currency"]),
        hours_per_month=number(document["hoursPerMonth"], "hoursPerMonth"),
        root_volumes={
            platform: RootVolume(size_gib=int(spec["sizeGiB"]), type=str(spec["type"]))
            for platform, spec in document["rootVolume"].items()
        },
        regions=regions,
    )


@lru_cache(maxsize=1)
def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    import yaml

    return parse_table(yaml.safe_load(path.read_text(encoding="utf-8")))
