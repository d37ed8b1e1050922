"""Typed, validated feature settings, parsed from the flat stack config.

One parser serves three callers: `automation` checks a feature's config before
it touches a stack, `__main__.py` builds the program from it, and `synth`
renders offline. Every rule lives here so bad input fails once, before any
resource is registered, with an error that names the setting. The module stays
pure (no pulumi_aws, no pulumi.automation) so all three stay fast.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional, TypeVar, cast
from urllib.parse import urlsplit

from components.dns_names import ZoneError, ZoneRef, parse_zone
from components.feature import FeatureError, parse_version, validate_feature_id
from bootstrap import health
from bootstrap.render import BootstrapSettingsError
from components.awake import EXAMPLE as AWAKE_EXAMPLE, AwakeHours, AwakeHoursError, parse_awake_hours
from components.versioning import bootstrap_for, userdata

NatMode = Literal["none", "single", "per_az"]
Platform = Literal["linux", "windows"]

#: `single` is the default for feature environments: instances stay in private
#: subnets with no public address, and one NAT gateway (about 33 USD a month,
#: roughly 2.4 USD over a 72-hour feature) gives them the outbound access they
#: need to reach Octopus. `per_az` multiplies that cost for zone resilience a
#: short-lived environment does not need; `none` saves it by putting instances
#: in public subnets, still reachable only from the load balancer.
DEFAULT_NAT: NatMode = "single"
NAT_MODES: tuple[NatMode, ...] = ("none", "single", "per_az")
PLATFORMS: tuple[Platform, ...] = ("linux", "windows")
VolumeKey = Literal["feature", "account"]
#: `feature`: root volumes are encrypted with the feature's own KMS key (the one
#: its registration key is encrypted with); `account`: with the account's EBS
#: default key, for accounts whose instances must not depend on a per-feature key.
VOLUME_KEYS: tuple[VolumeKey, ...] = ("feature", "account")

#: The image the stack's instances boot, pinned by `python -m automation` (fleet.amiId overrides it).
IMAGE_KEY = "phoenix:imageId"
#: The stack-config keys `__main__.py` reads; objects are JSON objects.
TEXT_KEYS = (
    "aws:region",
    "octopus:serverUrl",
    "octopus:space",
    "phoenix:feature",
    "phoenix:packageVersion",
    "phoenix:ttl",
    "phoenix:maxTtl",
    IMAGE_KEY,
    "phoenix:asleep",
    "phoenix:awakeHours",
)
#: The sensitive tenant variable values: a JSON object (template name -> value) that
#: `automation` builds from the environment variables `octopus.tenantVariables.sensitive` names.
TENANT_VARIABLE_SECRETS_KEY = "phoenix:tenantVariableSecrets"
SECRET_KEYS = ("octopus:apiKey", "octopus:registrationApiKey", TENANT_VARIABLE_SECRETS_KEY)
OBJECT_KEYS = ("phoenix:octopus", "phoenix:network", "phoenix:fleet", "phoenix:tags", "phoenix:dns")
CONFIG_KEYS = TEXT_KEYS + SECRET_KEYS + OBJECT_KEYS
#: Namespaces this project owns: any other key in them is a mistake.
OWN_NAMESPACES = ("octopus", "phoenix")

#: AWS allows 50 tags per resource; the project adds a few of its own.
MAX_USER_TAGS = 40
#: Tag keys the project sets itself; user tags may not override them.
RESERVED_TAG_PREFIXES = ("aws:", "phoenix:")
#: AWS bounds for a lifecycle hook's heartbeat timeout (API_PutLifecycleHook).
HEARTBEAT_RANGE = (30, 7200)
#: However often it records heartbeats, an instance waits at most min(48 h, 100 x heartbeat timeout).
HOOK_TIMEOUT_CAP = 172800
HOOK_TIMEOUT_FACTOR = 100
#: The bootstrap records a heartbeat every timeout/3: one lost or slow heartbeat still leaves two.
HEARTBEATS_PER_TIMEOUT = 3
#: The bootstrap's pause between health checks (`BootstrapSettings.health_interval_seconds`); a check
#: may take as long again, so a heartbeat can be due up to two of them late.
HEALTH_CHECK_ROUND_SECONDS = 2 * 5
#: How long `up` waits for a rollout (minutes); an instance's health wait must fit in the longest.
ROLLOUT_TIMEOUT_RANGE = (1, 600)
#: Seconds a new instance serves before the refresh counts it and replaces the next one.
WARMUP_RANGE = (0, 3600)
DEFAULT_WARMUP_SECONDS = 60


#: The HTTPS listener's port with a zone; the URL names no port.
HTTPS_PORT = 443
ZONE_KEY = "phoenix:dns.zone"
TLS_POLICY_KEY = "phoenix:dns.tlsPolicy"
#: AWS's recommended policy for HTTPS listeners: TLS 1.3 and TLS 1.2 with forward-secret ciphers only.
DEFAULT_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: The oldest protocol a listener may accept: TLS 1.0 and 1.1 are deprecated (RFC 8996).
MINIMUM_TLS = (1, 2)
_TLS_POLICY = re.compile(r"^ELBSecurityPolicy-[A-Za-z0-9-]+$")
#: `...-TLS13-1-2-...`, `...-TLS-1-1-...`, `...-FS-1-2-...`: the oldest TLS version the policy accepts.
_TLS_IN_NAME = re.compile(r"-(?:TLS13|TLS|FS)-1-(\d)(?:-|$)")
#: Elastic Load Balancing's policies whose names show no version; all accept TLS 1.0.
_TLS_1_0_POLICIES = frozenset({
    "ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-2015-05", "ELBSecurityPolicy-2015-03",
    "ELBSecurityPolicy-2015-02", "ELBSecurityPolicy-2014-10", "ELBSecurityPolicy-2014-01",
    "ELBSecurityPolicy-2011-08", "ELBSecurityPolicy-FS-2018-06",
})
#: The CIDRs that are not on the internet (RFC 1918 and the shared space of RFC 6598).
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


@dataclass(frozen=True)
class PlatformDefaults:
    """What an OS boots and installs when fleet.amiNamePattern / fleet.tentaclePackageSource are empty."""

    ami_name_pattern: str
    tentacle_package_source: str


PLATFORM_DEFAULTS: dict[str, PlatformDefaults] = {
    # Amazon Linux 2023 installs the Tentacle from Octopus' rpm repository (apt hosts: https://apt.octopus.com).
    "linux": PlatformDefaults("al2023-ami-2023.*-x86_64", "https://rpm.octopus.com"),
    # Windows installs the MSI; Octopus keeps this link on the newest 64-bit Tentacle.
    "windows": PlatformDefaults(
        "Windows_Server-2022-English-Full-Base-*", "https://octopus.com/downloads/latest/OctopusTentacle64"
    ),
}
_WINDOWS_IMAGE = re.compile(r"windows", re.IGNORECASE)
_LINUX_IMAGE = re.compile(r"al2023|amzn|ubuntu|debian|rhel|suse|sles|centos|rocky|alma|fedora|linux", re.IGNORECASE)

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_TTL = re.compile(r"^[1-9]\d*[mhd]$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/-]{0,1023}$")

#: The setting behind each value the bootstrap renders, for its errors.
_BOOTSTRAP_KEYS = {
    "server_url": "octopus:serverUrl",
    "space": "octopus:space",
    "environment": "phoenix:octopus.environment",
    "roles": "phoenix:octopus.roles",
    "machine_policy": "phoenix:octopus.machinePolicy",
    "health_url": "phoenix:fleet.healthCheckPath",
    "health_timeout_seconds": "phoenix:fleet.healthTimeoutSeconds",
    "tentacle_package_source": "phoenix:fleet.tentaclePackageSource",
    "healthy_status_codes": "phoenix:fleet.healthyStatusCodes",
    "heartbeat_interval_seconds": "phoenix:fleet.lifecycleHeartbeatSeconds",
    "region": "aws:region",
    # The instances' version is the package version, stamped with the image and the userdata.
    "infrastructure_version": "phoenix:packageVersion",
}

#: The setting that holds the key instances register with, and the org's opt-in to share the deploy key.
REGISTRATION_KEY = "octopus:registrationApiKey"
SHARE_DEPLOY_KEY = "phoenix:octopus.shareDeployKeyWithInstances"

_MISSING: Any = object()
_MISSING_HINTS = {
    "octopus:apiKey": " (set OCTOPUS_API_KEY)",
    "phoenix:packageVersion": " (pass the package version, e.g. 1.0.0-<feature>)",
}
T = TypeVar("T")


class SettingsError(ValueError):
    """A setting that cannot build a feature environment; `key` names it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class TenantVariableSettings:
    """The feature tenant's values for the project's variable templates (reference §15)."""

    url: Optional[str] = None
    """Template that gets the feature's URL; None leaves it out."""
    feature: Optional[str] = None
    """Template that gets the feature id."""
    package_version: Optional[str] = None
    """Template that gets the package version being deployed."""
    values: Mapping[str, str] = field(default_factory=dict)
    """Org-defined values: template name -> text."""
    sensitive: Mapping[str, str] = field(default_factory=dict)
    """Sensitive values: template name -> the environment variable that holds it."""
    sensitive_values: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Template name -> the value read from that variable; never printed."""

    @property
    def builtins(self) -> dict[str, str]:
        """Which template each value phoenix knows goes to: {"url": "Phoenix.Url", ...}."""
        named = {"url": self.url, "feature": self.feature, "packageVersion": self.package_version}
        return {key: name for key, name in named.items() if name}

    @property
    def templates(self) -> tuple[str, ...]:
        """Every template name the tenant fills in."""
        return (*self.builtins.values(), *self.values, *self.sensitive)


@dataclass(frozen=True, kw_only=True)
class OctopusSettings:
    """Where the feature's tenant lives and how its Tentacles register."""

    server_url: str
    space: str
    project: str
    environment: str
    roles: tuple[str, ...]
    machine_policy: str
    tenant_tags: tuple[str, ...]
    adopt_existing_tenant: bool
    tenant_variables: TenantVariableSettings = field(default_factory=TenantVariableSettings)
    api_key: str = field(repr=False)
    registration_api_key: Optional[str] = field(default=None, repr=False)
    share_deploy_key_with_instances: bool = False
    """The org's explicit, unsafe opt-in: instances may hold the deploy key itself."""

    @property
    def shares_deploy_key(self) -> bool:
        """Instances would hold the deploy key: no separate registration key, or the same one."""
        return self.registration_api_key is None or self.registration_api_key == self.api_key

    @property
    def registration_key(self) -> str:
        """The key Tentacles register with: the dedicated one, the deploy key only by opt-in."""
        if self.shares_deploy_key and not self.share_deploy_key_with_instances:
            raise SettingsError(REGISTRATION_KEY, registration_key_refusal(self))
        return self.registration_api_key or self.api_key


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The feature's VPC."""

    cidr: str
    az_count: int
    nat: NatMode


@dataclass(frozen=True, kw_only=True)
class FleetSettings:
    """The load-balanced auto scaling group and what its instances run."""

    os: Platform
    instance_type: str
    ami_id: Optional[str]
    ami_owners: tuple[str, ...]
    ami_name_pattern: str
    min_size: int
    max_size: int
    desired_capacity: int
    app_port: int
    listener_port: int
    listener_cidrs: tuple[str, ...]
    health_check_path: str
    healthy_status_codes: str
    """The matcher text (`bootstrap.health`): the target group and the bootstrap both accept exactly these."""
    health_timeout_seconds: int
    lifecycle_heartbeat_seconds: int
    instance_warmup_seconds: int
    rollout_timeout_minutes: int
    tentacle_package_source: str
    volume_key: VolumeKey = "feature"
    """Which KMS key encrypts the instances' root volumes (`VOLUME_KEYS`)."""
    pinned_image_id: Optional[str] = None
    """The image pinned in the stack (`phoenix:imageId`), used when ami_id is empty."""

    @property
    def image_id(self) -> Optional[str]:
        """The image instances boot: fleet.amiId when set, else the one pinned in the stack."""
        return self.ami_id or self.pinned_image_id

    @property
    def heartbeat_interval_seconds(self) -> int:
        """How often the bootstrap records the launch hook's heartbeat."""
        return self.lifecycle_heartbeat_seconds // HEARTBEATS_PER_TIMEOUT

    @property
    def public_cidrs(self) -> tuple[str, ...]:
        """The listener CIDRs that reach beyond private address space: the internet may connect."""
        return tuple(cidr for cidr in self.listener_cidrs if not is_private_cidr(cidr))


@dataclass(frozen=True, kw_only=True)
class DnsSettings:
    """The feature's name and certificate; without a zone it is served over HTTP at the balancer's name."""

    zone: Optional[ZoneRef] = None
    """The public Route 53 hosted zone (by name or id) the feature's name `FEATURE.<zone>` goes in."""
    tls_policy: str = DEFAULT_TLS_POLICY
    """The HTTPS listener's security policy (Elastic Load Balancing's name)."""


@dataclass(frozen=True, kw_only=True)
class FeatureSettings:
    """Everything one feature environment is built from."""

    feature: str
    package_version: str
    region: str
    ttl: Optional[str]
    octopus: OctopusSettings
    network: NetworkSettings
    fleet: FleetSettings
    tags: Mapping[str, str]
    dns: DnsSettings = field(default_factory=DnsSettings)
    awake_hours: Optional[AwakeHours] = None
    """feature.awakeHours: scheduled actions scale the group to zero outside them; None: always awake."""
    asleep: bool = False
    """Recorded by `sleep` / `wake`: the group is at zero and the NAT gateways are gone; the tenant,
    override and network stay."""
    max_cost_per_day: Optional[float] = None
    """The budget `python -m automation` holds the estimate to (USD a day); None: no budget. The
    program never reads it: create and preview refuse a feature over it before anything runs."""
    max_ttl: Optional[str] = None
    """How far `extend` may move the expiry (feature.maxTtl); automation reads it, the program does not."""

    @property
    def tenant_name(self) -> str:
        """The Octopus tenant is named for the feature, like its stack."""
        return self.feature


class _Section:
    """Reads one object of the config, remembering which keys it used."""

    def __init__(self, values: Any, key: str = "", *, own: Callable[[str], bool] = lambda _: True):
        if not isinstance(values, Mapping):
            raise SettingsError(key, f"must be an object, got {_kind(values)}")
        self._values = values
        self._key = key
        self._own = own
        self._used: set[str] = set()

    @property
    def name(self) -> str:
        return self._key

    def names(self) -> list[str]:
        return list(self._values)

    def key(self, name: str) -> str:
        return f"{self._key}.{name}" if self._key else name

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self._used.add(name)
        value = self._values.get(name)
        if value is None:
            if default is _MISSING:
                hint = _MISSING_HINTS.get(self.key(name), "")
                raise SettingsError(self.key(name), f"is required but missing{hint}")
            return default
        return value

    def typed(self, name: str, kind: type[T], default: Any = _MISSING) -> T:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        # bool is an int in Python; a flag where a number belongs is still a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SettingsError(self.key(name), f"must be {_article(kind)}, got {_kind(value)}")
        return value

    def text(self, name: str, default: Any = _MISSING, *, secret: bool = False) -> str:
        value = self.typed(name, str, default)
        if value is default:
            return value
        if not value.strip():
            raise SettingsError(self.key(name), "must not be empty")
        if value != value.strip() and not secret:
            raise SettingsError(self.key(name), f"{value!r} has leading or trailing spaces")
        if secret and (value != value.strip() or any(c.isspace() for c in value)):
            raise SettingsError(self.key(name), "must not contain spaces")
        return value

    def number(self, name: str, low: int, high: int, default: Any = _MISSING) -> int:
        value = self.typed(name, int, default)
        if value is default and default is not _MISSING:
            return value
        if not low <= value <= high:
            raise SettingsError(self.key(name), f"{value} is outside {low}..{high}")
        return value

    def texts(self, name: str, default: Any = _MISSING, *, required: bool = False) -> tuple[str, ...]:
        values = self.typed(name, list, default)
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise SettingsError(f"{self.key(name)}[{index}]", f"must be a non-empty string, got {value!r}")
        if required and not values:
            raise SettingsError(self.key(name), "must list at least one value")
        return tuple(values)

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.typed(name, str, default)
        if value not in choices:
            raise SettingsError(self.key(name), f"{value!r} is not one of {', '.join(choices)}")
        return value

    def section(self, name: str, default: Any = _MISSING) -> "_Section":
        return _Section(self.raw(name, default), self.key(name))

    def done(self) -> None:
        unknown = sorted(k for k in self._values if k not in self._used and self._own(k))
        if unknown:
            known = ", ".join(sorted(self._used))
            raise SettingsError(self.key(unknown[0]), f"unknown setting (known here: {known})")


def parse_settings(config: Mapping[str, Any]) -> FeatureSettings:
    """Validate the flat stack config (objects as dicts, secrets as plain str)."""
    top = _Section(config, own=lambda key: key.split(":", 1)[0] in OWN_NAMESPACES)
    feature = _feature(top)
    package_version = _package_version(top, feature)
    region = top.text("aws:region")
    if not _REGION.match(region):
        raise SettingsError("aws:region", f"{region!r} is not an AWS region name (e.g. eu-west-1)")
    ttl = top.text("phoenix:ttl", None)
    if ttl is not None and not _TTL.match(ttl):
        raise SettingsError("phoenix:ttl", f"{ttl!r} is not a duration like 90m, 72h or 3d")
    max_cost_per_day = _budget(top)
    asleep = _asleep(top)
    awake_hours = _awake_hours(top)
    max_ttl = _max_ttl(top, ttl)
    octopus = _octopus(top)
    network = _network(top.section("phoenix:network"))
    fleet = _fleet(top.section("phoenix:fleet"), pinned_image=_pinned_image(top))
    tags = _tags(top.section("phoenix:tags", {}))
    dns = _dns(top.section("phoenix:dns", {}), fleet)
    top.done()
    settings = FeatureSettings(
        feature=feature,
        package_version=package_version,
        region=region,
        ttl=ttl,
        max_ttl=max_ttl,
        octopus=octopus,
        network=network,
        fleet=fleet,
        tags=tags,
        dns=dns,
        max_cost_per_day=max_cost_per_day,
        asleep=asleep,
        awake_hours=awake_hours,
    )
    _check_renders(settings)
    # Last: a mistake in the file is reported before a key missing from the environment.
    if octopus.shares_deploy_key and not octopus.share_deploy_key_with_instances:
        raise SettingsError(REGISTRATION_KEY, registration_key_refusal(octopus))
    return settings


#: The stack-config key of feature.maxCostPerDay (defaults.yaml), read by `python -m automation` only.
BUDGET_KEY = "phoenix:maxCostPerDay"


def _budget(top: _Section) -> Optional[float]:
    value = top.raw(BUDGET_KEY, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(BUDGET_KEY, f"must be a number of USD a day (e.g. 10 or 2.5), got {_kind(value)}")
    if not 0 < value < 1_000_000:
        raise SettingsError(BUDGET_KEY, f"{value} is not a budget: give a positive number of USD a day")
    return float(value)


#: The stack-config key `sleep` and `wake` record the feature's state in.
ASLEEP_KEY = "phoenix:asleep"


def _asleep(top: _Section) -> bool:
    """A flag; Pulumi hands the program config as text, so "true"/"false" are read too."""
    value = top.raw(ASLEEP_KEY, False)
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise SettingsError(ASLEEP_KEY, f"must be true or false, got {value!r}")
    return value


def _awake_hours(top: _Section) -> Optional[AwakeHours]:
    value = top.raw("phoenix:awakeHours", "")
    if not isinstance(value, str):
        raise SettingsError("phoenix:awakeHours", f"must be text like {AWAKE_EXAMPLE!r}, got {_kind(value)}")
    try:
        return parse_awake_hours(value)
    except AwakeHoursError as error:
        raise SettingsError("phoenix:awakeHours", str(error)) from None
_TTL_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _max_ttl(top: "_Section", ttl: Optional[str]) -> Optional[str]:
    """feature.maxTtl: how far `extend` may move the expiry; never shorter than the TTL itself."""
    max_ttl = top.text("phoenix:maxTtl", None)
    if max_ttl is None:
        return None
    if not _TTL.match(max_ttl):
        raise SettingsError("phoenix:maxTtl", f"{max_ttl!r} is not a duration like 72h, 7d or 14d")
    if ttl is not None and _TTL.match(ttl):
        seconds = {text: int(text[:-1]) * _TTL_UNITS[text[-1]] for text in (ttl, max_ttl)}
        if seconds[max_ttl] < seconds[ttl]:
            raise SettingsError("phoenix:maxTtl", f"{max_ttl} is shorter than feature.ttl {ttl}")
    return max_ttl


def _check_renders(settings: FeatureSettings) -> None:
    """Render the userdata once: what the bootstrap refuses must fail here, not mid-update."""
    try:
        userdata(bootstrap_for(settings), settings.fleet.os)
    except BootstrapSettingsError as error:
        raise SettingsError(_BOOTSTRAP_KEYS.get(error.field, "phoenix:feature"), error.reason) from None
    except ValueError as error:  # too large for EC2's userdata limit
        raise SettingsError("phoenix:octopus", str(error)) from None


def _feature(top: _Section) -> str:
    feature = top.typed("phoenix:feature", str)
    try:
        return validate_feature_id(feature)
    except FeatureError as error:
        raise SettingsError("phoenix:feature", str(error)) from None


def _package_version(top: _Section, feature: str) -> str:
    text = top.typed("phoenix:packageVersion", str)
    try:
        version = parse_version(text)
    except FeatureError as error:
        raise SettingsError("phoenix:packageVersion", str(error)) from None
    if version.feature_tag != feature:
        raise SettingsError(
            "phoenix:packageVersion",
            f"{text!r} does not name feature {feature!r} in its pre-release tag (e.g. 1.0.0-{feature})",
        )
    return text


def _octopus(top: _Section) -> OctopusSettings:
    server_url = _url(top, "octopus:serverUrl").rstrip("/")
    space = top.text("octopus:space", "Default")
    api_key = top.text("octopus:apiKey", _MISSING, secret=True)
    registration = top.text("octopus:registrationApiKey", None, secret=True)
    wiring = top.section("phoenix:octopus")
    tenant_tags = wiring.texts("tenantTags", [])
    for index, tag in enumerate(tenant_tags):
        if tag.count("/") != 1 or not all(part.strip() for part in tag.split("/")):
            raise SettingsError(f"{wiring.key('tenantTags')}[{index}]", f"{tag!r} is not 'TagSet/Tag'")
    settings = OctopusSettings(
        server_url=server_url,
        space=space,
        project=wiring.text("project"),
        environment=wiring.text("environment"),
        roles=wiring.texts("roles", required=True),
        machine_policy=wiring.text("machinePolicy"),
        tenant_tags=tenant_tags,
        adopt_existing_tenant=wiring.typed("adoptExistingTenant", bool, False),
        tenant_variables=_tenant_variables(
            wiring.section("tenantVariables", {}), top.raw(TENANT_VARIABLE_SECRETS_KEY, None)
        ),
        api_key=api_key,
        registration_api_key=registration,
        share_deploy_key_with_instances=wiring.typed("shareDeployKeyWithInstances", bool, False),
    )
    wiring.done()
    return settings


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BUILTIN_TEMPLATES = {"url": "url", "feature": "feature", "packageVersion": "package_version"}


def _tenant_variables(section: _Section, secrets: Any) -> TenantVariableSettings:
    """Template names (each once), org values as text, sensitive ones only by variable name."""
    builtins = {
        field_name: section.typed(key, str, "") or None for key, field_name in _BUILTIN_TEMPLATES.items()
    }
    values = _text_map(section, "values")
    sensitive = _text_map(section, "sensitive")
    section.done()
    seen: dict[str, str] = {}
    named = [(key, name) for key, name in zip(_BUILTIN_TEMPLATES, builtins.values()) if name]
    named += [(f"values.{name}", name) for name in values] + [(f"sensitive.{name}", name) for name in sensitive]
    for key, name in named:
        problem = _template_problem(name)
        if problem:
            raise SettingsError(section.key(key), problem)
        if name.casefold() in seen:
            raise SettingsError(section.key(key), f"template {name!r} is also given by {section.key(seen[name.casefold()])}")
        seen[name.casefold()] = key
    for name, variable in sensitive.items():
        if not _ENV_NAME.match(variable):
            raise SettingsError(
                section.key(f"sensitive.{name}"),
                "is not an environment variable name (letters, digits and _): sensitive values are never "
                "written here, only the name of the variable that holds them",
            )
    return TenantVariableSettings(
        **builtins, values=values, sensitive=sensitive,
        sensitive_values=_sensitive_values(section, sensitive, secrets),
    )


def _text_map(section: _Section, name: str) -> dict[str, str]:
    raw = section.raw(name, {})
    if not isinstance(raw, Mapping):
        raise SettingsError(section.key(name), f"must be an object of template name -> text, got {_kind(raw)}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise SettingsError(section.key(f"{name}.{key}"), f"must be text, got {_kind(value)}")
    return {str(key): value for key, value in raw.items()}


def _template_problem(name: str) -> Optional[str]:
    if not name.strip() or name != name.strip():
        return f"{name!r} is not a template name (no leading or trailing spaces, not empty)"
    if len(name) > 200 or any(ch.isspace() and ch != " " for ch in name):
        return f"{name!r} is not a template name (at most 200 characters, one line)"
    return None


def _sensitive_values(section: _Section, sensitive: Mapping[str, str], secrets: Any) -> dict[str, str]:
    """The value of each sensitive template, from the secret config `automation` filled from the environment."""
    import json

    if secrets is None:
        found: Any = {}
    elif isinstance(secrets, Mapping):
        found = secrets
    else:
        try:
            found = json.loads(secrets)
        except (TypeError, ValueError):
            found = None
    if not isinstance(found, Mapping):
        raise SettingsError(TENANT_VARIABLE_SECRETS_KEY, "must be a JSON object of template name -> value")
    values = {}
    for name, variable in sensitive.items():
        value = found.get(name)
        if not isinstance(value, str) or not value:
            raise SettingsError(section.key(f"sensitive.{name}"), f"environment variable {variable} is not set")
        values[name] = value
    return values


def registration_key_refusal(octopus: OctopusSettings) -> str:
    """Why instances may not register with what was given, and the two ways out."""
    what = (
        "is not set" if octopus.registration_api_key is None
        else "is the deploy key itself (OCTOPUS_API_KEY)"
    )
    return (
        f"{what}: every instance would hold the deploy key, which can create and delete tenants, "
        "machines and releases; export OCTOPUS_REGISTRATION_API_KEY with the key of a user who may "
        "only register machines, or (unsafe) set octopus.shareDeployKeyWithInstances: true in "
        "stacks/defaults.yaml"
    )


def _network(section: _Section) -> NetworkSettings:
    cidr = _cidr(section, "cidr", section.text("cidr"))
    prefix = ipaddress.IPv4Network(cidr).prefixlen
    if not 16 <= prefix <= 22:
        # Each zone gets a public and a private subnet four bits longer than the VPC:
        # /22 leaves /26 subnets, the smallest a load balancer is comfortable in.
        raise SettingsError(section.key("cidr"), f"{cidr} must be a /16 to /22 network")
    settings = NetworkSettings(
        cidr=cidr,
        az_count=_at_least_two_zones(section),
        nat=cast(NatMode, section.choice("nat", NAT_MODES)),
    )
    section.done()
    return settings


def _at_least_two_zones(section: _Section) -> int:
    count = section.typed("azCount", int)
    if not 2 <= count <= 6:
        raise SettingsError(
            section.key("azCount"),
            f"{count} availability zones: an application load balancer needs 2 to 6",
        )
    return count


def _pinned_image(top: _Section) -> Optional[str]:
    image = top.text(IMAGE_KEY, None)
    if image is not None and not _AMI_ID.match(image):
        raise SettingsError(IMAGE_KEY, f"{image!r} is not an AMI id (ami-...); `python -m automation` pins it, "
                            "fleet.amiId chooses one")
    return image


def _fleet(section: _Section, *, pinned_image: Optional[str] = None) -> FleetSettings:
    os_name = cast(Platform, section.choice("os", PLATFORMS))
    defaults = PLATFORM_DEFAULTS[os_name]
    instance_type = section.text("instanceType")
    if not _INSTANCE_TYPE.match(instance_type):
        raise SettingsError(section.key("instanceType"), f"{instance_type!r} is not an EC2 instance type")
    ami_id = section.typed("amiId", str, "") or None
    if ami_id is not None and not _AMI_ID.match(ami_id):
        raise SettingsError(section.key("amiId"), f"{ami_id!r} is not an AMI id (ami-...)")
    ami_owners = section.texts("amiOwners", [], required=ami_id is None)
    ami_name_pattern = section.typed("amiNamePattern", str, "").strip() or defaults.ami_name_pattern
    _same_platform(section.key("amiNamePattern"), os_name, ami_name_pattern, _image_platform(ami_name_pattern),
                   defaults.ami_name_pattern, "an image name pattern")
    min_size = section.number("minSize", 0, 100)
    max_size = section.number("maxSize", 1, 100)
    desired = section.number("desiredCapacity", 0, 100)
    if min_size > max_size:
        raise SettingsError(section.key("minSize"), f"{min_size} is greater than maxSize {max_size}")
    if not min_size <= desired <= max_size:
        raise SettingsError(section.key("desiredCapacity"), f"{desired} is outside minSize..maxSize ({min_size}..{max_size})")
    listener_cidrs = section.texts("listenerCidrs", required=True)
    for index, cidr in enumerate(listener_cidrs):
        _cidr(section, f"listenerCidrs[{index}]", cidr)
    health_path = section.text("healthCheckPath")
    if not _HEALTH_PATH.match(health_path):
        raise SettingsError(
            section.key("healthCheckPath"),
            f"{health_path!r} must start with / and hold only letters, digits and . _ ~ / -",
        )
    codes = section.raw("healthyStatusCodes", health.DEFAULT)
    try:
        healthy_status_codes = health.normalized(codes)
    except ValueError as error:
        raise SettingsError(section.key("healthyStatusCodes"), str(error)) from None
    health_timeout = section.number("healthTimeoutSeconds", 60, ROLLOUT_TIMEOUT_RANGE[1] * 60)
    heartbeat = _heartbeat(section, health_timeout)
    rollout = section.number("rolloutTimeoutMinutes", *ROLLOUT_TIMEOUT_RANGE)
    longest = max(heartbeat, health_timeout)
    if rollout * 60 < longest:
        raise SettingsError(
            section.key("rolloutTimeoutMinutes"),
            f"{rollout} minutes is shorter than an instance may take ({longest}s: "
            "max(lifecycleHeartbeatSeconds, healthTimeoutSeconds)): the rollout would give up before a new "
            "instance may",
        )
    source = section.typed("tentaclePackageSource", str, "").strip() or defaults.tentacle_package_source
    source = _url_text(section.key("tentaclePackageSource"), source)
    _same_platform(section.key("tentaclePackageSource"), os_name, source, _source_platform(source),
                   defaults.tentacle_package_source, "a Tentacle source")
    settings = FleetSettings(
        os=os_name,
        instance_type=instance_type,
        ami_id=ami_id,
        ami_owners=ami_owners,
        ami_name_pattern=ami_name_pattern,
        min_size=min_size,
        max_size=max_size,
        desired_capacity=desired,
        app_port=section.number("appPort", 1, 65535),
        listener_port=section.number("listenerPort", 1, 65535),
        listener_cidrs=listener_cidrs,
        health_check_path=health_path,
        healthy_status_codes=healthy_status_codes,
        health_timeout_seconds=health_timeout,
        lifecycle_heartbeat_seconds=heartbeat,
        instance_warmup_seconds=section.number("instanceWarmupSeconds", *WARMUP_RANGE, default=DEFAULT_WARMUP_SECONDS),
        rollout_timeout_minutes=rollout,
        tentacle_package_source=source,
        pinned_image_id=pinned_image,
        volume_key=cast(VolumeKey, section.choice("volumeKey", VOLUME_KEYS, "feature")),
    )
    section.done()
    return settings


def _heartbeat(section: _Section, health_timeout: int) -> int:
    """The launch hook's heartbeat timeout: within AWS's bounds, room for a heartbeat, long enough in all."""
    key = section.key("lifecycleHeartbeatSeconds")
    # AWS's shortest timeout (30 s) already leaves a heartbeat every HEALTH_CHECK_ROUND_SECONDS.
    heartbeat = section.number("lifecycleHeartbeatSeconds", *HEARTBEAT_RANGE)
    cap = min(HOOK_TIMEOUT_CAP, HOOK_TIMEOUT_FACTOR * heartbeat)
    if health_timeout >= cap:
        raise SettingsError(key, f"{heartbeat}s lets an instance wait at most {cap}s in all (min(48 h, 100 x "
                            f"heartbeat), heartbeats or not), not the {health_timeout}s of healthTimeoutSeconds: "
                            f"raise it to at least {health_timeout // HOOK_TIMEOUT_FACTOR + 1}s")
    return heartbeat


def _image_platform(pattern: str) -> Optional[Platform]:
    if _WINDOWS_IMAGE.search(pattern):
        return "windows"
    return "linux" if _LINUX_IMAGE.search(pattern) else None


def _source_platform(url: str) -> Optional[Platform]:
    """Whose Tentacle a source is: the Windows MSI, or a Linux package repository (rpm/apt)."""
    parts = urlsplit(url)
    path = parts.path.lower()
    if path.endswith(".msi") or "octopustentacle" in path:
        return "windows"
    segments = set(path.strip("/").split("/"))
    if parts.hostname in ("rpm.octopus.com", "apt.octopus.com") or segments & {"rpm", "apt", "yum", "deb"} \
            or path.endswith((".repo", ".rpm", ".deb")):
        return "linux"
    return None


def _same_platform(key: str, os_name: str, value: str, belongs_to: Optional[str], default: str, what: str) -> None:
    """Refuse a value that belongs to the other OS: every instance would fail its launch hook."""
    if belongs_to is not None and belongs_to != os_name:
        raise SettingsError(key, f"{value!r} is {what} for {belongs_to}, but fleet.os is {os_name}: use {default} "
                            "(or leave it empty for that default)")


def _dns(section: _Section, fleet: FleetSettings) -> DnsSettings:
    text = section.typed("zone", str, "")
    zone = None
    if text:
        try:
            zone = parse_zone(text)
        except ZoneError as error:
            raise SettingsError(section.key("zone"), str(error)) from None
    policy = section.text("tlsPolicy", DEFAULT_TLS_POLICY)
    problem = tls_policy_problem(policy)
    if problem:
        raise SettingsError(section.key("tlsPolicy"), problem)
    section.done()
    if zone is not None and fleet.listener_port == HTTPS_PORT:
        raise SettingsError(
            "phoenix:fleet.listenerPort",
            f"{HTTPS_PORT} is the HTTPS listener's port when dns.zone is set; listenerPort is the plain HTTP "
            "listener that redirects to it (80)",
        )
    return DnsSettings(zone=zone, tls_policy=policy)


def tls_minimum(policy: str) -> Optional[tuple[int, int]]:
    """The oldest TLS version an Elastic Load Balancing policy accepts, read from its name; None if it shows none."""
    if policy in _TLS_1_0_POLICIES:
        return (1, 0)
    found = _TLS_IN_NAME.search(policy)
    return (1, int(found.group(1))) if found else None


def tls_policy_problem(policy: str) -> Optional[str]:
    """Why a listener may not use `policy`, or None: it must be ELB's and accept nothing older than TLS 1.2."""
    wanted = ".".join(map(str, MINIMUM_TLS))
    if not _TLS_POLICY.match(policy):
        return f"{policy!r} is not an Elastic Load Balancing security policy (ELBSecurityPolicy-...)"
    minimum = tls_minimum(policy)
    if minimum is None:
        return (f"{policy!r} does not show the oldest TLS version it accepts (ELBSecurityPolicy-TLS13-1-2-...); "
                f"use one that accepts TLS {wanted} and newer only, such as {DEFAULT_TLS_POLICY}")
    if minimum < MINIMUM_TLS:
        return (f"{policy!r} accepts TLS {minimum[0]}.{minimum[1]}, which is deprecated (RFC 8996); use one that "
                f"accepts TLS {wanted} and newer only, such as {DEFAULT_TLS_POLICY}")
    return None


def is_private_cidr(cidr: str) -> bool:
    network = ipaddress.IPv4Network(cidr)
    return any(network.subnet_of(private) for private in PRIVATE_RANGES)


def _tags(section: _Section) -> dict[str, str]:
    tags: dict[str, str] = {}
    for name in section.names():
        key = section.key(name)
        value = section.raw(name)
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise SettingsError(key, "tag keys are 1 to 128 characters")
        if name.lower().startswith(RESERVED_TAG_PREFIXES):
            raise SettingsError(key, f"tag keys starting with {' or '.join(RESERVED_TAG_PREFIXES)} are reserved")
        if not isinstance(value, str) or len(value) > 256:
            raise SettingsError(key, "tag values are strings of at most 256 characters")
        for part, text in (("key", name), ("value", value)):
            bad = _not_in_aws_tags(text)
            if bad is not None:
                raise SettingsError(
                    key, f"the tag {part} {text!r} holds {bad!r}; AWS allows only letters, digits, spaces "
                    f"and {AWS_TAG_PUNCTUATION} in tags",
                )
        tags[name] = value
    if len(tags) > MAX_USER_TAGS:
        raise SettingsError(section.name, f"{len(tags)} tags; at most {MAX_USER_TAGS} are allowed")
    return tags


#: What AWS allows in tag keys and values besides letters, digits and spaces (its tagging rules:
#: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`); anything else fails at AWS, mid-create.
AWS_TAG_PUNCTUATION = "_ . : / = + - @"


def _not_in_aws_tags(text: str) -> Optional[str]:
    """The first character AWS refuses in a tag key or value, if any."""
    import unicodedata

    allowed = set(AWS_TAG_PUNCTUATION.replace(" ", ""))
    for char in text:
        if char in allowed or unicodedata.category(char)[0] in "LN" or unicodedata.category(char) == "Zs":
            continue
        return char
    return None


def _url(section: _Section, name: str) -> str:
    return _url_text(section.key(name), section.text(name))


def _url_text(key: str, text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(key, f"{text!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise SettingsError(key, "must not embed credentials")
    if parts.query or parts.fragment or any(c.isspace() or c in "'\"`$\\" for c in text):
        raise SettingsError(key, f"{text!r} must be a plain URL without query, fragment or quotes")
    return text


def _cidr(section: _Section, name: str, text: str) -> str:
    key = section.key(name)
    try:
        return str(ipaddress.IPv4Network(text, strict=True))
    except ValueError as error:
        raise SettingsError(key, f"{text!r} is not an IPv4 network in CIDR notation ({error})") from None


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _article(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", str: "a string", list: "a list"}[kind]
