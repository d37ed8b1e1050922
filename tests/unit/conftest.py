"""Pulumi mocks for the unit tier: AWS and the Octopus resources answer like the real services.

`call()` switches on the function token and returns what AWS would (zones of
the configured region, an Amazon Linux image, an account and partition); an
unknown token fails the test instead of returning nothing. `new_resource()`
returns ids and computed outputs in AWS's shapes and refuses names AWS would
refuse, so a name that breaks a service limit fails here too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import pulumi
import pytest
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.settings import ROOT

from bootstrap.render import USERDATA_LIMIT_BYTES
from tests.unit.sample_config import SECRET_KEYS

MAIN = Path(__file__).resolve().parents[2] / "__main__.py"
ACCOUNT = "123456789012"
AMI_ID = "ami-0a1b2c3d4e5f60718"

#: AWS's own name rules for the resources the program names: (max length, allowed pattern).
NAME_RULES: dict[str, tuple[int, str]] = {
    "aws:lb/loadBalancer:LoadBalancer": (32, r"(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"),
    "aws:lb/targetGroup:TargetGroup": (32, r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"),
    "aws:autoscaling/group:Group": (255, r"[^:]+"),
    "aws:iam/role:Role": (64, r"[\w+=,.@-]+"),
    "aws:iam/instanceProfile:InstanceProfile": (128, r"[\w+=,.@-]+"),
    "aws:ec2/launchTemplate:LaunchTemplate": (128, r"[A-Za-z0-9().\-/_]{3,}"),
    "aws:ec2/securityGroup:SecurityGroup": (255, r"(?!sg-)[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+"),
    "aws:ssm/parameter:Parameter": (1011, r"/?[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*"),
    "aws:kms/alias:Alias": (256, r"alias/(?!aws/)[A-Za-z0-9/_-]+"),
}

ID_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
}


def _zone_prefix(region: str) -> str:
    """AWS's zone-id prefix of a region: eu-west-1 -> euw1."""
    parts = region.split("-")
    return parts[0] + "".join(part[0] for part in parts[1:-1]) + parts[-1]


class AwsRejected(Exception):
    """What the AWS API answers to a request it refuses (ValidationError)."""


def _hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class FeatureMocks(pulumi.runtime.Mocks):
    """AWS, Octopus and the rollout gate as seen through the engine, recording every registration."""

    def __init__(self, region: str = "eu-west-1", zones: int = 3, template_version: int = 1) -> None:
        self.region = region
        self.zones = zones
        #: The launch template's latest version, as EC2 reports it (a stack updated N-1 times: N).
        self.template_version = template_version
        self.registered: list[MockResourceArgs] = []
        self.calls: list[MockCallArgs] = []

    def call(self, args: MockCallArgs) -> tuple[dict, list]:
        self.calls.append(args)
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"[: self.zones]
            return {
                "id": self.region,
                "names": [f"{self.region}{letter}" for letter in letters],
                "zoneIds": [f"{_zone_prefix(self.region)}-az{index + 1}" for index in range(self.zones)],
                "groupNames": [self.region] * self.zones,
                "state": args.args.get("state"),
            }, []
        if token == "aws:ec2/getAmi:getAmi":
            filters = {f["name"]: f["values"] for f in args.args.get("filters") or []}
            if not args.args.get("owners") and "image-id" not in filters:
                raise AwsRejected("InvalidParameterCombination: owners is required")
            image = filters.get("image-id", [AMI_ID])[0]
            if not re.fullmatch(r"ami-[0-9a-f]{8,17}", image):
                raise AwsRejected(f"InvalidAMIID.Malformed: Invalid id: {image!r}")
            return {
                "id": image,
                "imageId": image,
                "name": "al2023-ami-2023.6.20250107.0-kernel-6.1-x86_64",
                "architecture": "x86_64",
                "ownerId": "137112412989",
                "state": "available",
                "rootDeviceName": "/dev/xvda",
                "virtualizationType": "hvm",
            }, []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "id": ACCOUNT,
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                "userId": "AIDAEXAMPLEUSERID",
            }, []
        if token == "aws:index/getPartition:getPartition":
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}, []
        raise AssertionError(f"the program invoked {token}, which these mocks do not answer")

    def new_resource(self, args: MockResourceArgs) -> tuple[Optional[str], dict]:
        self.registered.append(args)
        if not args.custom:
            return None, {}
        inputs = dict(args.inputs)
        self._check_name(args.typ, inputs)
        handler = self._computed.get(args.typ)
        resource_id, outputs = handler(self, args.name, inputs) if handler else (None, {})
        if resource_id is None:
            resource_id = ID_PREFIXES.get(args.typ, "") + _hex(args.typ, args.name)
        return resource_id, {**inputs, **outputs}

    def _check_name(self, typ: str, inputs: Mapping[str, Any]) -> None:
        rule = NAME_RULES.get(typ)
        name = inputs.get("name")
        if rule is None or name is None:
            return
        limit, pattern = rule
        if len(name) > limit or not re.fullmatch(pattern, name):
            raise AwsRejected(f"ValidationError: {typ} name {name!r} breaks AWS's rule (<= {limit}, {pattern})")

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT}:{resource}"

    def _parameter(self, name, inputs):
        return inputs["name"], {"arn": self._arn("ssm", f"parameter{inputs['name']}"), "version": 1}

    def _key(self, name, inputs):
        policy = json.loads(inputs["policy"])  # KMS refuses a policy that is not JSON
        window = inputs.get("deletionWindowInDays", 30)
        if not 7 <= window <= 30:
            raise AwsRejected(f"ValidationException: PendingWindowInDays {window} is outside 7..30")
        assert policy["Statement"], "a key policy with no statement locks everyone out"
        key_id = "{}-{}-{}-{}-{}".format(*(_hex(name, part, length=n) for part, n in zip("abcde", (8, 4, 4, 4, 12))))
        return key_id, {"arn": self._arn("kms", f"key/{key_id}"), "keyId": key_id}

    def _alias(self, name, inputs):
        return inputs["name"], {"arn": self._arn("kms", inputs["name"]), "targetKeyArn": self._arn("kms", f"key/{inputs['targetKeyId']}")}

    def _role(self, name, inputs):
        return inputs["name"], {"arn": self._arn("iam", f"role/{inputs['name']}", region=False), "uniqueId": "AROA" + _hex(name, length=16).upper()}

    def _profile(self, name, inputs):
        return inputs["name"], {"arn": self._arn("iam", f"instance-profile/{inputs['name']}", region=False)}

    def _launch_template(self, name, inputs):
        user_data = inputs.get("userData")
        if user_data is not None and len(base64.b64decode(user_data, validate=True)) > USERDATA_LIMIT_BYTES:
            raise AwsRejected("InvalidParameterValue: User data is limited to 16384 bytes")
        template_id = "lt-" + _hex(name)
        version = self.template_version
        return template_id, {"arn": self._arn("ec2", f"launch-template/{template_id}"), "latestVersion": version,
                             "defaultVersion": version}

    def _load_balancer(self, name, inputs):
        arn = self._arn("elasticloadbalancing", f"loadbalancer/app/{inputs['name']}/{_hex(name, length=16)}")
        return arn, {"arn": arn, "dnsName": f"{inputs['name']}-1234567890.{self.region}.elb.amazonaws.com", "zoneId": "Z32O12XQLNTSW2"}

    def _target_group(self, name, inputs):
        arn = self._arn("elasticloadbalancing", f"targetgroup/{inputs['name']}/{_hex(name, length=16)}")
        return arn, {"arn": arn}

    def _listener(self, name, inputs):
        arn = self._arn("elasticloadbalancing", f"listener/app/{_hex(name, length=16)}")
        return arn, {"arn": arn}

    def _group(self, name, inputs):
        group = inputs["name"]
        return group, {"arn": self._arn("autoscaling", f"autoScalingGroup:{_hex(name, length=8)}:autoScalingGroupName/{group}")}

    def _tenant(self, name, inputs):
        return "Tenants-1", {"tenant_id": "Tenants-1", "project_ids": ["Projects-1"], "environment_ids": ["Environments-1"], "space_id": "Spaces-1"}

    def _override(self, name, inputs):
        return "Projects-1/Environments-1/Tenants-1", {"project_id": "Projects-1", "environment_id": "Environments-1", "release_id": "Releases-7", "space_id": "Spaces-1"}

    def _rollout(self, name, inputs):
        return _hex(name, length=32), {"status": f"{inputs['asg_name']} runs launch template version {inputs['launch_template_version']}"}

    _computed: dict[str, Callable] = {
        "aws:ssm/parameter:Parameter": _parameter,
        "aws:kms/key:Key": _key,
        "aws:kms/alias:Alias": _alias,
        "aws:iam/role:Role": _role,
        "aws:iam/instanceProfile:InstanceProfile": _profile,
        "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
        "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
        "aws:lb/targetGroup:TargetGroup": _target_group,
        "aws:lb/listener:Listener": _listener,
        "aws:autoscaling/group:Group": _group,
        "pulumi-python:dynamic/octopus:Tenant": _tenant,
        "pulumi-python:dynamic/octopus:AutoDeployOverride": _override,
        "pulumi-python:dynamic/rollout:RolloutGate": _rollout,
    }


@dataclass(frozen=True)
class Registered:
    """One resource as the engine saw it: type, name, parent chain, inputs."""

    type: str
    name: str
    urn: str
    id: Optional[str]
    inputs: dict[str, Any]
    dependencies: frozenset[str] = frozenset()
    """URNs it waits for: explicit `depends_on` and the resources its inputs came from."""
    ignore_changes: tuple[str, ...] = ()
    """Properties the engine keeps from the state once the resource exists (`ignore_changes`)."""

    @property
    def parent_type(self) -> str:
        """Type of the resource it is parented to (the mock URN names the direct parent)."""
        qualified = self.urn.split("::")[2]
        return qualified.split("$")[-2]


@dataclass
class ProgramRun:
    """What one run of the program registered and exported."""

    mocks: FeatureMocks
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {len(found)}"
        return found[0]

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for resource in self.resources:
            counted[resource.type] = counted.get(resource.type, 0) + 1
        return counted


class RecordingMonitor(MockMonitor):
    """The mocks' monitor, also keeping what each registration said it depends on."""

    def __init__(self, mocks: FeatureMocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, frozenset[str]] = {}
        self.ignore_changes: dict[str, tuple[str, ...]] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.dependencies[response.urn] = frozenset(request.dependencies)
        self.ignore_changes[response.urn] = tuple(request.ignoreChanges)
        return response


def use_mocks(mocks: FeatureMocks, *, stack: str = "ryan0001") -> RecordingMonitor:
    """A fresh engine stand-in: new monitor, new root stack, no config yet.

    Also a new event loop: set_mocks takes the main thread's current one, which
    an earlier `asyncio.run()` (or a closed test loop) may have left unset.
    """
    asyncio.set_event_loop(asyncio.new_event_loop())
    monitor = RecordingMonitor(mocks)
    ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="phoenix", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({}, [])
    return monitor


def set_stack_config(config: Mapping[str, Any]) -> None:
    """Config as the engine hands it to a program: strings, objects as JSON."""
    flat = {key: json.dumps(value) if isinstance(value, (dict, list)) else value for key, value in config.items()}
    pulumi.runtime.set_all_config(flat, [key for key in SECRET_KEYS if key in flat])


def run_inline(program: Callable[[], Any]) -> Any:
    """Run `program` under the current mocks until every registration has finished."""
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        value = program()
        return pulumi.Output.from_input(value).apply(lambda resolved: result.setdefault("value", resolved))

    run()
    return result.get("value")


def run_program(config: Mapping[str, Any], *, mocks: Optional[FeatureMocks] = None) -> ProgramRun:
    """The whole program (`__main__.py`'s `main`) under mocks with this stack config."""
    mocks = mocks or FeatureMocks(region=str(config.get("aws:region", "eu-west-1")))
    monitor = use_mocks(mocks, stack=str(config.get("phoenix:feature", "stack")))
    set_stack_config(config)
    main = runpy.run_path(str(MAIN))["main"]

    def program() -> pulumi.Output:
        main()
        return pulumi.Output.all(**ROOT.get().outputs)

    outputs = run_inline(program)
    return ProgramRun(mocks=mocks, resources=_registered(mocks, monitor), outputs=outputs or {})


def _registered(mocks: FeatureMocks, monitor: RecordingMonitor) -> list[Registered]:
    found = {}
    for urn, registration in monitor.get_registered_resources().items():
        qualified, name = urn.split("::")[2], urn.split("::")[3]
        found[(qualified.split("$")[-1], name)] = (urn, registration.id)
    registered = []
    for args in mocks.registered:
        urn, resource_id = found[(args.typ, args.name)]
        registered.append(
            Registered(
                type=args.typ,
                name=args.name,
                urn=urn,
                id=resource_id,
                inputs=dict(args.inputs),
                dependencies=monitor.dependencies.get(urn, frozenset()),
                ignore_changes=monitor.ignore_changes.get(urn, ()),
            )
        )
    return registered


@pytest.fixture
def mocks() -> FeatureMocks:
    """Mocks installed for a test that builds components directly."""
    mocks = FeatureMocks()
    use_mocks(mocks)
    return mocks
