"""Hold `pulumi up` until the auto scaling group has rolled out, or fail saying why.

pulumi-aws starts an instance refresh and returns at once: CI would report
success while old instances still serve, and a failed or rolled-back refresh
would go unnoticed. `RolloutGate` sits after the group and, on create and on
update, polls Auto Scaling until no refresh is pending or running, the group
has its desired capacity in service and healthy, and every in-service instance
runs the expected launch template version. A refresh that ended badly, or a
wait past the timeout, fails the update with what AWS reported.

The waiter is a plain function over a boto3 Auto Scaling client with
injectable sleep and clock, so tests drive it against moto or botocore's
Stubber in milliseconds. boto3 is imported only where a client is built, so
importing `components` stays light; credentials come from boto3's standard
chain, the same one the AWS provider uses, and the provider object holds none.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

#: Refresh states that mean AWS is still working: keep waiting.
ACTIVE_REFRESH_STATES = frozenset(
    {"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"}
)
#: Refresh states that mean this rollout will not happen without a new change.
FAILED_REFRESH_STATES = frozenset(
    {"Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}
)

DEFAULT_TIMEOUT_MINUTES = 30
#: Longer than any sane rollout; beyond it a typo (3000 for 30) would hang CI.
MAX_TIMEOUT_MINUTES = 720
#: First pause between polls; it grows by BACKOFF while nothing changes.
POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 30.0
BACKOFF = 1.5

#: The inputs the gate waits on; a change to any of them is a new rollout.
WAIT_KEYS = ("asg_name", "region", "launch_template_version")
INPUT_KEYS = WAIT_KEYS + ("timeout_minutes",)

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_VERSION = re.compile(r"^[1-9]\d*$")


class RolloutError(RuntimeError):
    """The group did not reach the expected version; the message says what AWS reported."""

    def __init__(self, asg_name: str, message: str) -> None:
        super().__init__(message)
        self.asg_name = asg_name


class RolloutFailed(RolloutError):
    """AWS ended the group's latest instance refresh without success."""

    def __init__(self, asg_name: str, message: str, *, status: str, reason: str) -> None:
        super().__init__(asg_name, message)
        self.status = status
        self.reason = reason


class RolloutTimeout(RolloutError):
    """The group did not converge within the timeout."""


@dataclass(frozen=True)
class Observation:
    """One look at a group: its capacity, what its instances run, its latest refresh."""

    asg_name: str
    expected_version: str
    desired: int
    group_version: Optional[str]
    in_service: Mapping[str, int]
    unhealthy: int
    healthy_on_expected: int
    other_states: Mapping[str, int]
    refresh: Optional[Mapping[str, Any]] = None

    @property
    def refresh_status(self) -> Optional[str]:
        return self.refresh.get("Status") if self.refresh else None

    @property
    def refresh_active(self) -> bool:
        return self.refresh_status in ACTIVE_REFRESH_STATES

    @property
    def converged(self) -> bool:
        """Done: no refresh running, the group launches the version, all in service run it.

        A failed refresh in the history does not matter once the group got there
        anyway (an older refresh, or one that failed after replacing everything).
        """
        expected = _version_label(self.expected_version)
        return (
            not self.refresh_active
            and self.group_version == self.expected_version
            and self.healthy_on_expected >= self.desired
            and set(self.in_service) <= {expected}
        )

    @property
    def failed(self) -> bool:
        return not self.converged and self.refresh_status in FAILED_REFRESH_STATES

    def summary(self) -> str:
        """What AWS reports, in one line: capacity, versions, the latest refresh."""
        parts = [
            f"{self.healthy_on_expected}/{self.desired} healthy in service on "
            f"launch template version {self.expected_version}"
        ]
        if self.group_version != self.expected_version:
            parts.append(f"the group launches version {self.group_version or 'unknown'}")
        in_service = ", ".join(
            f"{count} on {label}" for label, count in sorted(self.in_service.items())
        )
        if self.unhealthy:
            in_service += f" ({self.unhealthy} unhealthy)"
        parts.append(f"in service: {in_service or 'none'}")
        if self.other_states:
            parts.append(
                "not in service: "
                + ", ".join(f"{count} {state}" for state, count in sorted(self.other_states.items()))
            )
        parts.append(_describe_refresh(self.refresh))
        return "; ".join(parts)


def _version_label(version: Optional[str]) -> str:
    return f"version {version}" if version else "no launch template"


def _describe_refresh(refresh: Optional[Mapping[str, Any]]) -> str:
    if not refresh:
        return "no instance refresh has run"
    text = f"instance refresh {refresh.get('InstanceRefreshId', '?')} {refresh.get('Status')}"
    if refresh.get("PercentageComplete") is not None and refresh.get("Status") in ACTIVE_REFRESH_STATES:
        text += f" ({refresh['PercentageComplete']}% complete"
        if refresh.get("InstancesToUpdate") is not None:
            text += f", {refresh['InstancesToUpdate']} to update"
        text += ")"
    if refresh.get("StatusReason"):
        text += f": {refresh['StatusReason']}"
    rollback_reason = (refresh.get("RollbackDetails") or {}).get("RollbackReason")
    if rollback_reason:
        text += f" (rollback reason: {rollback_reason})"
    return text


def _group_template(group: Mapping[str, Any]) -> Mapping[str, Any]:
    """The launch template the group launches from, plain or inside a mixed instances policy."""
    if group.get("LaunchTemplate"):
        return group["LaunchTemplate"]
    policy = group.get("MixedInstancesPolicy") or {}
    return (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification") or {}


def _same_template(launched: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """By id when both carry one, else by name (a template's name is unique in a region)."""
    if launched.get("LaunchTemplateId") and template.get("LaunchTemplateId"):
        return launched["LaunchTemplateId"] == template["LaunchTemplateId"]
    return launched.get("LaunchTemplateName") == template.get("LaunchTemplateName")


def observe(
    group: Mapping[str, Any], refresh: Optional[Mapping[str, Any]], expected_version: str
) -> Observation:
    """Reduce a DescribeAutoScalingGroups record and the latest refresh to an Observation.

    An instance counts as on the expected version only when it was launched
    from the group's own template: a replaced template restarts at version 1,
    and "version 1" of the old one must not pass for it.
    """
    template = _group_template(group)
    in_service: Counter[str] = Counter()
    other_states: Counter[str] = Counter()
    unhealthy = healthy_on_expected = 0
    for instance in group.get("Instances") or []:
        state = instance.get("LifecycleState", "")
        if state != "InService":
            other_states[state] += 1
            continue
        launched = instance.get("LaunchTemplate") or {}
        version = launched.get("Version")
        label = _version_label(version)
        if launched and not _same_template(launched, template):
            label = f"template {launched.get('LaunchTemplateName') or launched.get('LaunchTemplateId')} {label}"
        in_service[label] += 1
        healthy = instance.get("HealthStatus") == "Healthy"
        unhealthy += not healthy
        if healthy and label == _version_label(expected_version):
            healthy_on_expected += 1
    return Observation(
        asg_name=group.get("AutoScalingGroupName", ""),
        expected_version=expected_version,
        desired=int(group.get("DesiredCapacity") or 0),
        group_version=template.get("Version"),
        in_service=dict(in_service),
        unhealthy=unhealthy,
        healthy_on_expected=healthy_on_expected,
        other_states=dict(other_states),
        refresh=refresh,
    )


def failure_message(observation: Observation) -> str:
    """Why a failed refresh fails the rollout, quoting AWS's status and reasons."""
    refresh = observation.refresh or {}
    status = refresh.get("Status")
    outcome = {
        "RollbackSuccessful": "was rolled back",
        "RollbackFailed": "failed and could not be rolled back",
        "Cancelled": "was cancelled",
    }.get(status, "failed")
    return (
        f"the rollout of launch template version {observation.expected_version} to auto "
        f"scaling group {observation.asg_name} {outcome}: {observation.summary()}"
    )


def describe(client: Any, asg_name: str, expected_version: str) -> Observation:
    """Ask AWS about the group and its latest instance refresh (newest first, per the API)."""
    groups = _call(client, asg_name, "describe_auto_scaling_groups", AutoScalingGroupNames=[asg_name])
    found = [g for g in groups.get("AutoScalingGroups", []) if g.get("AutoScalingGroupName") == asg_name]
    if not found:
        raise RolloutError(
            asg_name,
            f"auto scaling group {asg_name} does not exist in {client.meta.region_name}",
        )
    refreshes = _call(
        client, asg_name, "describe_instance_refreshes", AutoScalingGroupName=asg_name, MaxRecords=1
    ).get("InstanceRefreshes") or []
    return observe(found[0], refreshes[0] if refreshes else None, expected_version)


def _call(client: Any, asg_name: str, operation: str, **params: Any) -> Mapping[str, Any]:
    """One API call; what AWS or botocore refused becomes a RolloutError naming the call.

    Throttling and transient faults are retried by botocore itself (the client's
    retry mode); what reaches here is final.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(client, operation)(**params)
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise RolloutError(
            asg_name,
            f"AWS refused {error.operation_name} for auto scaling group {asg_name}: "
            f"{detail.get('Code', 'error')}: {detail.get('Message', '')}".rstrip(": "),
        ) from error
    except BotoCoreError as error:
        raise RolloutError(
            asg_name, f"could not ask AWS about auto scaling group {asg_name}: {error}"
        ) from error


def wait_for_rollout(
    client: Any,
    asg_name: str,
    expected_version: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    max_poll_seconds: float = MAX_POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    report: Optional[Callable[[str], None]] = None,
) -> Observation:
    """Poll until the group has converged on `expected_version`; return the last look.

    The pause starts at `poll_seconds` and grows by BACKOFF up to
    `max_poll_seconds` while nothing changes, back to the start when something
    does. No pause runs past the deadline, so a timeout is raised at most one
    poll after it. `report` hears each new state (progress for the CLI).
    """
    expected_version = str(expected_version)
    deadline = clock() + timeout_seconds
    interval = poll_seconds
    last_summary = None
    while True:
        observation = describe(client, asg_name, expected_version)
        if observation.converged:
            return observation
        if observation.failed:
            refresh = observation.refresh or {}
            raise RolloutFailed(
                asg_name,
                failure_message(observation),
                status=str(refresh.get("Status")),
                reason=str(refresh.get("StatusReason") or ""),
            )
        summary = observation.summary()
        if summary != last_summary:
            interval = poll_seconds
            last_summary = summary
            if report:
                report(f"waiting for auto scaling group {asg_name}: {summary}")
        remaining = deadline - clock()
        if remaining <= 0:
            raise RolloutTimeout(
                asg_name,
                f"timed out after {timeout_seconds / 60:g} min waiting for auto scaling "
                f"group {asg_name} to run launch template version {expected_version}: {summary}",
            )
        sleep(min(interval, remaining))
        interval = min(interval * BACKOFF, max_poll_seconds)


def autoscaling_client(region: str) -> Any:
    """A client on boto3's standard credential chain, with botocore's standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 8},
        connect_timeout=10,
        read_timeout=30,
    )
    return boto3.session.Session().client("autoscaling", region_name=region, config=config)


def _is_unknown(value: Any) -> bool:
    from pulumi.output import Unknown

    return isinstance(value, Unknown)


def check_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Validate and normalise the gate's inputs; unknown values (preview) pass through.

    The version must be a number: `$Latest`/`$Default` name no version an
    instance could be compared with, and a group pinned to them never refreshes.
    """
    inputs: dict[str, Any] = {}
    failures: list[CheckFailure] = []

    def fail(key: str, reason: str) -> None:
        failures.append(CheckFailure(key, reason))

    for key in INPUT_KEYS:
        value = news.get(key)
        inputs[key] = value
        if _is_unknown(value):
            continue
        if key == "asg_name":
            if not isinstance(value, str) or not value.strip() or len(value) > 255:
                fail(key, f"the auto scaling group name must be 1-255 characters, got {value!r}")
        elif key == "region":
            if not isinstance(value, str) or not _REGION.match(value):
                fail(key, f"not an AWS region name: {value!r}")
        elif key == "launch_template_version":
            text = _version_text(value)
            if text is None:
                fail(key, f"must be a launch template version number (1, 2, ...), got {value!r}")
            else:
                inputs[key] = text
        elif key == "timeout_minutes":
            if value is None:
                inputs[key] = DEFAULT_TIMEOUT_MINUTES
            elif (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value <= MAX_TIMEOUT_MINUTES
            ):
                fail(key, f"must be a number of minutes in (0, {MAX_TIMEOUT_MINUTES}], got {value!r}")
            elif isinstance(value, float) and value.is_integer():
                inputs[key] = int(value)
    return inputs, failures


def _version_text(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value) if isinstance(value, (int, str)) else ""
    return text if _VERSION.match(text) else None


class RolloutGateProvider(ResourceProvider):
    """Waits on create and update; nothing to delete. Holds only its poll pacing.

    Pickled into the state, so it keeps no client and no credentials: each
    wait builds a client from boto3's standard chain in the provider process.
    """

    def __init__(
        self, *, poll_seconds: float = POLL_SECONDS, max_poll_seconds: float = MAX_POLL_SECONDS
    ) -> None:
        super().__init__()
        self.poll_seconds = poll_seconds
        self.max_poll_seconds = max_poll_seconds

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new timeout alone is no new rollout; a new version, group or region is.
        changed = [key for key in WAIT_KEYS if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(uuid.uuid4().hex, self._wait(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._wait(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The state records a finished wait; there is nothing in AWS to re-read.
        return ReadResult(id_, props, inputs={key: props.get(key) for key in INPUT_KEYS})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing was created in AWS: the group and its instances belong to the fleet."""

    def _wait(self, props: Mapping[str, Any]) -> dict[str, Any]:
        inputs, failures = check_inputs(props)
        if failures:
            raise ValueError("; ".join(f"{f.property}: {f.reason}" for f in failures))
        observation = wait_for_rollout(
            autoscaling_client(inputs["region"]),
            inputs["asg_name"],
            inputs["launch_template_version"],
            timeout_seconds=float(inputs["timeout_minutes"]) * 60,
            poll_seconds=self.poll_seconds,
            max_poll_seconds=self.max_poll_seconds,
            report=pulumi.log.info,
        )
        return {**inputs, "status": observation.summary()}


class RolloutGate(Resource, module="rollout", name="RolloutGate"):
    """Completes once the group runs `launch_template_version` at full healthy capacity.

    Place it after the group (pass `group.name`) and make whatever reports the
    environment ready depend on it.
    """

    asg_name: pulumi.Output[str]
    region: pulumi.Output[str]
    launch_template_version: pulumi.Output[str]
    timeout_minutes: pulumi.Output[float]
    status: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        asg_name: pulumi.Input[str],
        region: pulumi.Input[str],
        launch_template_version: pulumi.Input[Any],
        timeout_minutes: pulumi.Input[float] = DEFAULT_TIMEOUT_MINUTES,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__(
            RolloutGateProvider(),
            resource_name,
            {
                "asg_name": asg_name,
                "region": region,
                "launch_template_version": launch_template_version,
                "timeout_minutes": timeout_minutes,
                "status": None,
            },
            opts,
        )
