"""The rollout against the Auto Scaling stand-in: start or adopt a refresh, wait, roll back, say why.

boto3 talks HTTP to the stand-in, which keeps the group's saved configuration
and its refreshes; the rollout's clock is a fake that moves only when it
sleeps, so a 30-minute timeout takes milliseconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

import pytest
from botocore.config import Config

from components.rollout import (
    AwsRefused,
    Rollout,
    RolloutError,
    RolloutFailed,
    RolloutInterrupted,
    RolloutTimeout,
    Target,
    describe_refresh,
    failed_activities,
    observe,
)
from tests.rollout.autoscaling_server import ABANDONS, EPOCH, HANGS, HEALTHY, REGION, AwsError, Hook
from tests.rollout.conftest import GROUP, SECRET_ACCESS_KEY, FakeClock, Fleet, boto3_session


def rollout(client: Any, fleet: Fleet, version: str, clock: FakeClock, **kwargs: Any) -> Rollout:
    heard: list[str] = []
    warned: list[str] = []
    options: dict[str, Any] = dict(timeout_seconds=1800, poll_seconds=5, max_poll_seconds=30,
                                   sleep=clock.sleep, clock=clock, report=heard.append, warn=warned.append)
    options.update(kwargs)
    made = Rollout(client=client, target=Target(GROUP, fleet.template.id, version, warmup_seconds=30), **options)
    made.heard, made.warned = heard, warned  # type: ignore[attr-defined]
    return made


def test_a_group_already_on_its_version_needs_no_refresh(client, fleet, stand_in, clock):
    observation = rollout(client, fleet, "1", clock).run()

    assert observation.converged
    assert observation.summary().startswith("2/2 healthy in service on launch template version 1")
    assert stand_in.actions() == ["DescribeInstanceRefreshes", "DescribeAutoScalingGroups"]
    assert clock.sleeps == []


def test_a_new_version_travels_only_in_the_desired_configuration(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    run = rollout(client, fleet, version, clock)

    observation = run.run()

    [start] = stand_in.calls("StartInstanceRefresh")
    assert start.params == {
        "AutoScalingGroupName": GROUP,
        "Strategy": "Rolling",
        "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": fleet.template.id, "Version": "2"}},
        "Preferences": {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "AutoRollback": True,
                        "SkipMatching": True, "InstanceWarmup": 30},
    }
    assert "UpdateAutoScalingGroup" not in stand_in.actions()
    assert observation.converged and observation.in_service == {"version 2": 2}
    assert fleet.saved_version() == "2", "AWS saved the version on success"
    assert run.refresh_id == fleet.refreshes()[-1].id
    assert any(line.startswith(f"started instance refresh {run.refresh_id}") for line in run.heard)


def test_a_failed_refresh_rolls_back_and_says_why(client, fleet, stand_in, clock):
    version = fleet.new_version(ABANDONS)
    run = rollout(client, fleet, version, clock)

    with pytest.raises(RolloutFailed) as caught:
        run.run()

    message = str(caught.value)
    assert message.startswith(f"the rollout of launch template version 2 to auto scaling group {GROUP} was rolled back")
    assert "RollbackSuccessful" in message and "the launch lifecycle hook was abandoned" in message
    assert "in service: 2 on version 1" in message
    assert "the group runs version 1, as before" in message
    assert "Lifecycle Action Completed with ABANDON Result" in message, "the failed activities are the error too"
    assert caught.value.status == "RollbackSuccessful"
    assert caught.value.asg_name == GROUP
    assert caught.value.reason == fleet.refreshes()[-1].status_reason == "The instance refresh was rolled back."
    assert fleet.saved_version() == "1" and fleet.versions() == {"1": 2}
    assert fleet.active_refresh() is None
    assert run.warned and all("a scaling activity failed" in line for line in run.warned)
    assert len(stand_in.calls("StartInstanceRefresh")) == 1
    assert stand_in.calls("RollbackInstanceRefresh") == [], "AWS rolled back by itself"


def test_a_timeout_rolls_the_refresh_back_and_waits_for_it(client, fleet, stand_in, clock):
    add_old_failed_launch(stand_in)
    version = fleet.new_version(HANGS)
    run = rollout(client, fleet, version, clock, timeout_seconds=600)

    with pytest.raises(RolloutTimeout) as caught:
        run.run()

    message = str(caught.value)
    assert message.startswith(f"timed out after 10 min waiting for auto scaling group {GROUP} to run launch "
                              "template version 2; instance refresh")
    assert caught.value.asg_name == GROUP
    assert "yesterday's quota" not in message, "an activity from before the refresh is not why it timed out"
    assert not any("yesterday's quota" in line for line in run.warned), "nor a warning while it runs"
    assert "was rolled back;" in message and "RollbackSuccessful" in message
    assert "in service: 2 on version 1" in message
    assert len(stand_in.calls("RollbackInstanceRefresh")) == 1
    assert fleet.active_refresh() is None, "no refresh is left running"
    assert fleet.saved_version() == "1" and fleet.versions() == {"1": 2}


@pytest.mark.parametrize("timeout", [100, 96.5], ids=["whole-polls", "half-a-second-left"])
def test_the_timeout_fires_within_one_poll_of_the_deadline(client, fleet, stand_in, clock, timeout):
    version = fleet.new_version(HANGS)
    rolled_back_at: list[float] = []
    stand_in.on_call = lambda seen: rolled_back_at.append(clock.now) if seen.action == "RollbackInstanceRefresh" \
        else None

    with pytest.raises(RolloutTimeout):
        rollout(client, fleet, version, clock, timeout_seconds=timeout, poll_seconds=8, max_poll_seconds=8).run()

    assert rolled_back_at == [1000 + timeout], "no pause runs past the deadline"


def test_an_interruption_rolls_back_at_once(client, fleet, stand_in, clock):
    version = fleet.new_version(HANGS)
    started: list[str] = []
    stand_in.on_call = lambda seen: started.append(seen.action) if seen.action == "StartInstanceRefresh" else None

    def interrupted() -> Optional[str]:
        return "interrupted (SIGINT/SIGTERM)" if started and clock.now >= 1012 else None

    with pytest.raises(RolloutInterrupted) as caught:
        rollout(client, fleet, version, clock, interrupted=interrupted).run()

    assert str(caught.value).startswith("interrupted (SIGINT/SIGTERM) waiting for auto scaling group")
    assert len(stand_in.calls("RollbackInstanceRefresh")) == 1
    assert fleet.active_refresh() is None and fleet.versions() == {"1": 2}
    assert clock.now < 1012 + 5 + 1800, "it stopped waiting for the new version at once"


def test_an_interruption_before_any_refresh_has_nothing_to_roll_back(client, stand_in, clock):
    with stand_in.state() as aws:
        template = aws.add_template("booting", boots=HANGS)
        aws.create_group(GROUP, template, "1", desired=1, wait=False)
    fleet = Fleet(stand_in, template)

    with pytest.raises(RolloutInterrupted, match="no instance refresh to roll back"):
        rollout(client, fleet, "1", clock, interrupted=lambda: "interrupted (SIGINT/SIGTERM)").run()

    assert "StartInstanceRefresh" not in stand_in.actions() and "RollbackInstanceRefresh" not in stand_in.actions()


def test_a_refresh_left_running_is_adopted_not_duplicated(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    killed_run = rollout(client, fleet, version, clock)
    killed_run.start()  # the run that started it died here

    run = rollout(client, fleet, version, clock)
    observation = run.run()

    assert observation.converged and fleet.saved_version() == version
    assert len(stand_in.calls("StartInstanceRefresh")) == 1
    assert run.refresh_id == killed_run.refresh_id
    assert f"adopting instance refresh {run.refresh_id} (Pending, to launch template version {version}) already " \
        f"running on auto scaling group {GROUP}; not starting another" in run.heard


def test_a_refresh_to_another_version_is_waited_out_then_ours_starts(client, fleet, stand_in, clock):
    older = fleet.new_version(HEALTHY)
    ours = fleet.new_version(HEALTHY)
    rollout(client, fleet, older, clock).start()

    run = rollout(client, fleet, ours, clock)
    observation = run.run()

    assert observation.converged and fleet.saved_version() == ours
    assert [r.desired["Version"] for r in fleet.refreshes()] == [older, ours]
    assert [r.status for r in fleet.refreshes()] == ["Successful", "Successful"]
    assert f"instance refresh {fleet.refreshes()[0].id} of auto scaling group {GROUP} (not to version {ours}) " \
        "ended Successful" in run.heard


def test_a_refresh_that_succeeds_as_the_group_is_moved_by_hand_fails_saying_so(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)

    def move_back_once_it_succeeded(seen: Any) -> None:
        group = stand_in.aws.groups[GROUP]
        if seen.action == "DescribeInstanceRefreshes" and group.refreshes and \
                group.refreshes[-1].status == "Successful" and group.template["Version"] == version:
            stand_in.aws.update_auto_scaling_group({
                "AutoScalingGroupName": GROUP, "LaunchTemplate": {"LaunchTemplateId": fleet.template.id,
                                                                  "Version": "1"}})

    stand_in.on_call = move_back_once_it_succeeded

    with pytest.raises(RolloutError) as caught:
        rollout(client, fleet, version, clock).run()

    assert type(caught.value) is RolloutError and caught.value.asg_name == GROUP
    assert str(caught.value).startswith("the instance refresh succeeded but the group did not converge: "
                                        f"2/2 healthy in service on launch template version {version}; "
                                        "the group launches version 1")
    assert len(stand_in.calls("StartInstanceRefresh")) == 1, "a group moved by hand is not fought over"


def test_a_refresh_that_starts_meanwhile_is_adopted(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)

    def race(seen: Any) -> None:
        if seen.action == "DescribeAutoScalingGroups" and not stand_in.calls("StartInstanceRefresh"):
            stand_in.aws.start_instance_refresh({
                "AutoScalingGroupName": GROUP, "Preferences": {"AutoRollback": True},
                "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": fleet.template.id,
                                                            "Version": version}}})

    stand_in.on_call = race
    run = rollout(client, fleet, version, clock)

    observation = run.run()

    assert observation.converged
    assert [r.status for r in fleet.refreshes()] == ["Successful"]
    assert "an instance refresh started on auto scaling group" in " ".join(run.heard)


def test_a_refresh_aws_cannot_roll_back_is_cancelled(client, fleet, stand_in, clock):
    stuck = fleet.new_version(HANGS)
    with stand_in.state() as aws:  # an old-style refresh: no desired configuration
        aws.update_auto_scaling_group({"AutoScalingGroupName": GROUP,
                                       "LaunchTemplate": {"LaunchTemplateId": fleet.template.id, "Version": stuck}})
        aws.start_instance_refresh({"AutoScalingGroupName": GROUP, "Preferences": {"MinHealthyPercentage": 100}})

    run = rollout(client, fleet, stuck, clock, timeout_seconds=60)
    with pytest.raises(RolloutTimeout) as caught:
        run.run()

    assert "was cancelled (AWS refused a rollback)" in str(caught.value)
    [adopting] = [line for line in run.heard if line.startswith("adopting")]
    assert "(Pending, without a desired configuration) already running" in adopting
    assert stand_in.actions().count("RollbackInstanceRefresh") == 1
    assert stand_in.actions().count("CancelInstanceRefresh") == 1
    assert fleet.active_refresh() is None and fleet.refreshes()[-1].status == "Cancelled"


def test_failed_launches_are_warnings_while_the_rollout_succeeds(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    with stand_in.state() as aws:
        aws.fail_launches(1)
    run = rollout(client, fleet, version, clock)

    assert run.run().converged

    [warning] = run.warned
    assert warning.startswith(f"auto scaling group {GROUP}: a scaling activity failed: Launching a new EC2 instance")
    assert "We currently do not have sufficient t3.small capacity" in warning


def test_an_empty_group_moves_to_the_version_without_instances(client, stand_in, clock):
    with stand_in.state() as aws:
        template = aws.add_template("asleep")
        aws.create_group(GROUP, template, "1", desired=0, min_size=0)
    fleet = Fleet(stand_in, template)
    version = fleet.new_version(ABANDONS)  # nothing launches, so nothing can fail

    observation = rollout(client, fleet, version, clock).run()

    assert observation.converged and observation.summary().startswith("0/0 healthy")
    assert fleet.saved_version() == version


def test_instances_left_on_another_version_are_refreshed_to_the_saved_one(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    with stand_in.state() as aws:  # someone moved the group by hand; its instances still run version 1
        aws.update_auto_scaling_group({"AutoScalingGroupName": GROUP,
                                       "LaunchTemplate": {"LaunchTemplateId": fleet.template.id, "Version": version}})

    observation = rollout(client, fleet, version, clock).run()

    assert observation.converged and fleet.versions() == {version: 2}
    assert len(stand_in.calls("StartInstanceRefresh")) == 1


def test_a_new_group_still_launching_is_waited_for(client, stand_in, clock):
    with stand_in.state() as aws:
        template = aws.add_template("fresh")
        aws.create_group(GROUP, template, "1", desired=2, wait=False,
                         hook=Hook("h", 300))
    fleet = Fleet(stand_in, template)
    run = rollout(client, fleet, "1", clock)

    observation = run.run()

    assert observation.converged and "StartInstanceRefresh" not in stand_in.actions()
    assert stand_in.actions().count("DescribeAutoScalingGroups") >= 2, "it looked again once they were in service"


def test_a_new_group_whose_instances_never_start_times_out_naming_the_activities(client, stand_in, clock):
    with stand_in.state() as aws:
        template = aws.add_template("broken", boots=ABANDONS)
        aws.create_group(GROUP, template, "1", desired=1, wait=False,
                         hook=Hook("h", 300))
    fleet = Fleet(stand_in, template)

    for _ in range(2):
        add_old_failed_launch(stand_in)
    run = rollout(client, fleet, "1", clock, timeout_seconds=300)
    with pytest.raises(RolloutTimeout) as caught:
        run.run()

    message = str(caught.value)
    assert message.startswith(f"timed out after 5 min waiting for auto scaling group {GROUP} to run launch template "
                              "version 1 (no instance refresh to roll back): 0/1 healthy")
    assert clock.now == 1000 + 300, "it waited until the deadline, not past it"
    assert run.heard and all(line.startswith(f"waiting for auto scaling group {GROUP}: ") for line in run.heard)
    assert "failed scaling activities: Launching a new EC2 instance" in message
    assert "ABANDON Result" in message
    assert message.count("yesterday's quota") == 1 and "yesterday's quota (x2)" in message, "a repeat is counted"
    assert "(x1)" not in message


def test_the_group_is_found_by_name_among_more_than_a_page_of_groups(client, stand_in, clock):
    """AWS answers 50 groups a page: an account with more must not hide this feature's."""
    with stand_in.state() as aws:
        for number in range(60):
            aws.create_group(f"phoenix-other{number:04d}-fleet", aws.add_template(f"other{number}"), "1",
                             desired=0, min_size=0)
        template = aws.add_template("ours")
        aws.create_group(GROUP, template, "1", desired=1)

    observation = rollout(client, Fleet(stand_in, template), "1", clock).run()

    assert observation.converged
    [look] = stand_in.calls("DescribeAutoScalingGroups")
    assert look.params["AutoScalingGroupNames"] == [GROUP]


def test_a_group_deleted_while_its_instances_are_waited_for_fails_naming_it(client, stand_in, clock):
    with stand_in.state() as aws:
        template = aws.add_template("fresh")
        aws.create_group(GROUP, template, "1", desired=2, wait=False, hook=Hook("h", 300))

    def delete_the_group(seen: Any) -> None:  # right after the first look
        if seen.action == "DescribeAutoScalingGroups":
            stand_in.aws.groups.pop(GROUP, None)

    stand_in.on_call = delete_the_group

    with pytest.raises(RolloutError) as caught:
        rollout(client, Fleet(stand_in, template), "1", clock).run()

    assert type(caught.value) is RolloutError
    assert str(caught.value) == f"auto scaling group {GROUP} does not exist in eu-west-1"
    assert caught.value.asg_name == GROUP


def test_progress_is_reported_once_per_new_state(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    run = rollout(client, fleet, version, clock)

    run.run()

    waiting = [line for line in run.heard if line.startswith("waiting for auto scaling group")]
    assert waiting and len(waiting) == len(set(waiting))
    assert any("InProgress" in line for line in waiting)


def test_a_missing_group_fails_at_once(client, stand_in, clock):
    with stand_in.state() as aws:
        template = aws.add_template("orphan")
    fleet = Fleet(stand_in, template, name="phoenix-gone")

    with pytest.raises(RolloutError, match="AutoScalingGroup name not found"):
        Rollout(client=client, target=Target("phoenix-gone", template.id, "1"), timeout_seconds=60,
                sleep=clock.sleep, clock=clock).run()
    assert clock.sleeps == []


def test_refused_credentials_are_a_clear_error_without_the_secret(client, fleet, stand_in, clock):
    stand_in.access_key_id = "AKIASOMEONEELSE00000"

    with pytest.raises(AwsRefused) as caught:
        rollout(client, fleet, "1", clock).run()

    message = str(caught.value)
    assert message.startswith(f"AWS refused DescribeInstanceRefreshes for auto scaling group {GROUP}: "
                              "InvalidClientTokenId")
    assert SECRET_ACCESS_KEY not in message and SECRET_ACCESS_KEY not in repr(caught.value)
    assert caught.value.code == "InvalidClientTokenId"
    assert caught.value.asg_name == GROUP


def test_a_refusal_without_a_message_is_named_by_its_code_alone(client, fleet, stand_in, clock):
    def refuse(seen: Any) -> None:
        if seen.action == "DescribeInstanceRefreshes":
            raise AwsError(403, "AccessDenied", "")

    stand_in.on_call = refuse

    with pytest.raises(AwsRefused) as caught:
        rollout(client, fleet, "1", clock).run()

    assert str(caught.value) == f"AWS refused DescribeInstanceRefreshes for auto scaling group {GROUP}: AccessDenied"
    assert caught.value.code == "AccessDenied"


def test_aws_out_of_reach_is_a_refusal_that_names_the_group(fleet, clock):
    unreachable = boto3_session().client(
        "autoscaling", region_name=REGION, endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2),
    )

    with pytest.raises(AwsRefused) as caught:
        Rollout(client=unreachable, target=Target(GROUP, fleet.template.id, "1"), timeout_seconds=60,
                sleep=clock.sleep, clock=clock).run()

    assert str(caught.value).startswith(f"could not ask AWS about auto scaling group {GROUP}: Could not connect to "
                                        "the endpoint URL")
    assert caught.value.code == "" and caught.value.asg_name == GROUP


@pytest.mark.parametrize("timeout", [60, 41.125], ids=["whole-polls", "half-a-second-left"])
def test_a_rollback_already_running_at_the_deadline_is_waited_on_not_repeated(client, fleet, stand_in, clock, timeout):
    slow = fleet.new_version(HEALTHY)
    with stand_in.state() as aws:  # a killed run's refresh with an hour's warm-up, rolled back by hand
        aws.start_instance_refresh({
            "AutoScalingGroupName": GROUP,
            "Preferences": {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "AutoRollback": True,
                            "InstanceWarmup": 3600},
            "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": fleet.template.id, "Version": slow}}})
        for _ in range(4):
            aws.advance()
        assert aws.versions(GROUP) == {"1": 2, slow: 2}, "the new instances serve, still warming up"
        aws.rollback_instance_refresh({"AutoScalingGroupName": GROUP})

    with pytest.raises(RolloutTimeout) as caught:
        rollout(client, fleet, slow, clock, timeout_seconds=timeout).run()

    message = str(caught.value)
    assert "was already RollbackInProgress and is still running (the next run waits for it)" in message
    assert clock.now == 1000 + timeout + timeout, "the wait for the rollback ends at its own deadline, not past it"
    assert stand_in.actions().count("RollbackInstanceRefresh") == 0, "one rollback at a time"
    assert "StartInstanceRefresh" not in stand_in.actions()


def test_an_old_instance_listed_after_one_still_launching_is_seen_as_stale():
    """AWS lists instances in no promised order: one not in service must not hide those after it."""
    target = Target(GROUP, "lt-0123456789abcdef0", "2")
    on = {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "2"}
    old = {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "1"}
    group = {
        "DesiredCapacity": 2,
        "LaunchTemplate": on,
        "Instances": [
            {"InstanceId": "i-1", "LifecycleState": "Pending", "HealthStatus": "Healthy", "LaunchTemplate": on},
            {"InstanceId": "i-2", "LifecycleState": "InService", "HealthStatus": "Healthy", "LaunchTemplate": on},
            {"InstanceId": "i-3", "LifecycleState": "Terminating", "HealthStatus": "Healthy", "LaunchTemplate": old},
            {"InstanceId": "i-4", "LifecycleState": "InService", "HealthStatus": "Healthy", "LaunchTemplate": old},
        ],
    }
    seen = observe(group, target)
    assert seen.in_service == {"version 2": 1, "version 1": 1}
    assert seen.other_states == {"Pending": 1, "Terminating": 1}
    assert seen.stale and not seen.converged
    assert seen.healthy_on_target == 1


TEMPLATE = "lt-0123456789abcdef0"
ON, OLD = {"LaunchTemplateId": TEMPLATE, "Version": "2"}, {"LaunchTemplateId": TEMPLATE, "Version": "1"}


def _instance(state: str, launched: Optional[dict], health: str = "Healthy") -> dict:
    found = {"InstanceId": "i-0", "LifecycleState": state, "HealthStatus": health}
    return {**found, "LaunchTemplate": launched} if launched else found


@pytest.mark.parametrize(
    ("group", "said"),
    [
        ({"DesiredCapacity": 2, "LaunchTemplate": ON, "Instances": [_instance("InService", ON)] * 2},
         "2/2 healthy in service on launch template version 2; in service: 2 on version 2"),
        ({"DesiredCapacity": 2, "LaunchTemplate": OLD,
          "Instances": [_instance("InService", OLD), _instance("InService", OLD, "Unhealthy"),
                        _instance("Pending", ON)]},
         "0/2 healthy in service on launch template version 2; the group launches version 1; "
         "in service: 2 on version 1 (1 unhealthy); not in service: 1 Pending"),
        ({"DesiredCapacity": 1, "Instances": [_instance("InService", None)]},
         "0/1 healthy in service on launch template version 2; the group launches version unknown; "
         "in service: 1 on no launch template"),
        ({"DesiredCapacity": 0, "MixedInstancesPolicy": {"LaunchTemplate": {"LaunchTemplateSpecification": ON}}},
         "0/0 healthy in service on launch template version 2; in service: none"),
        ({"DesiredCapacity": 3, "LaunchTemplate": ON,
          "Instances": [_instance("InService", ON),
                        _instance("InService", {"LaunchTemplateId": "lt-0fedcba9876543210",
                                                "LaunchTemplateName": "phoenix-old-fleet", "Version": "7"}),
                        _instance("InService", {"LaunchTemplateId": "lt-0aaaabbbbccccdddd", "Version": "2"}),
                        _instance("Pending", ON), _instance("Pending", ON), _instance("Terminating", OLD)]},
         "1/3 healthy in service on launch template version 2; in service: 1 on template lt-0aaaabbbbccccdddd "
         "version 2, 1 on template phoenix-old-fleet version 7, 1 on version 2; not in service: 2 Pending, "
         "1 Terminating"),
    ],
    ids=["on-target", "launches-another-version", "no-launch-template", "empty-mixed-policy", "other-templates"],
)
def test_a_look_at_the_group_is_said_in_one_line(group: dict, said: str) -> None:
    """The line every wait reports and every failure ends with: what a person reads to know the group's state."""
    assert observe(group, Target(GROUP, TEMPLATE, "2")).summary() == said


@pytest.mark.parametrize(
    ("activity", "said"),
    [
        ({"StatusMessage": "We currently do not have sufficient t3.small capacity",
          "Description": "Launching a new EC2 instance.  Status Reason: We currently do not have sufficient t3.small "
                         "capacity", "Cause": "At 10:00 an instance was started"},
         "Launching a new EC2 instance: We currently do not have sufficient t3.small capacity"),
        ({"Description": "Launching a new EC2 instance: i-0abc.  Status Reason: Lifecycle Action Completed with "
                         "ABANDON Result"},
         "Launching a new EC2 instance: i-0abc.  Status Reason: Lifecycle Action Completed with ABANDON Result"),
        ({"Cause": "At 10:00 an instance was started in response to a difference between desired and actual "
                   "capacity"},
         "At 10:00 an instance was started in response to a difference between desired and actual capacity"),
        ({"StatusMessage": "Launching a new EC2 instance failed", "Description": "Launching a new EC2 instance"},
         "Launching a new EC2 instance failed"),
        ({}, ""),
    ],
    ids=["message-after-description", "description-alone", "cause-alone", "message-holds-description", "nothing"],
)
def test_a_failed_activity_is_said_with_aws_own_words_once(activity: dict, said: str) -> None:
    assert failed_activities([{"StatusCode": "Failed", **activity}]) == [said]


def add_old_failed_launch(stand_in: Any) -> None:
    """A launch that failed an hour before the rollout started: not why the rollout failed."""
    with stand_in.state() as aws:
        aws.groups[GROUP].activities.append({
            "ActivityId": "0a1b2c3d-old", "AutoScalingGroupName": GROUP, "StatusCode": "Failed",
            "Cause": "An hour ago.", "Description": "Launching a new EC2 instance.  Status Reason: yesterday's quota",
            "StatusMessage": "yesterday's quota", "StartTime": EPOCH - timedelta(hours=1), "Progress": 100,
        })


def test_a_failure_names_only_the_activities_of_its_own_refresh(client, fleet, stand_in, clock):
    add_old_failed_launch(stand_in)
    with stand_in.state() as aws:  # another feature's group fails too, while ours rolls out
        other = aws.create_group("phoenix-anna0002-fleet", aws.add_template("anna"), "1", desired=0, min_size=0)
        other.activities.append({
            "ActivityId": "0a1b2c3d-other", "AutoScalingGroupName": other.name, "StatusCode": "Failed",
            "Cause": "Meanwhile.", "Description": "Launching a new EC2 instance.  Status Reason: anna's quota",
            "StatusMessage": "anna's quota", "StartTime": EPOCH + timedelta(days=365), "Progress": 100,
        })
    version = fleet.new_version(ABANDONS)

    with pytest.raises(RolloutFailed) as caught:
        rollout(client, fleet, version, clock).run()

    assert "Lifecycle Action Completed with ABANDON Result" in str(caught.value)
    assert "yesterday's quota" not in str(caught.value)
    assert "anna's quota" not in str(caught.value), "another group's failure is not this rollout's"


def test_a_refresh_that_ends_as_the_run_is_interrupted_needs_no_rollback(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    started: list[str] = []
    stand_in.on_call = lambda seen: started.append(seen.action) if seen.action == "StartInstanceRefresh" else None

    def interrupted() -> Optional[str]:
        if not started:
            return None
        with stand_in.state() as aws:  # AWS finishes the refresh just as the run is stopped
            while aws.groups[GROUP].active_refresh is not None:
                aws.advance()
        return "interrupted (SIGINT/SIGTERM)"

    with pytest.raises(RolloutInterrupted) as caught:
        rollout(client, fleet, version, clock, interrupted=interrupted).run()

    assert "was already over;" in str(caught.value)
    assert stand_in.actions().count("RollbackInstanceRefresh") == 1
    assert "CancelInstanceRefresh" not in stand_in.actions()
    assert fleet.saved_version() == version


def test_a_refresh_that_ends_before_it_can_be_cancelled_is_left_alone(client, fleet, stand_in, clock):
    version = fleet.new_version(HEALTHY)
    with stand_in.state() as aws:  # an old-style refresh: no desired configuration, so no rollback
        aws.update_auto_scaling_group({"AutoScalingGroupName": GROUP,
                                       "LaunchTemplate": {"LaunchTemplateId": fleet.template.id, "Version": version}})
        aws.start_instance_refresh({"AutoScalingGroupName": GROUP, "Preferences": {"MinHealthyPercentage": 100}})

    def finish(seen: Any, error: Any) -> None:  # it succeeds between the refused rollback and the cancel
        if seen.action == "RollbackInstanceRefresh":
            while stand_in.aws.groups[GROUP].active_refresh is not None:
                stand_in.aws.advance()

    stand_in.on_refused = finish

    with pytest.raises(RolloutInterrupted) as caught:
        rollout(client, fleet, version, clock, interrupted=lambda: "interrupted (SIGINT/SIGTERM)").run()

    assert "was already over;" in str(caught.value)
    assert stand_in.actions().count("CancelInstanceRefresh") == 1
    assert fleet.refreshes()[-1].status == "Successful"


def test_the_wait_follows_its_own_refresh_when_another_starts_after_it(client, fleet, stand_in, clock):
    """Another refresh may start on the group the moment ours ends (a second pipeline): the
    wait must report how ours ended, not wait out the newer one and start a second of its own."""
    ours = fleet.new_version(ABANDONS)
    theirs = fleet.new_version(HEALTHY)

    def start_theirs_once_ours_ended(_sleeps: int) -> None:
        with stand_in.state() as aws:
            group = aws.groups[GROUP]
            if len(group.refreshes) == 1 and not group.refreshes[0].active:
                aws.start_instance_refresh({
                    "AutoScalingGroupName": GROUP, "Preferences": {"AutoRollback": True},
                    "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": fleet.template.id,
                                                                "Version": theirs}}})

    clock.on_sleep = start_theirs_once_ours_ended
    run = rollout(client, fleet, ours, clock)

    with pytest.raises(RolloutFailed) as caught:
        run.run()

    mine, other = fleet.refreshes()
    assert caught.value.status == "RollbackSuccessful"
    assert f"instance refresh {mine.id} RollbackSuccessful" in str(caught.value)
    assert other.id not in str(caught.value)
    assert len(stand_in.calls("StartInstanceRefresh")) == 1, "ours only: theirs was neither waited out nor followed"
    assert run.refresh_id == mine.id


def test_a_refresh_aws_no_longer_knows_fails_naming_it_and_its_group(client, fleet, stand_in, clock):
    """The group deleted and made again under its name while the rollout waits: its refreshes are gone."""
    version = fleet.new_version(HEALTHY)

    def recreate_the_group(_sleeps: int) -> None:
        with stand_in.state() as aws:
            if aws.groups[GROUP].refreshes:
                aws.create_group(GROUP, fleet.template, "1", desired=2, hook=Hook("phoenix-bootstrap", 300))

    clock.on_sleep = recreate_the_group
    run = rollout(client, fleet, version, clock)

    with pytest.raises(RolloutError) as caught:
        run.run()

    assert type(caught.value) is RolloutError
    assert str(caught.value) == f"instance refresh {run.refresh_id} of auto scaling group {GROUP} is not known to AWS"
    assert caught.value.asg_name == GROUP


def test_a_refresh_ending_in_a_state_aws_may_add_later_is_a_failure_by_that_name(client, fleet, stand_in, clock):
    """AWS's list of refresh states has grown before (Baking, the rollback states); one phoenix does
    not know is a failure, not a success or a crash, and a missing reason stays empty."""
    version = fleet.new_version(HANGS)

    def end_in_a_new_state(_sleeps: int) -> None:
        with stand_in.state() as aws:
            refresh = aws.groups[GROUP].refreshes[-1] if aws.groups[GROUP].refreshes else None
            if refresh is not None and refresh.active:
                refresh.status, refresh.status_reason, refresh.ended = "Abandoned", None, aws.now

    clock.on_sleep = end_in_a_new_state

    with pytest.raises(RolloutFailed) as caught:
        rollout(client, fleet, version, clock).run()

    assert str(caught.value).startswith(f"the rollout of launch template version {version} to auto scaling group "
                                        f"{GROUP} failed: ")
    assert "Abandoned" in str(caught.value)
    assert caught.value.status == "Abandoned"
    assert caught.value.reason == ""


def test_a_refresh_that_fails_before_the_first_look_is_reported_not_started_again(client, fleet, stand_in, clock):
    version = fleet.new_version(ABANDONS)

    def fail_at_once(seen: Any) -> None:  # AWS rolls it back before the rollout looks again
        if seen.action == "StartInstanceRefresh":
            while stand_in.aws.groups[GROUP].active_refresh is not None:
                stand_in.aws.advance()

    stand_in.on_call = fail_at_once

    with pytest.raises(RolloutFailed) as caught:
        rollout(client, fleet, version, clock).run()

    assert caught.value.status == "RollbackSuccessful"
    assert len(stand_in.calls("StartInstanceRefresh")) == 1
    assert [r.status for r in fleet.refreshes()] == ["RollbackSuccessful"]


def test_a_deadline_reached_before_any_refresh_starts_none(client, fleet, stand_in, clock):
    """AWS slow to answer (throttled, retried) can use up the timeout before the first refresh."""
    version = fleet.new_version(HEALTHY)

    def slow_answer(seen: Any) -> None:
        if seen.action == "DescribeAutoScalingGroups":
            clock.now += 60  # the whole timeout: the deadline is reached, not passed

    stand_in.on_call = slow_answer

    with pytest.raises(RolloutTimeout) as caught:
        rollout(client, fleet, version, clock, timeout_seconds=60).run()

    assert str(caught.value).startswith(f"timed out after 1 min waiting for auto scaling group {GROUP} to run "
                                        f"launch template version {version} (no instance refresh started): ")
    assert "StartInstanceRefresh" not in stand_in.actions()
    assert fleet.saved_version() == "1"


def test_an_activity_that_starts_the_second_its_refresh_does_counts_as_the_refreshs():
    """AWS's times are whole seconds: a refresh's first launch often shares its start time."""
    start = EPOCH + timedelta(minutes=5)
    activities = [  # newest first, as AWS lists them
        {"StatusCode": "Failed", "StartTime": start, "StatusMessage": "launched with the refresh"},
        {"StatusCode": "Failed", "StartTime": start - timedelta(seconds=1), "StatusMessage": "a second before"},
    ]
    assert failed_activities(activities, since=start) == ["launched with the refresh"]
    assert failed_activities(activities) == ["a second before", "launched with the refresh"]


def test_the_providers_client_rides_out_throttling_and_a_hung_connection():
    """botocore's standard retry mode retries throttling and transient faults; a dead endpoint fails in time."""
    from components.rollout import autoscaling_client

    config = autoscaling_client("eu-west-1").meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 9}, "eight retries after the first try"
    assert (config.connect_timeout, config.read_timeout) == (10, 30)


@pytest.mark.parametrize(
    ("refresh", "said"),
    [
        ({"InstanceRefreshId": "r-1", "Status": "InProgress", "PercentageComplete": 40, "InstancesToUpdate": 1},
         "instance refresh r-1 InProgress (40% complete, 1 to update)"),
        ({"InstanceRefreshId": "r-1", "Status": "Baking", "PercentageComplete": 100},
         "instance refresh r-1 Baking (100% complete)"),
        ({"InstanceRefreshId": "r-1", "Status": "InProgress", "PercentageComplete": 0, "InstancesToUpdate": 0},
         "instance refresh r-1 InProgress (0% complete, 0 to update)"),
        ({"InstanceRefreshId": "r-2", "Status": "Failed", "PercentageComplete": 50, "InstancesToUpdate": 1,
          "StatusReason": "launch failed"},
         "instance refresh r-2 Failed: launch failed"),
        ({"InstanceRefreshId": "r-3", "Status": "RollbackSuccessful", "StatusReason": "health checks failed",
          "RollbackDetails": {"RollbackReason": "alarm fired"}},
         "instance refresh r-3 RollbackSuccessful: health checks failed (rollback reason: alarm fired)"),
        ({"InstanceRefreshId": "r-4", "Status": "RollbackSuccessful", "StatusReason": "same",
          "RollbackDetails": {"RollbackReason": "same"}},
         "instance refresh r-4 RollbackSuccessful: same"),
        ({"Status": "Pending"}, "instance refresh ? Pending"),
    ],
    ids=["progress", "no-count", "zero-is-shown", "ended-shows-no-progress", "rollback-reason", "reason-once", "no-id"],
)
def test_a_refresh_is_described_with_its_progress_only_while_active_and_each_reason_once(refresh, said) -> None:
    """What a failed or timed-out rollout prints about AWS's refresh: the progress AWS reports while it
    runs, and its reasons, the rollback's only when it adds something."""
    assert describe_refresh(refresh) == said
