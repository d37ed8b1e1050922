"""The rollout: the one resource that moves the auto scaling group to a new launch template version.

The group is created on the template's first version and pulumi-aws never
moves it again (`ignore_changes` in the fleet). A new version reaches the
group only here: StartInstanceRefresh with DesiredConfiguration (template id
and an explicit version number), min healthy 100 %, max healthy 200 %, auto
rollback and skip matching. AWS saves the new version on the group only when
the refresh succeeds, so its rollback returns to the version the group ran
before. The provider's own `instance_refresh` updates the group first and so
"rolls back" to the broken version (hashicorp/terraform-provider-aws#34189;
`../shared/reference/aws-rollout.md` §1 and §10).

`up` succeeds once the group saves the version and runs it at full healthy
capacity. A failed or rolled-back refresh fails the update with AWS's status
reason, the instances per version and the failed scaling activities; a
failed update keeps the resource's previous state, so it still names the
version the group runs and the next `up` tries again. Nothing is left running
unattended: on the timeout, or when the run is interrupted, the refresh is
rolled back (cancelled where AWS refuses a rollback) and waited on before the
update fails. A refresh already running, left by a killed run, is adopted and
waited on, never duplicated.

The waiter is plain code over a boto3 Auto Scaling client with injectable
sleep, clock and interruption check, so tests drive it in milliseconds. The
provider object holds no client and no credentials: boto3's standard chain
is read in the provider process, the same one the AWS provider uses.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
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

#: Refresh states that mean AWS is still working (a new refresh would be refused).
ACTIVE_REFRESH_STATES = frozenset({"Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress"})
#: Refresh states a rollback may start from (RollbackInstanceRefresh).
ROLLBACK_STATES = frozenset({"Pending", "InProgress", "Baking"})
#: How a refresh that did not succeed ended, in words.
OUTCOMES = {
    "Failed": "failed",
    "Cancelled": "was cancelled",
    "RollbackSuccessful": "was rolled back",
    "RollbackFailed": "failed and could not be rolled back",
}

DEFAULT_TIMEOUT_MINUTES = 30
#: Longer than any sane rollout; beyond it a typo (3000 for 30) would hang CI.
MAX_TIMEOUT_MINUTES = 720
DEFAULT_WARMUP_SECONDS = 60
MAX_WARMUP_SECONDS = 3600
#: First pause between polls; it grows by BACKOFF while nothing changes.
POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 30.0
BACKOFF = 1.5
#: Longest a pause runs before the interruption check looks again.
INTERRUPT_CHECK_SECONDS = 1.0
#: Where `automation` tells a running provider that its run was interrupted (a file that appears).
INTERRUPT_FILE_ENV = "PHOENIX_INTERRUPT_FILE"

#: The inputs that make a rollout; a change to any of them is a new one.
WAIT_KEYS = ("asg_name", "region", "launch_template_id", "launch_template_version")
INPUT_KEYS = WAIT_KEYS + ("timeout_minutes", "instance_warmup_seconds")

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_VERSION = re.compile(r"^[1-9]\d*$")
_TEMPLATE_ID = re.compile(r"^lt-[0-9a-f]{8,17}$")


class RolloutError(RuntimeError):
    """The group did not reach the version; the message says what AWS reported."""

    def __init__(self, asg_name: str, message: str) -> None:
        super().__init__(message)
        self.asg_name = asg_name


class AwsRefused(RolloutError):
    """AWS (or botocore) refused a call; `code` is AWS's error code."""

    def __init__(self, asg_name: str, message: str, *, code: str) -> None:
        super().__init__(asg_name, message)
        self.code = code


class RolloutFailed(RolloutError):
    """AWS ended the refresh of this rollout without success."""

    def __init__(self, asg_name: str, message: str, *, status: str, reason: str) -> None:
        super().__init__(asg_name, message)
        self.status = status
        self.reason = reason


class RolloutTimeout(RolloutError):
    """The group did not converge in time; any refresh was rolled back first."""


class RolloutInterrupted(RolloutError):
    """The run was interrupted; any refresh was rolled back first."""


@dataclass(frozen=True)
class Target:
    """What the group should run: a template's numbered version, and the refresh warm-up."""

    asg_name: str
    template_id: str
    version: str
    warmup_seconds: int = DEFAULT_WARMUP_SECONDS

    def desired_configuration(self) -> dict[str, Any]:
        return {"LaunchTemplate": {"LaunchTemplateId": self.template_id, "Version": self.version}}

    def preferences(self) -> dict[str, Any]:
        """Keep full capacity (launch before terminating), roll back on failure, leave matching instances."""
        return {
            "MinHealthyPercentage": 100,
            "MaxHealthyPercentage": 200,
            "AutoRollback": True,
            "SkipMatching": True,
            "InstanceWarmup": self.warmup_seconds,
        }

    def matches(self, spec: Mapping[str, Any]) -> bool:
        """A launch template spec (of a group, an instance or a refresh) names this version of this template."""
        return spec.get("LaunchTemplateId") == self.template_id and str(spec.get("Version")) == self.version


@dataclass(frozen=True)
class Observation:
    """One look at the group: what it saves, what its instances run, and the refresh in question."""

    target: Target
    desired: int
    group_spec: Mapping[str, Any]
    in_service: Mapping[str, int]
    unhealthy: int
    healthy_on_target: int
    other_states: Mapping[str, int]
    refresh: Optional[Mapping[str, Any]] = None

    @property
    def group_version(self) -> Optional[str]:
        return self.group_spec.get("Version")

    @property
    def on_target(self) -> bool:
        """The group saves the target: every launch from now on uses it."""
        return self.target.matches(self.group_spec)

    @property
    def refresh_active(self) -> bool:
        return bool(self.refresh) and self.refresh.get("Status") in ACTIVE_REFRESH_STATES

    @property
    def stale(self) -> bool:
        """Instances in service run something other than the target."""
        return any(label != _label(self.target.version) for label in self.in_service)

    @property
    def converged(self) -> bool:
        return (
            self.on_target
            and not self.refresh_active
            and self.healthy_on_target >= self.desired
            and not self.stale
        )

    def summary(self) -> str:
        """Capacity, the group's saved version and instances per version, in one line."""
        parts = [
            f"{self.healthy_on_target}/{self.desired} healthy in service on launch template "
            f"version {self.target.version}"
        ]
        if not self.on_target:
            parts.append(f"the group launches version {self.group_version or 'unknown'}")
        in_service = ", ".join(f"{count} on {label}" for label, count in sorted(self.in_service.items()))
        if self.unhealthy:
            in_service += f" ({self.unhealthy} unhealthy)"
        parts.append(f"in service: {in_service or 'none'}")
        if self.other_states:
            parts.append("not in service: " + ", ".join(
                f"{count} {state}" for state, count in sorted(self.other_states.items())))
        if self.refresh:
            parts.append(describe_refresh(self.refresh))
        return "; ".join(parts)


def _label(version: Optional[str]) -> str:
    return f"version {version}" if version else "no launch template"


def describe_refresh(refresh: Mapping[str, Any]) -> str:
    """`instance refresh <id> <status> (40% complete, 1 to update): <reason> (rollback reason: ...)`."""
    status = refresh.get("Status")
    text = f"instance refresh {refresh.get('InstanceRefreshId', '?')} {status}"
    if refresh.get("PercentageComplete") is not None and status in ACTIVE_REFRESH_STATES:
        text += f" ({refresh['PercentageComplete']}% complete"
        if refresh.get("InstancesToUpdate") is not None:
            text += f", {refresh['InstancesToUpdate']} to update"
        text += ")"
    if refresh.get("StatusReason"):
        text += f": {refresh['StatusReason']}"
    rollback_reason = (refresh.get("RollbackDetails") or {}).get("RollbackReason")
    if rollback_reason and rollback_reason != refresh.get("StatusReason"):
        text += f" (rollback reason: {rollback_reason})"
    return text


def _group_spec(group: Mapping[str, Any]) -> Mapping[str, Any]:
    """The launch template the group saves, plain or inside a mixed instances policy."""
    if group.get("LaunchTemplate"):
        return group["LaunchTemplate"]
    policy = group.get("MixedInstancesPolicy") or {}
    return (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification") or {}


def observe(group: Mapping[str, Any], target: Target, refresh: Optional[Mapping[str, Any]] = None) -> Observation:
    """Reduce a DescribeAutoScalingGroups record to an Observation of `target`.

    An instance counts as on the target only when it was launched from the
    target's template: a replaced template restarts at version 1, and "version
    1" of the old one must not pass for it.
    """
    spec = _group_spec(group)
    in_service: Counter[str] = Counter()
    other_states: Counter[str] = Counter()
    unhealthy = healthy_on_target = 0
    for instance in group.get("Instances") or []:
        state = instance["LifecycleState"]  # required in AWS's Instance shape
        if state != "InService":
            other_states[state] += 1
            continue
        launched = instance.get("LaunchTemplate") or {}
        label = _label(launched.get("Version"))
        if launched and launched.get("LaunchTemplateId") not in (None, target.template_id):
            label = f"template {launched.get('LaunchTemplateName') or launched['LaunchTemplateId']} {label}"
        in_service[label] += 1
        healthy = instance.get("HealthStatus") == "Healthy"
        unhealthy += not healthy
        healthy_on_target += healthy and target.matches(launched)
    return Observation(
        target=target,
        desired=int(group.get("DesiredCapacity") or 0),
        group_spec=spec,
        in_service=dict(in_service),
        unhealthy=unhealthy,
        healthy_on_target=healthy_on_target,
        other_states=dict(other_states),
        refresh=refresh,
    )


def failed_activities(activities: list[Mapping[str, Any]], since: Any = None) -> list[str]:
    """AWS's text for each scaling activity that failed or was cancelled (an abandoned launch), oldest first."""
    found = []
    for activity in reversed(activities):
        if activity.get("StatusCode") not in ("Failed", "Cancelled"):
            continue
        if since is not None and activity.get("StartTime") is not None and activity["StartTime"] < since:
            continue
        text = activity.get("StatusMessage") or activity.get("Description") or activity.get("Cause", "")
        described = activity.get("Description", "").split(".  Status Reason:")[0].strip()
        found.append(f"{described}: {text}" if described and described not in text else text)
    return found


@dataclass
class Rollout:
    """One rollout of `target` over a boto3 Auto Scaling client: start or adopt a refresh, wait, roll back.

    `report` hears progress, `warn` each failed scaling activity once;
    `interrupted` returns why the run must stop (or None), and is asked between
    polls and during every pause.
    """

    client: Any
    target: Target
    timeout_seconds: float
    poll_seconds: float = POLL_SECONDS
    max_poll_seconds: float = MAX_POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    report: Callable[[str], None] = lambda _: None
    warn: Callable[[str], None] = lambda _: None
    interrupted: Callable[[], Optional[str]] = lambda: None
    refresh_id: Optional[str] = None
    """The refresh that carried this rollout (started or adopted), once there is one."""
    _warned: set[str] = field(default_factory=set, init=False, repr=False)
    _failures: list[str] = field(default_factory=list, init=False, repr=False)
    _deadline: float = field(default=0.0, init=False, repr=False)

    @property
    def asg_name(self) -> str:
        return self.target.asg_name

    def run(self) -> Observation:
        """Move the group to the target, or raise saying why not; returns the last look."""
        self._deadline = self.clock() + self.timeout_seconds
        started: set[str] = set()
        while True:
            latest = self._latest_refresh()
            observation = self.look(latest)
            ended = None
            if observation.refresh_active:
                self._adopt(latest, started)
                ended = self.wait_for(latest["InstanceRefreshId"])
                observation = self.look(ended)
            elif latest is not None and latest["InstanceRefreshId"] in started:
                ended = latest  # ours ended between the start and this look
            if ended is not None and not self._carries_target(ended):
                self.report(f"instance refresh {ended['InstanceRefreshId']} of auto scaling group "
                            f"{self.asg_name} (not to version {self.target.version}) ended {ended['Status']}")
                ended = None  # someone else's: what matters is where it left the group
            if ended is not None and ended.get("Status") != "Successful":
                raise self._failed(observation)
            if observation.converged:
                return observation
            if observation.on_target and not observation.stale:
                return self.wait_for_capacity()
            if ended is not None and ended["InstanceRefreshId"] in started:
                raise RolloutError(self.asg_name, "the instance refresh succeeded but the group did not "
                                   f"converge: {observation.summary()}")
            if self.clock() >= self._deadline:  # a loop that never waits still ends
                raise self._error(RolloutTimeout, f"{self._timed_out()} waiting for auto scaling group "
                                  f"{self.asg_name} to run launch template version {self.target.version} (no "
                                  f"instance refresh started): {observation.summary()}")
            refresh_id = self.start()
            if refresh_id is not None:
                started.add(refresh_id)

    # -- looking

    def look(self, refresh: Optional[Mapping[str, Any]] = None) -> Observation:
        groups = self._call("describe_auto_scaling_groups", AutoScalingGroupNames=[self.asg_name])
        found = [g for g in groups.get("AutoScalingGroups") or [] if g.get("AutoScalingGroupName") == self.asg_name]
        if not found:
            raise RolloutError(self.asg_name, f"auto scaling group {self.asg_name} does not exist in "
                               f"{self.client.meta.region_name}")
        return observe(found[0], self.target, refresh)

    def _latest_refresh(self) -> Optional[Mapping[str, Any]]:
        refreshes = self._call("describe_instance_refreshes", AutoScalingGroupName=self.asg_name, MaxRecords=1)
        found = refreshes.get("InstanceRefreshes") or []
        return found[0] if found else None

    def _refresh(self, refresh_id: str) -> Mapping[str, Any]:
        found = self._call(
            "describe_instance_refreshes", AutoScalingGroupName=self.asg_name, InstanceRefreshIds=[refresh_id]
        ).get("InstanceRefreshes") or []
        if not found:
            raise RolloutError(self.asg_name, f"instance refresh {refresh_id} of auto scaling group "
                               f"{self.asg_name} is not known to AWS")
        return found[0]

    def _activities(self, since: Any) -> list[str]:
        """Failed scaling activities since `since`; each new one is also a warning."""
        answer = self._call("describe_scaling_activities", AutoScalingGroupName=self.asg_name, MaxRecords=50)
        failures = failed_activities(answer.get("Activities") or [], since)
        for text in failures:
            if text not in self._warned:
                self._warned.add(text)
                self.warn(f"auto scaling group {self.asg_name}: a scaling activity failed: {text}")
        self._failures = failures
        return failures

    def _carries_target(self, refresh: Mapping[str, Any]) -> bool:
        spec = (refresh.get("DesiredConfiguration") or {}).get("LaunchTemplate") or {}
        return self.target.matches(spec)

    # -- starting and adopting

    def start(self) -> Optional[str]:
        """StartInstanceRefresh with the target as desired configuration; returns its id, or None where one
        started meanwhile (the next look adopts it)."""
        try:
            answer = self._call(
                "start_instance_refresh",
                AutoScalingGroupName=self.asg_name,
                Strategy="Rolling",
                DesiredConfiguration=self.target.desired_configuration(),
                Preferences=self.target.preferences(),
            )
        except AwsRefused as error:
            if error.code != "InstanceRefreshInProgress":
                raise
            self.report(f"an instance refresh started on auto scaling group {self.asg_name} meanwhile; adopting it")
            return None
        self.refresh_id = answer["InstanceRefreshId"]
        self.report(f"started instance refresh {self.refresh_id} of auto scaling group {self.asg_name} to launch "
                    f"template version {self.target.version}")
        return self.refresh_id

    def _adopt(self, refresh: Mapping[str, Any], started: set[str]) -> None:
        refresh_id = refresh["InstanceRefreshId"]
        if self._carries_target(refresh):
            self.refresh_id = refresh_id
        if refresh_id not in started:
            version = ((refresh.get("DesiredConfiguration") or {}).get("LaunchTemplate") or {}).get("Version")
            what = f"to launch template version {version}" if version else "without a desired configuration"
            self.report(f"adopting instance refresh {refresh_id} ({refresh.get('Status')}, {what}) already "
                        f"running on auto scaling group {self.asg_name}; not starting another")

    # -- waiting

    def wait_for(self, refresh_id: str) -> Mapping[str, Any]:
        """Poll one refresh until it ends; on the timeout or an interruption, roll it back first."""
        interval, last = self.poll_seconds, None
        while True:
            refresh = self._refresh(refresh_id)
            if refresh.get("Status") not in ACTIVE_REFRESH_STATES:
                return refresh
            progress = describe_refresh(refresh)
            if progress != last:
                last, interval = progress, self.poll_seconds
                self._activities(refresh.get("StartTime"))
                self.report(f"waiting for auto scaling group {self.asg_name}: {self.look(refresh).summary()}")
            why = self.interrupted()
            if why is None and self.clock() >= self._deadline:
                why = self._timed_out()
            if why is not None:
                raise self._stopped(refresh, why)
            self._pause(interval)
            interval = min(interval * BACKOFF, self.max_poll_seconds)

    def wait_for_capacity(self) -> Observation:
        """The group saves the target and no refresh runs: wait for its instances (a new group launching)."""
        interval, last = self.poll_seconds, None
        while True:
            observation = self.look()
            if observation.converged:
                return observation
            summary = observation.summary()
            if summary != last:
                last, interval = summary, self.poll_seconds
                self._activities(None)
                self.report(f"waiting for auto scaling group {self.asg_name}: {summary}")
            why = self.interrupted()
            if why is None and self.clock() >= self._deadline:
                why = self._timed_out()
            if why is not None:
                raise self._error(RolloutTimeout if why.startswith("timed out") else RolloutInterrupted,
                                  f"{why} waiting for auto scaling group {self.asg_name} to run launch template "
                                  f"version {self.target.version} (no instance refresh to roll back): {summary}")
            self._pause(interval)
            interval = min(interval * BACKOFF, self.max_poll_seconds)

    def _timed_out(self) -> str:
        return f"timed out after {self.timeout_seconds / 60:g} min"

    def _pause(self, seconds: float) -> None:
        """Sleep, in slices that let an interruption through; never past the deadline."""
        end = self.clock() + max(min(seconds, self._deadline - self.clock()), 0)
        while self.clock() < end and self.interrupted() is None:
            self.sleep(min(INTERRUPT_CHECK_SECONDS, end - self.clock()))

    # -- stopping

    def _stopped(self, refresh: Mapping[str, Any], why: str) -> RolloutError:
        """Roll the refresh back (or cancel it), wait for it to end, and say what the group runs now."""
        refresh_id = refresh["InstanceRefreshId"]
        status = refresh.get("Status")
        action = f"already {status}"  # rolling back or cancelling: only waiting is left
        if status in ROLLBACK_STATES:
            action = self._roll_back()
        self.report(f"{why}: instance refresh {refresh_id} of auto scaling group {self.asg_name} {action}; "
                    "waiting for it to end")
        ended = self._wait_to_end(refresh_id)
        self._activities(refresh.get("StartTime"))
        observation = self.look(ended)
        kind = RolloutTimeout if why.startswith("timed out") else RolloutInterrupted
        if ended.get("Status") in ACTIVE_REFRESH_STATES:
            return self._error(kind, f"{why} waiting for auto scaling group {self.asg_name} to run launch template "
                               f"version {self.target.version}; instance refresh {refresh_id} was {action} and is "
                               f"still running (the next run waits for it): {observation.summary()}")
        return self._error(kind, f"{why} waiting for auto scaling group {self.asg_name} to run launch template "
                           f"version {self.target.version}; instance refresh {refresh_id} was {action}; "
                           f"{observation.summary()}")

    def _roll_back(self) -> str:
        """RollbackInstanceRefresh, else CancelInstanceRefresh where AWS refuses it; says which."""
        try:
            self._call("rollback_instance_refresh", AutoScalingGroupName=self.asg_name)
            return "rolled back"
        except AwsRefused as error:
            if error.code == "ActiveInstanceRefreshNotFound":
                return "already over"
            if error.code != "IrreversibleInstanceRefresh":
                raise
        try:
            self._call("cancel_instance_refresh", AutoScalingGroupName=self.asg_name)
        except AwsRefused as error:
            if error.code == "ActiveInstanceRefreshNotFound":
                return "already over"
            raise
        return "cancelled (AWS refused a rollback)"

    def _wait_to_end(self, refresh_id: str) -> Mapping[str, Any]:
        """Poll until the refresh ends, for at most another timeout; interruptions no longer count."""
        deadline = self.clock() + self.timeout_seconds
        interval = self.poll_seconds
        while True:
            refresh = self._refresh(refresh_id)
            if refresh.get("Status") not in ACTIVE_REFRESH_STATES or self.clock() >= deadline:
                return refresh
            self.sleep(max(min(interval, deadline - self.clock()), 0))
            interval = min(interval * BACKOFF, self.max_poll_seconds)

    # -- failing

    def _failed(self, observation: Observation) -> RolloutFailed:
        refresh = observation.refresh or {}
        self._activities(refresh.get("StartTime"))
        status = str(refresh.get("Status"))
        message = (f"the rollout of launch template version {self.target.version} to auto scaling group "
                   f"{self.asg_name} {OUTCOMES.get(status, 'failed')}: {observation.summary()}")
        if not observation.on_target:
            message += f"; the group runs version {observation.group_version}, as before"
        return RolloutFailed(self.asg_name, self._with_failures(message), status=status,
                             reason=str(refresh.get("StatusReason") or ""))

    def _error(self, kind: type[RolloutError], message: str) -> RolloutError:
        return kind(self.asg_name, self._with_failures(message))

    def _with_failures(self, message: str) -> str:
        if not self._failures:
            return message
        counted = Counter(self._failures)
        return message + "; failed scaling activities: " + "; ".join(
            f"{text} (x{count})" if count > 1 else text for text, count in counted.items())

    def _call(self, operation: str, **params: Any) -> Mapping[str, Any]:
        """One API call; what AWS or botocore refused becomes AwsRefused naming the call.

        Throttling and transient faults are retried by botocore itself (the
        client's retry mode); what reaches here is final.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**params)
        except ClientError as error:
            detail = error.response.get("Error") or {}
            code = detail.get("Code") or "error"
            # botocore reads an empty <Message/> as None: the code alone says it then.
            raise AwsRefused(
                self.asg_name,
                f"AWS refused {error.operation_name} for auto scaling group {self.asg_name}: "
                f"{code}: {detail.get('Message') or ''}".rstrip(": "),
                code=code,
            ) from error
        except BotoCoreError as error:
            raise AwsRefused(self.asg_name, f"could not ask AWS about auto scaling group {self.asg_name}: {error}",
                             code="") from error


def autoscaling_client(region: str) -> Any:
    """A client on boto3's standard credential chain, with botocore's standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=30)
    return boto3.session.Session().client("autoscaling", region_name=region, config=config)


def interruption(environ: Mapping[str, str] = os.environ) -> Callable[[], Optional[str]]:
    """Why the provider must stop: `automation` made the interrupt file named in the environment.

    On SIGINT the engine tells providers only through a Cancel call, which the
    Python dynamic host ignores, and the host's own main thread, not this
    call's, gets the signals; so `automation` makes the file when it is
    interrupted, and the rollout sees it within INTERRUPT_CHECK_SECONDS.
    """
    flag = environ.get(INTERRUPT_FILE_ENV)

    def check() -> Optional[str]:
        if flag and Path(flag).exists():
            return "interrupted (SIGINT/SIGTERM)"
        return None

    return check


def _is_unknown(value: Any) -> bool:
    from pulumi.output import Unknown

    return isinstance(value, Unknown)


def check_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Validate and normalise the rollout's inputs; unknown values (preview) pass through.

    The version must be a number: `$Latest`/`$Default` name no version an
    instance could be compared with, and AWS cannot roll back to them.
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
        elif key == "launch_template_id":
            if not isinstance(value, str) or not _TEMPLATE_ID.match(value):
                fail(key, f"not a launch template id (lt-...): {value!r}")
        elif key == "launch_template_version":
            text = _version_text(value)
            if text is None:
                fail(key, f"must be a launch template version number (1, 2, ...), got {value!r}")
            else:
                inputs[key] = text
        elif key == "timeout_minutes":
            inputs[key] = _number(value, DEFAULT_TIMEOUT_MINUTES, key, 0, MAX_TIMEOUT_MINUTES, fail, low_open=True)
        elif key == "instance_warmup_seconds":
            inputs[key] = _number(value, DEFAULT_WARMUP_SECONDS, key, 0, MAX_WARMUP_SECONDS, fail, whole=True)
    return inputs, failures


def _number(value: Any, default: float, key: str, low: float, high: float, fail: Callable[[str, str], None],
            *, low_open: bool = False, whole: bool = False) -> Any:
    if value is None:
        return default
    unit = "seconds" if whole else "minutes"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (low < value if low_open else low <= value) or value > high
        or (whole and not float(value).is_integer())
    ):
        interval = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
        fail(key, f"must be a {'whole ' if whole else ''}number of {unit} in {interval}, got {value!r}")
        return value
    return int(value) if float(value).is_integer() else value


def _version_text(value: Any) -> Optional[str]:
    """A numbered version as text; a whole float (how JSON may carry 3) counts, nothing else that is no number
    written plainly (`True`, `None`, `[3]` and `4.5` never match)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if _VERSION.match(text) else None


class RolloutGateProvider(ResourceProvider):
    """Rolls out on create and update; nothing to delete. Holds only its poll pacing.

    Pickled into the state, so it keeps no client and no credentials: each
    rollout builds a client from boto3's standard chain in the provider process.
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
        # A new timeout or warm-up alone is no new rollout; a new version, template, group or region is.
        changed = [key for key in WAIT_KEYS if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(uuid.uuid4().hex, self._roll_out(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # On failure the engine keeps the old state: it still names the version the group runs.
        return UpdateResult(self._roll_out(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The state records the version this resource deployed; there is nothing else to re-read.
        return ReadResult(id_, props, inputs={key: props.get(key) for key in INPUT_KEYS})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing was created in AWS: the group and its instances belong to the fleet."""

    def _roll_out(self, props: Mapping[str, Any]) -> dict[str, Any]:
        inputs, failures = check_inputs(props)
        if failures:
            raise ValueError("; ".join(f"{f.property}: {f.reason}" for f in failures))
        rollout = Rollout(
            client=autoscaling_client(inputs["region"]),
            target=Target(
                asg_name=inputs["asg_name"],
                template_id=inputs["launch_template_id"],
                version=inputs["launch_template_version"],
                warmup_seconds=inputs["instance_warmup_seconds"],
            ),
            timeout_seconds=float(inputs["timeout_minutes"]) * 60,
            poll_seconds=self.poll_seconds,
            max_poll_seconds=self.max_poll_seconds,
            report=pulumi.log.info,
            warn=pulumi.log.warn,
            interrupted=interruption(),
        )
        observation = rollout.run()
        return {**inputs, "status": observation.summary(), "refresh_id": rollout.refresh_id}


class RolloutGate(Resource, module="rollout", name="RolloutGate"):
    """Owns the launch template version the group runs: rolls it out, or rolls it back and fails.

    Place it after the group (pass `group.name`); make whatever reports the
    environment ready depend on it. Its `launch_template_version` in the state
    is the version the group runs.
    """

    asg_name: pulumi.Output[str]
    region: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    launch_template_version: pulumi.Output[str]
    timeout_minutes: pulumi.Output[float]
    instance_warmup_seconds: pulumi.Output[int]
    status: pulumi.Output[str]
    refresh_id: pulumi.Output[Optional[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        asg_name: pulumi.Input[str],
        region: pulumi.Input[str],
        launch_template_id: pulumi.Input[str],
        launch_template_version: pulumi.Input[Any],
        timeout_minutes: pulumi.Input[float] = DEFAULT_TIMEOUT_MINUTES,
        instance_warmup_seconds: pulumi.Input[int] = DEFAULT_WARMUP_SECONDS,
        provider: Optional[RolloutGateProvider] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__(
            provider or RolloutGateProvider(),
            resource_name,
            {
                "asg_name": asg_name,
                "region": region,
                "launch_template_id": launch_template_id,
                "launch_template_version": launch_template_version,
                "timeout_minutes": timeout_minutes,
                "instance_warmup_seconds": instance_warmup_seconds,
                "status": None,
                "refresh_id": None,
            },
            opts,
        )
