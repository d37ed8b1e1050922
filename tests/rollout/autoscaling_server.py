"""EC2 Auto Scaling on 127.0.0.1: groups, instance refreshes and launch hooks that keep state.

The rollout resource runs in its own `python -m pulumi.dynamic` process where
no in-process mock reaches, and moto models no instance refreshes; so this
server speaks the Auto Scaling Query API (requests parsed and answers written
from botocore's service model, signed requests only) over a model of what AWS
does. What it models, and where that comes from
(``../shared/reference/aws-rollout.md`` has the full list with confidence):

- A group *saves* one launch template configuration (id + version); every
  launch uses it (API_CreateAutoScalingGroup, API_UpdateAutoScalingGroup).
- StartInstanceRefresh carries the new configuration in DesiredConfiguration;
  AWS writes it onto the group only when the refresh succeeds
  (API_StartInstanceRefresh). One active refresh per group:
  InstanceRefreshInProgress (service model). AutoRollback without a desired
  configuration is a ValidationError (terraform-provider-aws#29830).
- A failed refresh with AutoRollback, and RollbackInstanceRefresh, restore the
  configuration saved on the group *before the refresh started*, replacing the
  instances deployed so far; instances never replaced are left alone; the
  percentage falls back to 0 and RollbackDetails snapshots the progress
  (UG instance-refresh-rollback, API_RollbackInstanceRefresh, API_RollbackDetails).
  A rollback whose saved configuration cannot launch ends RollbackFailed.
  Rollback needs an active refresh with a desired configuration and a numbered
  saved version, else IrreversibleInstanceRefresh; CancelInstanceRefresh stops a
  refresh or a rollback and keeps what was replaced (API_CancelInstanceRefresh).
- Min healthy 100 / max healthy 200: a replacement launches first, the old
  instance goes once the new one is in service and past its warm-up
  (UG instance-refresh-overview, RefreshPreferences in the model).
- Launch lifecycle hooks hold each new instance in Pending:Wait until
  CompleteLifecycleAction or the heartbeat timeout (then DefaultResult);
  RecordLifecycleActionHeartbeat restarts the timeout, never past the global
  timeout of min(48 h, 100 x HeartbeatTimeout) (UG lifecycle-hooks-overview,
  API_PutLifecycleHook, API_RecordLifecycleActionHeartbeat). ABANDON terminates
  the instance with the activity text AWS shows ("... Lifecycle Action
  Completed with ABANDON Result"; AWS Knowledge Center lifecycle-actions-code-deploy).
- DescribeAutoScalingGroups answers a page of 50 groups unless MaxRecords (at most
  100) says otherwise, with a NextToken for the rest; a name that no group has is
  no error, only absent from the answer (API_DescribeAutoScalingGroups).
- Scaling activities, newest first, for each launch: Successful, Cancelled
  (abandoned) or Failed with AWS's text (insufficient capacity); AWS retries a
  failed launch by itself (API_DescribeScalingActivities).

Unconfirmed in the reference, so configurable here: how many abandoned
launches fail a refresh (`launch_failures_to_fail`, default 1), and that a
refresh of a group without instances succeeds at once. Error *codes* follow the
service model; the wording of messages AWS does not document is this file's.

It reproduces hashicorp/terraform-provider-aws#34189: a client that first
updates the group to the new version and then refreshes to it (what pulumi-aws
does) rolls back to that same, broken version
(`test_autoscaling_stand_in.py::test_the_provider_way_rolls_back_to_the_broken_version`).

Time is virtual: it moves TICK_SECONDS after every DescribeAutoScalingGroups
and DescribeInstanceRefreshes (the calls a poll makes), or when a test calls
`advance()`, so
what a test sees never depends on how busy the machine is.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Optional
from urllib.parse import parse_qs
from xml.etree import ElementTree

import botocore.session

REGION = "eu-west-1"
ACCOUNT = "123456789012"
EPOCH = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
#: Virtual seconds that pass with each DescribeInstanceRefreshes.
TICK_SECONDS = 15

#: How an instance's bootstrap ends on a launch template version.
HEALTHY = "healthy"  # completes the hook with CONTINUE after BOOT_SECONDS
ABANDONS = "abandons"  # completes the hook with ABANDON after BOOT_SECONDS
HANGS = "hangs"  # keeps recording heartbeats and never completes
SILENT = "silent"  # never answers: the hook's heartbeat timeout decides
EXTERNAL = "external"  # a test completes the hook through the API, as a bootstrap would
BOOTS = (HEALTHY, ABANDONS, HANGS, SILENT, EXTERNAL)
BOOT_SECONDS = 30

ACTIVE = frozenset({"Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress"})
ROLLBACK_ELIGIBLE = frozenset({"Pending", "InProgress", "Baking"})

INSUFFICIENT_CAPACITY = (
    "We currently do not have sufficient {type} capacity in the Availability Zone you requested ({zone}). "
    "Our system will be working on provisioning additional capacity. You can currently get {type} capacity "
    "by not specifying an Availability Zone in your request or choosing {others}. Launching EC2 instance failed."
)

_MODEL = botocore.session.get_session().get_service_model("autoscaling")
_NAMESPACE = _MODEL.metadata["xmlNamespace"]
_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


class AwsError(Exception):
    """An error document AWS would send: HTTP status, code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def validation(message: str) -> AwsError:
    return AwsError(400, "ValidationError", message)


@dataclass(frozen=True)
class Seen:
    action: str
    params: dict[str, Any]
    access_key_id: Optional[str]
    region: Optional[str]


@dataclass
class Template:
    id: str
    name: str
    boots: dict[int, str] = field(default_factory=dict)
    """Version number -> how instances launched from it boot."""
    default: int = 1

    def spec(self, version: Any) -> dict[str, str]:
        return {"LaunchTemplateId": self.id, "LaunchTemplateName": self.name, "Version": str(version)}

    def resolve(self, version: str) -> int:
        if version == "$Latest":
            return max(self.boots)
        if version == "$Default":
            return self.default
        if not version.isdigit() or int(version) not in self.boots:
            raise validation(f"The specified launch template version {version} does not exist for {self.id}.")
        return int(version)


@dataclass
class Hook:
    name: str
    heartbeat_timeout: int = 3600
    default_result: str = "ABANDON"


@dataclass
class Instance:
    id: str
    spec: dict[str, str]
    """The launch template (id, name, version as launched) it runs."""
    boots: str
    zone: str
    launched: float
    state: str = "Pending"
    health: str = "Healthy"
    token: str = ""
    hook_deadline: float = 0.0
    hook_limit: float = 0.0
    in_service: Optional[float] = None
    refresh_id: Optional[str] = None
    counted: bool = False
    heartbeats: int = 0
    activity: Optional[dict[str, Any]] = None

    def describe(self) -> dict[str, Any]:
        return {
            "InstanceId": self.id,
            "InstanceType": "t3.small",
            "AvailabilityZone": self.zone,
            "LifecycleState": self.state,
            "HealthStatus": self.health,
            "LaunchTemplate": dict(self.spec),
            "ProtectedFromScaleIn": False,
        }


@dataclass
class Refresh:
    id: str
    group: str
    desired: Optional[dict[str, str]]
    preferences: dict[str, Any]
    saved_before: dict[str, str]
    started: float
    status: str = "Pending"
    status_reason: Optional[str] = None
    ended: Optional[float] = None
    target: dict[str, str] = field(default_factory=dict)
    total: int = 0
    replaced: int = 0
    failures: int = 0
    rollback: Optional[dict[str, Any]] = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def rolling_back(self) -> bool:
        return self.status == "RollbackInProgress"


@dataclass
class Group:
    name: str
    template: dict[str, str]
    """The saved launch template configuration: what every launch outside a refresh uses."""
    min_size: int
    max_size: int
    desired: int
    zones: tuple[str, ...]
    hooks: dict[str, Hook] = field(default_factory=dict)
    warmup: int = 60
    instances: list[Instance] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    refreshes: list[Refresh] = field(default_factory=list)
    created: float = 0.0

    @property
    def arn(self) -> str:
        return (f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
                f"{uuid.uuid5(uuid.NAMESPACE_URL, self.name)}:autoScalingGroupName/{self.name}")

    @property
    def active_refresh(self) -> Optional[Refresh]:
        return next((r for r in self.refreshes if r.active), None)

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.state != "Terminated"]

    def describe(self) -> dict[str, Any]:
        return {
            "AutoScalingGroupName": self.name,
            "AutoScalingGroupARN": self.arn,
            "LaunchTemplate": dict(self.template),
            "MinSize": self.min_size,
            "MaxSize": self.max_size,
            "DesiredCapacity": self.desired,
            "DefaultCooldown": 300,
            "AvailabilityZones": list(self.zones),
            "HealthCheckType": "ELB",
            "HealthCheckGracePeriod": 120,
            "Instances": [i.describe() for i in self.live()],
            "CreatedTime": _time(self.created),
            "VPCZoneIdentifier": ",".join(f"subnet-0{n:07x}" for n, _ in enumerate(self.zones)),
            "TerminationPolicies": ["Default"],
            "NewInstancesProtectedFromScaleIn": False,
            "DefaultInstanceWarmup": self.warmup,
        }


def _time(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def _same(left: dict[str, str], right: dict[str, str]) -> bool:
    return left.get("LaunchTemplateId") == right.get("LaunchTemplateId") and left.get("Version") == right.get("Version")


# --- the Query protocol, from the service model -----------------------------------------------


def parse_params(operation: str, flat: dict[str, str]) -> dict[str, Any]:
    """A Query-protocol request (`Preferences.AutoRollback=true`, `Names.member.1=x`) as nested values."""
    shape = _MODEL.operation_model(operation).input_shape
    return (_parse(shape, flat, "") or {}) if shape is not None else {}


def _parse(shape: Any, flat: dict[str, str], key: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        found = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            value = _parse(member, flat, f"{key}.{wire}" if key else wire)
            if value is not None:
                found[name] = value
        return found or None
    if kind == "list":
        items = []
        while any(k == f"{key}.member.{len(items) + 1}" or k.startswith(f"{key}.member.{len(items) + 1}.")
                  for k in flat):
            items.append(_parse(shape.member, flat, f"{key}.member.{len(items) + 1}"))
        # An empty list travels as the bare key with no value.
        return items if items or key in flat else None
    if key not in flat:
        return None
    text = flat[key]
    if kind in ("integer", "long"):
        return int(text)
    if kind == "boolean":
        return text == "true"
    return text


def _element(name: str, value: Any, shape: Any) -> ElementTree.Element:
    element = ElementTree.Element(name)
    kind = shape.type_name
    if kind == "structure":
        for member, member_shape in shape.members.items():
            if value.get(member) is not None:
                element.append(_element(member_shape.serialization.get("name", member), value[member], member_shape))
    elif kind == "list":
        for item in value:
            element.append(_element(shape.member.serialization.get("name", "member"), item, shape.member))
    elif kind == "timestamp":
        element.text = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    elif kind == "boolean":
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
    return element


def render(operation: str, result: dict[str, Any]) -> bytes:
    """The XML document AWS sends for `operation`, built from the service model."""
    output = _MODEL.operation_model(operation).output_shape
    root = ElementTree.Element(f"{operation}Response", xmlns=_NAMESPACE)
    if output is not None:
        root.append(_element(output.serialization["resultWrapper"], result, output))
    metadata = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(metadata, "RequestId").text = str(uuid.uuid4())
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def render_error(error: AwsError) -> bytes:
    root = ElementTree.Element("ErrorResponse", xmlns=_NAMESPACE)
    detail = ElementTree.SubElement(root, "Error")
    ElementTree.SubElement(detail, "Type").text = "Sender"
    ElementTree.SubElement(detail, "Code").text = error.code
    ElementTree.SubElement(detail, "Message").text = error.message
    ElementTree.SubElement(root, "RequestId").text = str(uuid.uuid4())
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _required(operation: str, params: dict[str, Any]) -> None:
    shape = _MODEL.operation_model(operation).input_shape
    for name in shape.required_members if shape is not None else ():
        if params.get(name) is None:
            camel = name[0].lower() + name[1:]
            raise validation(
                f"1 validation error detected: Value null at '{camel}' failed to satisfy constraint: "
                "Member must not be null"
            )


# --- the model ------------------------------------------------------------------------------------


class AutoScaling:
    """The state of one region's Auto Scaling, moved by API calls and by `advance()`."""

    def __init__(self) -> None:
        self.now = 0.0
        self.templates: dict[str, Template] = {}
        self.groups: dict[str, Group] = {}
        self.launch_failures_to_fail = 1
        self._capacity_failures = 0
        self._counter = 0

    # setup: what EC2 and the AWS provider create

    def add_template(self, name: str, boots: str = HEALTHY) -> Template:
        self._counter += 1
        template = Template(id=f"lt-0{self._counter:016x}", name=name, boots={1: boots})
        self.templates[template.id] = template
        return template

    def add_version(self, template: Template, boots: str = HEALTHY) -> str:
        """A new version, as CreateLaunchTemplateVersion makes it; returns its number."""
        if boots not in BOOTS:
            raise ValueError(f"boots must be one of {BOOTS}")
        number = max(template.boots) + 1
        template.boots[number] = boots
        return str(number)

    def create_group(
        self,
        name: str,
        template: Template,
        version: str,
        *,
        desired: int = 2,
        min_size: int = 1,
        max_size: int = 4,
        hook: Optional[Hook] = None,
        warmup: int = 60,
        zones: tuple[str, ...] = (f"{REGION}a", f"{REGION}b"),
        wait: bool = True,
    ) -> Group:
        """A group as CreateAutoScalingGroup leaves it; with `wait`, once its instances are in service."""
        number = template.resolve(version)
        group = Group(
            name=name, template=template.spec(version), min_size=min_size, max_size=max_size, desired=desired,
            zones=zones, warmup=warmup, created=self.now,
            hooks={hook.name: hook} if hook else {},
        )
        self.groups[name] = group
        for _ in range(desired):
            self._launch(group, template.spec(number), cause="an instance was started in response to a difference "
                         "between desired and actual capacity")
        if wait:
            self.settle(name)
        return group

    def fail_launches(self, count: int) -> None:
        """The next `count` launches fail for want of capacity in their zone; AWS retries them."""
        self._capacity_failures = count

    def settle(self, name: str, limit: int = 200) -> None:
        """Advance until the group has nothing in flight (instances launching, a refresh)."""
        group = self.groups[name]
        for _ in range(limit):
            busy = group.active_refresh or any(i.state.startswith("Pending") for i in group.instances) or \
                len([i for i in group.live() if i.state == "InService"]) != group.desired
            if not busy:
                return
            self.advance()
        raise AssertionError(f"group {name} did not settle in {limit} ticks")

    # time

    def advance(self, seconds: float = TICK_SECONDS) -> None:
        self.now += seconds
        for group in self.groups.values():
            self._boot(group)
            refresh = group.active_refresh
            if refresh:
                self._refresh(group, refresh)
            else:
                self._keep_capacity(group)
            group.instances = [i for i in group.instances if i.state != "Terminated"]

    # launching and booting

    def _launch(self, group: Group, spec: dict[str, str], *, cause: str, refresh: Optional[Refresh] = None) -> None:
        zone = group.zones[len(group.instances) % len(group.zones)]
        self._counter += 1
        activity = {
            "ActivityId": str(uuid.UUID(int=self._counter)),
            "AutoScalingGroupName": group.name,
            "AutoScalingGroupARN": group.arn,
            "Cause": f"At {_time(self.now):%Y-%m-%dT%H:%M:%SZ} {cause}.",
            "StartTime": _time(self.now),
            "StatusCode": "InProgress",
            "Progress": 30,
            "Details": f'{{"Subnet ID":"subnet-0{group.zones.index(zone):07x}","Availability Zone":"{zone}"}}',
        }
        group.activities.insert(0, activity)
        if self._capacity_failures:
            self._capacity_failures -= 1
            others = ", ".join(z for z in group.zones if z != zone)
            activity.update(
                Description="Launching a new EC2 instance.  Status Reason: "
                + INSUFFICIENT_CAPACITY.format(type="t3.small", zone=zone, others=others),
                StatusCode="Failed", StatusMessage=INSUFFICIENT_CAPACITY.format(type="t3.small", zone=zone, others=others),
                EndTime=_time(self.now), Progress=100,
            )
            return
        template = self.templates[spec["LaunchTemplateId"]]
        number = template.resolve(spec["Version"])
        instance = Instance(
            id=f"i-0{self._counter:016x}", spec=template.spec(number),
            boots=template.boots[number], zone=zone, launched=self.now,
            refresh_id=refresh.id if refresh else None, activity=activity,
        )
        activity["Description"] = f"Launching a new EC2 instance: {instance.id}"
        hook = next(iter(group.hooks.values()), None)
        if hook:
            instance.state = "Pending:Wait"
            instance.token = str(uuid.UUID(int=self._counter + (1 << 64)))
            instance.hook_deadline = self.now + hook.heartbeat_timeout
            instance.hook_limit = self.now + min(172800, 100 * hook.heartbeat_timeout)
        group.instances.append(instance)

    def _boot(self, group: Group) -> None:
        hook = next(iter(group.hooks.values()), None)
        for instance in list(group.instances):
            if instance.state == "Pending":
                self._in_service(instance, healthy=instance.boots in (HEALTHY, EXTERNAL))
                continue
            if instance.state != "Pending:Wait" or hook is None:
                continue
            ready = self.now - instance.launched >= BOOT_SECONDS
            if instance.boots == HEALTHY and ready:
                self._complete(group, instance, "CONTINUE")
            elif instance.boots == ABANDONS and ready:
                self._complete(group, instance, "ABANDON")
            elif instance.boots == HANGS:
                self._heartbeat(instance, hook)
            if instance.state == "Pending:Wait" and self.now >= instance.hook_deadline:
                self._complete(group, instance, hook.default_result, timed_out=True)
        for instance in group.instances:
            if instance.state == "InService" and instance.health == "Unhealthy":
                instance.state = "Terminated"  # the load balancer's health check: replaced next tick

    def _heartbeat(self, instance: Instance, hook: Hook) -> None:
        instance.heartbeats += 1
        instance.hook_deadline = min(self.now + hook.heartbeat_timeout, instance.hook_limit)

    def _in_service(self, instance: Instance, *, healthy: bool = True) -> None:
        instance.state = "InService"
        instance.health = "Healthy" if healthy else "Unhealthy"
        instance.in_service = self.now
        if instance.activity is not None:
            instance.activity.update(StatusCode="Successful", EndTime=_time(self.now), Progress=100)

    def _complete(self, group: Group, instance: Instance, result: str, *, timed_out: bool = False) -> None:
        if result == "CONTINUE":
            self._in_service(instance)
            return
        instance.state = "Terminated"
        why = "Heartbeat Timeout" if timed_out else "Lifecycle Action Completed with ABANDON Result"
        message = (f"Instance failed to complete user's Lifecycle Action: Lifecycle Action with token "
                   f"{instance.token} was abandoned: {why}")
        if instance.activity is not None:
            instance.activity.update(
                StatusCode="Cancelled", StatusMessage=message, EndTime=_time(self.now), Progress=100,
                Description=f"Launching a new EC2 instance: {instance.id}.  Status Reason: {message}",
            )
        refresh = group.active_refresh
        if refresh and instance.refresh_id == refresh.id:
            refresh.failures += 1

    def _keep_capacity(self, group: Group) -> None:
        live = group.live()
        for _ in range(group.desired - len(live)):
            self._launch(group, group.template, cause="an instance was started in response to a difference "
                         "between desired and actual capacity")
        surplus = len(live) - group.desired
        if surplus > 0:
            # The default termination policy prefers instances not on the group's configuration.
            for instance in sorted(live, key=lambda i: (_same(i.spec, group.template), i.launched))[:surplus]:
                instance.state = "Terminated"

    # instance refreshes

    def _start_phase(self, group: Group, refresh: Refresh, target: dict[str, str]) -> None:
        refresh.target = target
        refresh.total = len(self._to_replace(group, refresh))
        refresh.replaced = 0

    def _to_replace(self, group: Group, refresh: Refresh) -> list[Instance]:
        skip = refresh.preferences.get("SkipMatching", False) or refresh.rolling_back
        return [
            i for i in group.live()
            if i.refresh_id != refresh.id and not (skip and _same(i.spec, refresh.target))
        ]

    def _refresh(self, group: Group, refresh: Refresh) -> None:
        if refresh.status == "Pending":
            refresh.status = "InProgress"
        if refresh.status == "Cancelling":
            self._end(refresh, "Cancelled", "The instance refresh was cancelled.")
            return
        if refresh.failures >= self.launch_failures_to_fail:
            self._fail(group, refresh)  # a rollback starts replacing on the next tick
            return
        old = self._to_replace(group, refresh)
        new = [i for i in group.live() if i.refresh_id == refresh.id and not i.counted]
        for instance in new:
            if instance.state == "InService" and instance.health == "Healthy" and \
                    self.now - (instance.in_service or 0) >= refresh.preferences.get("InstanceWarmup", group.warmup):
                instance.counted = True
                if old:
                    old.pop(0).state = "Terminated"
                    refresh.replaced += 1
        in_flight = [i for i in group.live() if i.refresh_id == refresh.id and not i.counted]
        ceiling = math.ceil(group.desired * refresh.preferences.get("MaxHealthyPercentage", 100) / 100)
        room = max(ceiling - len(group.live()), 0 if in_flight else 1)
        for _ in range(min(room, len(old) - len(in_flight))):
            self._launch(group, refresh.target, cause="an instance was launched in response to an instance refresh",
                         refresh=refresh)
        in_flight = [i for i in group.live() if i.refresh_id == refresh.id and not i.counted]
        if not old and not in_flight:
            if refresh.rolling_back:
                self._end(refresh, "RollbackSuccessful", "The instance refresh was rolled back.")
            else:
                group.template = dict(refresh.desired or group.template)
                self._end(refresh, "Successful", None)
            return
        waiting = next((i for i in in_flight), None)
        if waiting is not None:
            refresh.status_reason = (
                f"Waiting for remaining instances to be available. For example: {waiting.id} has insufficient "
                "data to evaluate its health with Elastic Load Balancing."
            )

    def _fail(self, group: Group, refresh: Refresh) -> None:
        reason = (f"{refresh.failures} instance(s) launched by the instance refresh failed to start: the launch "
                  "lifecycle hook was abandoned")
        if refresh.rolling_back:
            self._end(refresh, "RollbackFailed", f"The rollback failed: {reason}.")
            return
        if not refresh.preferences.get("AutoRollback"):
            self._end(refresh, "Failed", f"Instance refresh failed: {reason}.")
            return
        self._roll_back(group, refresh, f"Rollback was triggered because {reason}.")

    def _roll_back(self, group: Group, refresh: Refresh, reason: str) -> None:
        refresh.rollback = {
            "RollbackReason": reason,
            "RollbackStartTime": _time(self.now),
            "PercentageCompleteOnRollback": self._percent(refresh),
            "InstancesToUpdateOnRollback": max(refresh.total - refresh.replaced, 0),
        }
        refresh.status = "RollbackInProgress"
        refresh.status_reason = reason
        refresh.failures = 0
        # Launches still in flight stop; what this refresh put in service is what the rollback replaces.
        for instance in group.live():
            if instance.refresh_id == refresh.id:
                if instance.state != "InService":
                    instance.state = "Terminated"
                instance.refresh_id = "rolled-back:" + refresh.id
        self._start_phase(group, refresh, refresh.saved_before)

    def _end(self, refresh: Refresh, status: str, reason: Optional[str]) -> None:
        refresh.status = status
        refresh.status_reason = reason
        refresh.ended = self.now

    @staticmethod
    def _percent(refresh: Refresh) -> int:
        if refresh.status in ("Successful", "RollbackSuccessful"):
            return 100
        return refresh.replaced * 100 // refresh.total if refresh.total else 0

    def describe_refresh(self, refresh: Refresh) -> dict[str, Any]:
        record: dict[str, Any] = {
            "InstanceRefreshId": refresh.id,
            "AutoScalingGroupName": refresh.group,
            "Status": refresh.status,
            "StartTime": _time(refresh.started),
            "PercentageComplete": self._percent(refresh),
            "InstancesToUpdate": 0 if refresh.status == "Successful" else max(refresh.total - refresh.replaced, 0),
            "Preferences": dict(refresh.preferences),
            "Strategy": "Rolling",
        }
        if refresh.desired:
            record["DesiredConfiguration"] = {"LaunchTemplate": dict(refresh.desired)}
        if refresh.status_reason:
            record["StatusReason"] = refresh.status_reason[:1023]
        if refresh.ended is not None:
            record["EndTime"] = _time(refresh.ended)
        if refresh.rollback:
            record["RollbackDetails"] = dict(refresh.rollback)
        return record

    # the API

    def group(self, name: Optional[str]) -> Group:
        if not name or name not in self.groups:
            raise validation(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        return self.groups[name]

    def describe_auto_scaling_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        """The groups as they are, a page at a time; then time moves on by one tick (a poll)."""
        names = params.get("AutoScalingGroupNames")
        found = [g.describe() for g in self.groups.values() if names is None or g.name in names]
        first = int(params.get("NextToken") or 0)
        size = params.get("MaxRecords", 50)
        if not 1 <= size <= 100:
            raise validation("MaxRecords must be between 1 and 100.")
        self.advance()
        page: dict[str, Any] = {"AutoScalingGroups": found[first:first + size]}
        if first + size < len(found):
            page["NextToken"] = str(first + size)
        return page

    def describe_instance_refreshes(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first; then time moves on by one tick (a poll)."""
        group = self.group(params["AutoScalingGroupName"])
        wanted = params.get("InstanceRefreshIds")
        found = [self.describe_refresh(r) for r in reversed(group.refreshes) if not wanted or r.id in wanted]
        self.advance()
        return {"InstanceRefreshes": found[: params.get("MaxRecords", 50)]}

    def describe_scaling_activities(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = [self.group(params["AutoScalingGroupName"])] if params.get("AutoScalingGroupName") else \
            list(self.groups.values())
        found = [dict(a) for g in groups for a in g.activities]
        return {"Activities": found[: params.get("MaxRecords", 100)]}

    def start_instance_refresh(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(params["AutoScalingGroupName"])
        if group.active_refresh:
            raise AwsError(400, "InstanceRefreshInProgress",
                           "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
        preferences = dict(params.get("Preferences") or {})
        desired = (params.get("DesiredConfiguration") or {}).get("LaunchTemplate")
        if preferences.get("AutoRollback") and not desired:
            raise validation("The AutoRollback parameter cannot be set to true when the DesiredConfiguration "
                             "parameter is empty.")
        low, high = preferences.get("MinHealthyPercentage"), preferences.get("MaxHealthyPercentage")
        if high is not None and (low is None or not 100 <= high <= 200 or high - low > 100):
            raise validation("MaxHealthyPercentage must be 100-200, set together with MinHealthyPercentage, "
                             "and at most 100 above it.")
        if desired:
            desired = self._spec(desired)
        preferences.setdefault("MinHealthyPercentage", 90)
        preferences.setdefault("MaxHealthyPercentage", 100)
        preferences.setdefault("InstanceWarmup", group.warmup)
        preferences.setdefault("SkipMatching", False)
        preferences.setdefault("AutoRollback", False)
        self._counter += 1
        refresh = Refresh(
            id=str(uuid.UUID(int=self._counter + (2 << 64))), group=group.name, desired=desired,
            preferences=preferences, saved_before=dict(group.template), started=self.now,
        )
        group.refreshes.append(refresh)
        self._start_phase(group, refresh, desired or dict(group.template))
        return {"InstanceRefreshId": refresh.id}

    def _spec(self, spec: dict[str, str]) -> dict[str, str]:
        """A LaunchTemplateSpecification as given (version `$Default` when none), checked against EC2."""
        template = self.templates.get(spec.get("LaunchTemplateId", ""))
        if template is None:
            raise validation(f"The specified launch template, with template ID {spec.get('LaunchTemplateId')}, "
                             "does not exist.")
        template.resolve(spec.get("Version", "$Default"))
        return template.spec(spec.get("Version", "$Default"))

    def rollback_instance_refresh(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(params["AutoScalingGroupName"])
        refresh = group.active_refresh
        if refresh is None or refresh.status not in ROLLBACK_ELIGIBLE:
            raise AwsError(400, "ActiveInstanceRefreshNotFound",
                           f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}")
        if not refresh.desired or not refresh.saved_before.get("Version", "").isdigit():
            raise AwsError(400, "IrreversibleInstanceRefresh",
                           "The instance refresh cannot be rolled back: it has no desired configuration, or the "
                           "group's saved launch template version is not a specific number.")
        self._roll_back(group, refresh, "Rollback was requested by the user (RollbackInstanceRefresh).")
        return {"InstanceRefreshId": refresh.id}

    def cancel_instance_refresh(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(params["AutoScalingGroupName"])
        refresh = group.active_refresh
        if refresh is None or refresh.status == "Cancelling":
            raise AwsError(400, "ActiveInstanceRefreshNotFound",
                           f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}")
        refresh.status = "Cancelling"
        return {"InstanceRefreshId": refresh.id}

    def update_auto_scaling_group(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(params["AutoScalingGroupName"])
        if params.get("LaunchTemplate"):
            group.template = self._spec(params["LaunchTemplate"])
        for key, attribute in (("MinSize", "min_size"), ("MaxSize", "max_size"), ("DesiredCapacity", "desired")):
            if params.get(key) is not None:
                setattr(group, attribute, params[key])
        return {}

    def _pending_action(self, params: dict[str, Any]) -> tuple[Group, Hook, Instance]:
        group = self.group(params["AutoScalingGroupName"])
        hook = group.hooks.get(params["LifecycleHookName"])
        if hook is None:
            raise validation(f"No Lifecycle Hook found with name {params['LifecycleHookName']} for group {group.name}")
        instance_id, token = params.get("InstanceId"), params.get("LifecycleActionToken")
        if not instance_id and not token:
            raise validation("Either instance ID or lifecycle action token must be specified")
        for instance in group.instances:
            if instance.state == "Pending:Wait" and (instance.id == instance_id or (token and instance.token == token)):
                return group, hook, instance
        what = f"instance ID {instance_id}" if instance_id else f"token {token}"
        raise validation(f"No active Lifecycle Action found with {what}")

    def complete_lifecycle_action(self, params: dict[str, Any]) -> dict[str, Any]:
        result = params["LifecycleActionResult"]
        if result not in ("CONTINUE", "ABANDON"):
            raise validation(f"Lifecycle Action Result '{result}' is invalid. Valid values are: CONTINUE, ABANDON")
        group, _, instance = self._pending_action(params)
        self._complete(group, instance, result)
        return {}

    def record_lifecycle_action_heartbeat(self, params: dict[str, Any]) -> dict[str, Any]:
        _, hook, instance = self._pending_action(params)
        self._heartbeat(instance, hook)
        return {}

    # what tests look at

    def versions(self, name: str) -> dict[str, int]:
        """In-service instances per launch template version."""
        counts: dict[str, int] = {}
        for instance in self.groups[name].live():
            if instance.state == "InService":
                counts[instance.spec["Version"]] = counts.get(instance.spec["Version"], 0) + 1
        return counts


OPERATIONS: dict[str, Callable[[AutoScaling, dict[str, Any]], dict[str, Any]]] = {
    "DescribeAutoScalingGroups": AutoScaling.describe_auto_scaling_groups,
    "DescribeInstanceRefreshes": AutoScaling.describe_instance_refreshes,
    "DescribeScalingActivities": AutoScaling.describe_scaling_activities,
    "StartInstanceRefresh": AutoScaling.start_instance_refresh,
    "RollbackInstanceRefresh": AutoScaling.rollback_instance_refresh,
    "CancelInstanceRefresh": AutoScaling.cancel_instance_refresh,
    "UpdateAutoScalingGroup": AutoScaling.update_auto_scaling_group,
    "CompleteLifecycleAction": AutoScaling.complete_lifecycle_action,
    "RecordLifecycleActionHeartbeat": AutoScaling.record_lifecycle_action_heartbeat,
}


class AutoScalingStandIn:
    """The model behind a real HTTP endpoint; `url` goes in AWS_ENDPOINT_URL_AUTO_SCALING.

    Like AWS it refuses unsigned requests, unknown access keys and credentials
    scoped to another region or service, and answers unknown actions and
    missing parameters with AWS's error documents. `requests` logs every call.
    """

    def __init__(self, *, access_key_id: str, region: str = REGION) -> None:
        self.access_key_id = access_key_id
        self.region = region
        self.aws = AutoScaling()
        self.requests: list[Seen] = []
        self.lock = threading.RLock()
        self.on_call: Optional[Callable[[Seen], None]] = None
        #: Called with each call AWS refused, after the refusal and before the answer: what AWS does meanwhile.
        self.on_refused: Optional[Callable[[Seen, "AwsError"], None]] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._server, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def actions(self) -> list[str]:
        with self.lock:
            return [seen.action for seen in self.requests]

    def calls(self, action: str) -> list[Seen]:
        with self.lock:
            return [seen for seen in self.requests if seen.action == action]

    def start(self) -> "AutoScalingStandIn":
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                flat = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
                try:
                    status, payload = 200, stand_in.answer(flat, self.headers.get("Authorization", ""))
                except AwsError as error:
                    status, payload = error.status, render_error(error)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "AutoScalingStandIn":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def answer(self, flat: dict[str, str], authorization: str) -> bytes:
        action = flat.get("Action", "")
        signed = _CREDENTIAL.search(authorization)
        with self.lock:
            params = parse_params(action, flat) if action in OPERATIONS else {}
            seen = Seen(action, params, signed.group(1) if signed else None, signed.group(2) if signed else None)
            self.requests.append(seen)
            if not signed or not authorization.startswith("AWS4-HMAC-SHA256 "):
                raise AwsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
            key, region, service = signed.groups()
            if key != self.access_key_id:
                raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
            if region != self.region or service != "autoscaling":
                raise AwsError(
                    403, "SignatureDoesNotMatch",
                    f"Credential should be scoped to a valid region and service, not '{region}/{service}'.",
                )
            if action not in OPERATIONS:
                raise AwsError(400, "InvalidAction", f"Could not find operation {action} for version 2011-01-01")
            _required(action, params)
            try:
                result = OPERATIONS[action](self.aws, params)
            except AwsError as error:
                if self.on_refused:
                    self.on_refused(seen, error)
                raise
            if self.on_call:
                self.on_call(seen)
            return render(action, result)

    @contextmanager
    def state(self) -> Iterator[AutoScaling]:
        """The model, for a test to set up or inspect while no request changes it."""
        with self.lock:
            yield self.aws

    def run_until(self, done: Callable[[AutoScaling], bool], *, limit: int = 400) -> int:
        """Advance tick by tick until `done(model)`; returns the ticks it took."""
        for ticks in range(limit):
            with self.lock:
                if done(self.aws):
                    return ticks
                self.aws.advance()
        raise AssertionError(f"not done after {limit} ticks")
