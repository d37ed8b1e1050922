"""Auto Scaling API records shaped like AWS's answers, for stubs and the HTTP stand-in.

Every builder fills the members AWS always returns (botocore's Stubber checks
them against the service model), with values in AWS's own formats.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional

REGION = "eu-west-1"
GROUP = "phoenix-ryan0001-fleet"
TEMPLATE_ID = "lt-0a1b2c3d4e5f60718"
TEMPLATE_NAME = "phoenix-ryan0001-fleet"
STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def instance(
    version: Optional[str],
    *,
    index: int = 0,
    state: str = "InService",
    health: str = "Healthy",
    template_id: str = TEMPLATE_ID,
    template_name: str = TEMPLATE_NAME,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "InstanceId": f"i-0{index:016x}",
        "InstanceType": "t3.small",
        "AvailabilityZone": f"{REGION}{'abc'[index % 3]}",
        "LifecycleState": state,
        "HealthStatus": health,
        "ProtectedFromScaleIn": False,
    }
    if version is not None:
        record["LaunchTemplate"] = {
            "LaunchTemplateId": template_id,
            "LaunchTemplateName": template_name,
            "Version": version,
        }
    return record


def fleet(*versions: str, first: int = 0, **kwargs: Any) -> list[dict[str, Any]]:
    """In-service, healthy instances, one per version given."""
    return [instance(v, index=first + i, **kwargs) for i, v in enumerate(versions)]


def group(
    *,
    version: str,
    instances: Iterable[dict[str, Any]] = (),
    desired: int = 2,
    name: str = GROUP,
    mixed: bool = False,
) -> dict[str, Any]:
    template = {
        "LaunchTemplateId": TEMPLATE_ID,
        "LaunchTemplateName": TEMPLATE_NAME,
        "Version": version,
    }
    record: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "AutoScalingGroupARN": (
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:"
            f"6f0e5d1c-9a52-4c61-b1d6-1f6e0c3a7b21:autoScalingGroupName/{name}"
        ),
        "MinSize": 1,
        "MaxSize": 4,
        "DesiredCapacity": desired,
        "DefaultCooldown": 300,
        "AvailabilityZones": [f"{REGION}a", f"{REGION}b"],
        "HealthCheckType": "ELB",
        "HealthCheckGracePeriod": 300,
        "Instances": list(instances),
        "CreatedTime": STARTED - timedelta(days=1),
        "VPCZoneIdentifier": "subnet-0a1b2c3d,subnet-4e5f6a7b",
        "TerminationPolicies": ["Default"],
        "NewInstancesProtectedFromScaleIn": False,
    }
    if mixed:
        record["MixedInstancesPolicy"] = {
            "LaunchTemplate": {"LaunchTemplateSpecification": template, "Overrides": []}
        }
    else:
        record["LaunchTemplate"] = template
    return record


def refresh(
    status: str,
    *,
    reason: Optional[str] = None,
    percent: int = 0,
    to_update: Optional[int] = None,
    rollback_reason: Optional[str] = None,
    refresh_id: str = "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b",
    name: str = GROUP,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "InstanceRefreshId": refresh_id,
        "AutoScalingGroupName": name,
        "Status": status,
        "StartTime": STARTED,
        "PercentageComplete": percent,
        "Preferences": {
            "MinHealthyPercentage": 100,
            "MaxHealthyPercentage": 200,
            "InstanceWarmup": 60,
            "SkipMatching": False,
            "AutoRollback": True,
            "StandbyInstances": "Ignore",
            "ScaleInProtectedInstances": "Ignore",
        },
        "Strategy": "Rolling",
    }
    if to_update is not None:
        record["InstancesToUpdate"] = to_update
    if reason:
        record["StatusReason"] = reason
    if status in {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}:
        record["EndTime"] = STARTED + timedelta(minutes=12)
    if rollback_reason:
        record["RollbackDetails"] = {
            "RollbackReason": rollback_reason,
            "RollbackStartTime": STARTED + timedelta(minutes=9),
            "PercentageCompleteOnRollback": 100 if status == "RollbackSuccessful" else 50,
            "InstancesToUpdateOnRollback": 0,
        }
    return record


def groups_answer(*groups: dict[str, Any]) -> dict[str, Any]:
    return {"AutoScalingGroups": list(groups)}


def refreshes_answer(*refreshes: dict[str, Any]) -> dict[str, Any]:
    return {"InstanceRefreshes": list(refreshes)}
