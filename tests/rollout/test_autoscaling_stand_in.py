"""The Auto Scaling stand-in, driven by boto3 as AWS would be: saved configuration, refreshes, rollback, hooks.

These pin down the AWS behaviour the rollout relies on (see the stand-in's
docstring for the sources), and keep the reason for its design visible: the
way pulumi-aws drives a refresh rolls back to the broken version.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.rollout.autoscaling_server import (
    ABANDONS,
    EXTERNAL,
    HANGS,
    HEALTHY,
    SILENT,
    TICK_SECONDS,
    AutoScalingStandIn,
    Hook,
    Template,
)
from tests.rollout.conftest import GROUP, HOOK, Fleet, boto3_session
SAFE = {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "AutoRollback": True, "SkipMatching": True,
        "InstanceWarmup": 30}


@pytest.fixture
def template(fleet: Fleet) -> Template:
    return fleet.template


def group_record(client: Any) -> dict:
    return client.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]


def refresh_record(client: Any, refresh_id: str) -> dict:
    [record] = client.describe_instance_refreshes(AutoScalingGroupName=GROUP, InstanceRefreshIds=[refresh_id])[
        "InstanceRefreshes"]
    return record


def start(client: Any, template: Template, version: str, **preferences: Any) -> str:
    """StartInstanceRefresh to `version` as desired configuration; returns the refresh id."""
    return client.start_instance_refresh(
        AutoScalingGroupName=GROUP, Preferences={**SAFE, **preferences},
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template.id, "Version": version}},
    )["InstanceRefreshId"]


def wait_for_end(stand_in: AutoScalingStandIn) -> None:
    stand_in.run_until(lambda aws: aws.groups[GROUP].active_refresh is None)


def test_a_new_group_runs_its_version_in_service(stand_in, client, template) -> None:
    record = group_record(client)

    assert record["LaunchTemplate"]["Version"] == "1"
    assert [(i["LifecycleState"], i["HealthStatus"], i["LaunchTemplate"]["Version"]) for i in record["Instances"]] \
        == [("InService", "Healthy", "1")] * 2
    activities = client.describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
    assert [a["StatusCode"] for a in activities] == ["Successful", "Successful"]
    assert all(a["Description"].startswith("Launching a new EC2 instance: i-") for a in activities)


def test_the_desired_configuration_reaches_the_group_only_when_the_refresh_succeeds(stand_in, client, template):
    with stand_in.state() as aws:
        version = aws.add_version(template, HEALTHY)

    refresh_id = start(client, template, version)

    assert group_record(client)["LaunchTemplate"]["Version"] == "1", "saved only on success"
    wait_for_end(stand_in)
    record = refresh_record(client, refresh_id)
    assert (record["Status"], record["PercentageComplete"], record["InstancesToUpdate"]) == ("Successful", 100, 0)
    assert record["DesiredConfiguration"]["LaunchTemplate"]["Version"] == "2"
    assert group_record(client)["LaunchTemplate"]["Version"] == "2"
    with stand_in.state() as aws:
        assert aws.versions(GROUP) == {"2": 2}


def test_a_failed_refresh_rolls_back_to_the_configuration_saved_before_it(stand_in, client, template):
    with stand_in.state() as aws:
        broken = aws.add_version(template, ABANDONS)

    refresh_id = start(client, template, broken)
    stand_in.run_until(lambda aws: aws.groups[GROUP].active_refresh.status == "RollbackInProgress")
    with stand_in.state() as aws:
        rolling = aws.describe_refresh(aws.groups[GROUP].active_refresh)
    wait_for_end(stand_in)

    assert rolling["PercentageComplete"] == 0
    assert "abandoned" in rolling["RollbackDetails"]["RollbackReason"]
    record = refresh_record(client, refresh_id)
    assert record["Status"] == "RollbackSuccessful"
    assert group_record(client)["LaunchTemplate"]["Version"] == "1"
    with stand_in.state() as aws:
        assert aws.versions(GROUP) == {"1": 2}
    abandoned = [a for a in client.describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
                 if a["StatusCode"] == "Cancelled"]
    assert abandoned and abandoned[0]["StatusMessage"].endswith("Lifecycle Action Completed with ABANDON Result")


def test_the_provider_way_rolls_back_to_the_broken_version(stand_in, client, template):
    """hashicorp/terraform-provider-aws#34189: UpdateAutoScalingGroup first, then a refresh to the same version."""
    with stand_in.state() as aws:
        broken = aws.add_version(template, ABANDONS)
    spec = {"LaunchTemplateId": template.id, "Version": broken}

    client.update_auto_scaling_group(AutoScalingGroupName=GROUP, LaunchTemplate=spec)
    refresh_id = client.start_instance_refresh(
        AutoScalingGroupName=GROUP, Preferences=SAFE, DesiredConfiguration={"LaunchTemplate": spec},
    )["InstanceRefreshId"]
    wait_for_end(stand_in)

    assert refresh_record(client, refresh_id)["Status"] == "RollbackFailed"
    assert group_record(client)["LaunchTemplate"]["Version"] == broken, "the 'rollback' target was the broken version"
    # From now on every replacement launches the broken version and abandons.
    with stand_in.state() as aws:
        aws.groups[GROUP].live()[0].health = "Unhealthy"
        for _ in range(6):
            aws.advance()
        assert aws.versions(GROUP) == {"1": 1}
    abandoned = [a for a in client.describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
                 if a["StatusCode"] == "Cancelled" and "difference between desired and actual capacity" in a["Cause"]]
    assert abandoned, "capacity replacements now launch the broken version"


def test_one_active_refresh_per_group(stand_in, client, template):
    with stand_in.state() as aws:
        version = aws.add_version(template, HANGS)
    desired = {"LaunchTemplate": {"LaunchTemplateId": template.id, "Version": version}}
    client.start_instance_refresh(AutoScalingGroupName=GROUP, Preferences=SAFE, DesiredConfiguration=desired)

    with pytest.raises(client.exceptions.InstanceRefreshInProgressFault):
        client.start_instance_refresh(AutoScalingGroupName=GROUP, Preferences=SAFE, DesiredConfiguration=desired)


def test_auto_rollback_needs_a_desired_configuration(client, template):
    with pytest.raises(ClientError) as caught:
        client.start_instance_refresh(AutoScalingGroupName=GROUP, Preferences=SAFE)

    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "AutoRollback parameter cannot be set to true" in caught.value.response["Error"]["Message"]


def test_rollback_and_cancel_need_an_active_refresh(stand_in, client, template):
    with pytest.raises(client.exceptions.ActiveInstanceRefreshNotFoundFault):
        client.rollback_instance_refresh(AutoScalingGroupName=GROUP)
    with pytest.raises(client.exceptions.ActiveInstanceRefreshNotFoundFault):
        client.cancel_instance_refresh(AutoScalingGroupName=GROUP)


def test_a_refresh_without_desired_configuration_cannot_be_rolled_back_but_cancelled(stand_in, client, template):
    with stand_in.state() as aws:
        aws.groups[GROUP].live()[0].boots = HANGS
    refresh_id = client.start_instance_refresh(AutoScalingGroupName=GROUP, Preferences={**SAFE, "AutoRollback": False,
                                                                                       "SkipMatching": False})[
        "InstanceRefreshId"]

    with pytest.raises(client.exceptions.IrreversibleInstanceRefreshFault):
        client.rollback_instance_refresh(AutoScalingGroupName=GROUP)
    assert client.cancel_instance_refresh(AutoScalingGroupName=GROUP)["InstanceRefreshId"] == refresh_id
    assert refresh_record(client, refresh_id)["Status"] == "Cancelling"
    assert refresh_record(client, refresh_id)["Status"] == "Cancelled"
    assert group_record(client)["LaunchTemplate"]["Version"] == "1"


def test_rolling_back_by_request_restores_the_saved_version(stand_in, client, template):
    with stand_in.state() as aws:
        stuck = aws.add_version(template, HANGS)
    refresh_id = start(client, template, stuck)
    stand_in.run_until(lambda aws: any(i.spec["Version"] == stuck for i in aws.groups[GROUP].live()))

    assert client.rollback_instance_refresh(AutoScalingGroupName=GROUP)["InstanceRefreshId"] == refresh_id
    wait_for_end(stand_in)

    record = refresh_record(client, refresh_id)
    assert record["Status"] == "RollbackSuccessful"
    assert "requested" in record["RollbackDetails"]["RollbackReason"]
    with stand_in.state() as aws:
        assert aws.versions(GROUP) == {"1": 2} and aws.groups[GROUP].live() == aws.groups[GROUP].instances


def test_a_refresh_of_an_empty_group_succeeds_at_once(stand_in, client):
    with stand_in.state() as aws:
        template = aws.add_template("empty")
        aws.create_group(GROUP, template, "1", desired=0, min_size=0)
        version = aws.add_version(template)

    refresh_id = start(client, template, version)

    assert stand_in.run_until(lambda aws: aws.groups[GROUP].active_refresh is None) == 1
    assert refresh_record(client, refresh_id)["Status"] == "Successful"
    assert group_record(client)["LaunchTemplate"]["Version"] == version


def test_heartbeats_hold_the_hook_and_completion_ends_it(stand_in, client):
    with stand_in.state() as aws:
        template = aws.add_template("external", boots=EXTERNAL)
        aws.create_group(GROUP, template, "1", desired=1, hook=Hook(HOOK, heartbeat_timeout=60), wait=False)
    [instance] = group_record(client)["Instances"]
    assert instance["LifecycleState"] == "Pending:Wait"

    for _ in range(3):  # a heartbeat every 30 s keeps the 60 s timeout away
        with stand_in.state() as aws:
            aws.advance(30)
        client.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=GROUP, LifecycleHookName=HOOK, InstanceId=instance["InstanceId"])
    assert group_record(client)["Instances"][0]["LifecycleState"] == "Pending:Wait"
    with stand_in.state() as aws:
        assert aws.now >= 2 * 60, "held past two heartbeat timeouts"

    client.complete_lifecycle_action(AutoScalingGroupName=GROUP, LifecycleHookName=HOOK,
                                     InstanceId=instance["InstanceId"], LifecycleActionResult="CONTINUE")
    assert group_record(client)["Instances"][0]["LifecycleState"] == "InService"
    with pytest.raises(ClientError, match=f"No active Lifecycle Action found with instance ID {instance['InstanceId']}"):
        client.complete_lifecycle_action(AutoScalingGroupName=GROUP, LifecycleHookName=HOOK,
                                         InstanceId=instance["InstanceId"], LifecycleActionResult="CONTINUE")


def test_without_heartbeats_the_hook_times_out_to_its_default_result(stand_in, client):
    with stand_in.state() as aws:
        template = aws.add_template("silent", boots=SILENT)
        aws.create_group(GROUP, template, "1", desired=1, hook=Hook(HOOK, heartbeat_timeout=60), wait=False)
        first = aws.groups[GROUP].instances[0].id
        aws.advance(61)

    activities = client.describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
    timed_out = next(a for a in activities if first in a["Description"])
    assert timed_out["StatusCode"] == "Cancelled"
    assert timed_out["StatusMessage"].endswith("was abandoned: Heartbeat Timeout")
    assert first not in [i["InstanceId"] for i in group_record(client)["Instances"]]


def test_heartbeats_stop_extending_at_the_global_timeout(stand_in, client):
    with stand_in.state() as aws:
        template = aws.add_template("hangs", boots=HANGS)
        aws.create_group(GROUP, template, "1", desired=1, hook=Hook(HOOK, heartbeat_timeout=30), wait=False)
        first = aws.groups[GROUP].instances[0]
        for _ in range(int(100 * 30 / TICK_SECONDS) + 2):  # 100 x HeartbeatTimeout, heartbeats every tick
            aws.advance()
        assert first.heartbeats >= 199
        assert first not in aws.groups[GROUP].instances


@pytest.mark.parametrize(
    ("call", "params", "message"),
    [
        ("complete_lifecycle_action", {"LifecycleHookName": "other", "LifecycleActionResult": "CONTINUE",
                                       "InstanceId": "i-0"}, "No Lifecycle Hook found with name other"),
        ("complete_lifecycle_action", {"LifecycleHookName": HOOK, "LifecycleActionResult": "CONTINUE"},
         "Either instance ID or lifecycle action token must be specified"),
        ("record_lifecycle_action_heartbeat", {"LifecycleHookName": HOOK, "InstanceId": "i-0ffffffffffffffff"},
         "No active Lifecycle Action found with instance ID i-0ffffffffffffffff"),
    ],
)
def test_hook_calls_fail_as_aws_does(client, template, call, params, message):
    with pytest.raises(ClientError) as caught:
        getattr(client, call)(AutoScalingGroupName=GROUP, **params)

    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert message in caught.value.response["Error"]["Message"]


def test_failed_launches_are_activities_and_aws_retries_them(stand_in, client, template):
    with stand_in.state() as aws:
        version = aws.add_version(template, HEALTHY)
        aws.fail_launches(2)
    start(client, template, version)
    wait_for_end(stand_in)

    failed = [a for a in client.describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
              if a["StatusCode"] == "Failed"]
    assert len(failed) == 2
    assert "We currently do not have sufficient t3.small capacity" in failed[0]["StatusMessage"]
    assert group_record(client)["LaunchTemplate"]["Version"] == version


def test_unsigned_and_foreign_requests_are_refused(stand_in, template):
    foreign = boto3_session(aws_access_key_id="AKIASOMEONEELSE00000", aws_secret_access_key="x").client(
        "autoscaling", region_name="eu-west-1", endpoint_url=stand_in.url)
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        foreign.describe_auto_scaling_groups()
    elsewhere = boto3_session().client("autoscaling", region_name="us-east-1", endpoint_url=stand_in.url)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        elsewhere.describe_auto_scaling_groups()


def test_groups_come_a_page_at_a_time_as_boto3s_paginator_reads_them(stand_in, client, template) -> None:
    with stand_in.state() as aws:
        for number in range(60):
            aws.create_group(f"other{number:02d}", template, "1", desired=0, min_size=0)

    pages = list(client.get_paginator("describe_auto_scaling_groups").paginate())

    assert [len(page["AutoScalingGroups"]) for page in pages] == [50, 11], "50 a page by default; ours is one more"
    assert len({g["AutoScalingGroupName"] for page in pages for g in page["AutoScalingGroups"]}) == 61
    named = client.describe_auto_scaling_groups(AutoScalingGroupNames=["other59", "nothing"])["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in named] == ["other59"], "an unknown name is no error"
    with pytest.raises(ClientError) as refused:
        client.describe_auto_scaling_groups(MaxRecords=101)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
