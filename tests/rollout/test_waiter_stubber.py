"""The waiter against botocore's Stubber: instance-refresh states that moto does not model.

Each poll is one DescribeAutoScalingGroups and one DescribeInstanceRefreshes;
the Stubber checks the parameters the waiter sends and that AWS's answers
have the shape the service model says.
"""

from __future__ import annotations

from typing import Any, Optional

import boto3
import pytest
from botocore.stub import Stubber

from components.rollout import (
    RolloutError,
    RolloutFailed,
    RolloutTimeout,
    wait_for_rollout,
)
from tests.rollout.conftest import SECRET_ACCESS_KEY, FakeClock
from tests.rollout.shapes import (
    GROUP,
    REGION,
    fleet,
    group,
    groups_answer,
    instance,
    refresh,
    refreshes_answer,
)


@pytest.fixture
def client() -> Any:
    return boto3.session.Session().client("autoscaling", region_name=REGION)


@pytest.fixture
def stub(client: Any):
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def poll(stubber: Stubber, asg: dict, latest: Optional[dict] = None) -> None:
    """Queue one poll's answers: the group, then its latest refresh (if any)."""
    stubber.add_response(
        "describe_auto_scaling_groups",
        groups_answer(asg),
        {"AutoScalingGroupNames": [GROUP]},
    )
    stubber.add_response(
        "describe_instance_refreshes",
        refreshes_answer(*([latest] if latest else [])),
        {"AutoScalingGroupName": GROUP, "MaxRecords": 1},
    )


def wait(client: Any, clock: FakeClock, version: str = "4", **kwargs: Any):
    options = {"timeout_seconds": 600, "poll_seconds": 5, "max_poll_seconds": 30}
    options.update(kwargs)
    return wait_for_rollout(client, GROUP, version, sleep=clock.sleep, clock=clock, **options)


def test_succeeds_after_the_refresh_replaces_every_instance(client, stub, clock):
    poll(stub, group(version="4", instances=fleet("3", "3")), refresh("Pending"))
    poll(
        stub,
        group(version="4", instances=fleet("3") + [instance("4", index=5, state="Pending:Wait")]),
        refresh("InProgress", percent=0, to_update=2),
    )
    poll(stub, group(version="4", instances=fleet("3", "4")), refresh("InProgress", percent=50, to_update=1))
    poll(stub, group(version="4", instances=fleet("4", "4")), refresh("Successful", percent=100, to_update=0))

    observation = wait(client, clock)

    assert observation.converged
    assert observation.healthy_on_expected == 2
    assert observation.in_service == {"version 4": 2}
    assert len(clock.sleeps) == 3, "one pause between each of the four polls"


def test_waits_while_a_refresh_is_baking_even_with_every_instance_replaced(client, stub, clock):
    poll(stub, group(version="4", instances=fleet("4", "4")), refresh("Baking", percent=100, to_update=0))
    poll(stub, group(version="4", instances=fleet("4", "4")), refresh("Successful", percent=100))

    wait(client, clock)

    assert len(clock.sleeps) == 1


def test_failed_refresh_fails_quoting_the_status_reason(client, stub, clock):
    reason = (
        "Instance refresh failed: instances i-0000000000000005 failed health checks "
        "and the group could not keep 100% healthy capacity."
    )
    poll(
        stub,
        group(version="4", instances=fleet("3", "4")),
        refresh("Failed", reason=reason, percent=50, to_update=1),
    )

    with pytest.raises(RolloutFailed) as caught:
        wait(client, clock)

    message = str(caught.value)
    assert reason in message
    assert "version 4" in message and GROUP in message
    assert "1 on version 3, 1 on version 4" in message
    assert "Failed" in message and " failed:" in message
    assert caught.value.status == "Failed"
    assert caught.value.reason == reason
    assert clock.sleeps == [], "a failed refresh fails at once"


def test_rolled_back_refresh_says_the_rollout_was_rolled_back(client, stub, clock):
    poll(
        stub,
        group(version="3", instances=fleet("3", "3")),
        refresh(
            "RollbackSuccessful",
            reason="The instance refresh was rolled back.",
            percent=50,
            rollback_reason="Rollback was triggered because instances failed health checks.",
        ),
    )

    with pytest.raises(RolloutFailed) as caught:
        wait(client, clock)

    message = str(caught.value)
    assert "was rolled back" in message
    assert "Rollback was triggered because instances failed health checks." in message
    assert "2 on version 3" in message
    assert "the group launches version 3" in message
    assert caught.value.status == "RollbackSuccessful"


@pytest.mark.parametrize(
    ("status", "says"),
    [("Cancelled", "was cancelled"), ("RollbackFailed", "could not be rolled back")],
)
def test_other_bad_endings_fail(client, stub, clock, status, says):
    poll(stub, group(version="4", instances=fleet("3", "4")), refresh(status, reason=f"refresh {status}"))

    with pytest.raises(RolloutFailed, match=says) as caught:
        wait(client, clock)

    assert caught.value.status == status


def test_timeout_fails_within_the_timeout_plus_one_poll(client, clock):
    call_seconds = 2.0

    def slow_call(**_: Any) -> None:
        clock.now += call_seconds

    client.meta.events.register("after-call.auto-scaling.*", slow_call)
    stub = Stubber(client)  # more answers than the timeout lets it use
    for _ in range(12):
        poll(
            stub,
            group(version="4", instances=fleet("3", "4")),
            refresh("InProgress", percent=50, to_update=1, reason="Waiting for instances to warm up before continuing."),
        )
    start = clock.now

    with stub, pytest.raises(RolloutTimeout) as caught:
        wait(client, clock, timeout_seconds=60, poll_seconds=5, max_poll_seconds=20)

    elapsed = clock.now - start
    one_poll = 2 * call_seconds
    assert 60 <= elapsed <= 60 + one_poll
    message = str(caught.value)
    assert "timed out after 1 min" in message
    assert "1/2 healthy in service on launch template version 4" in message
    assert "1 on version 3, 1 on version 4" in message
    assert "InProgress (50% complete, 1 to update): Waiting for instances to warm up" in message


def test_no_pause_runs_past_the_deadline(client, clock):
    stub = Stubber(client)
    for _ in range(6):
        poll(stub, group(version="4", instances=fleet("3", "3")), refresh("InProgress", to_update=2))

    with stub, pytest.raises(RolloutTimeout):
        wait(client, clock, timeout_seconds=20, poll_seconds=8, max_poll_seconds=8)

    assert clock.sleeps == [8, 8, 4]


def test_backoff_grows_while_nothing_changes_and_is_capped(client, stub, clock):
    same = (group(version="4", instances=fleet("3", "3")), refresh("InProgress", percent=0, to_update=2))
    for _ in range(5):
        poll(stub, *same)
    poll(stub, group(version="4", instances=fleet("4", "4")), refresh("Successful", percent=100))

    wait(client, clock, poll_seconds=4, max_poll_seconds=10)

    assert clock.sleeps == [4, 6, 9, 10, 10]


def test_backoff_restarts_when_the_rollout_moves(client, stub, clock):
    poll(stub, group(version="4", instances=fleet("3", "3")), refresh("InProgress", percent=0, to_update=2))
    poll(stub, group(version="4", instances=fleet("3", "3")), refresh("InProgress", percent=0, to_update=2))
    poll(stub, group(version="4", instances=fleet("3", "4")), refresh("InProgress", percent=50, to_update=1))
    poll(stub, group(version="4", instances=fleet("4", "4")), refresh("Successful", percent=100))

    wait(client, clock, poll_seconds=4, max_poll_seconds=30)

    assert clock.sleeps == [4, 6, 4]


def test_old_failed_refresh_does_not_fail_a_group_that_converged_anyway(client, stub, clock):
    poll(
        stub,
        group(version="4", instances=fleet("4", "4")),
        refresh("Failed", reason="An older refresh failed.", refresh_id="0f1e2d3c-0000-4000-8000-000000000001"),
    )

    observation = wait(client, clock)

    assert observation.converged and clock.sleeps == []


def test_a_group_pinned_to_latest_never_passes_for_a_version(client, stub, clock):
    for _ in range(3):
        poll(stub, group(version="$Latest", instances=fleet("4", "4")))

    with pytest.raises(RolloutTimeout, match=r"the group launches version \$Latest"):
        wait(client, clock, timeout_seconds=10, poll_seconds=5, max_poll_seconds=5)


def test_same_version_number_of_another_template_does_not_count(client, stub, clock):
    old_template = fleet("4", "4", template_id="lt-0ffffffffffffffff", template_name="phoenix-old")
    poll(stub, group(version="4", instances=old_template))
    poll(stub, group(version="4", instances=fleet("4", "4")))

    wait(client, clock)

    assert len(clock.sleeps) == 1


def test_unhealthy_or_short_capacity_keeps_waiting(client, stub, clock):
    poll(stub, group(version="4", instances=[instance("4", index=0), instance("4", index=1, health="Unhealthy")]))
    poll(stub, group(version="4", desired=3, instances=fleet("4", "4")))
    poll(stub, group(version="4", desired=3, instances=fleet("4", "4", "4")))

    observation = wait(client, clock)

    assert observation.healthy_on_expected == 3
    assert len(clock.sleeps) == 2


def test_an_old_instance_still_in_service_keeps_waiting(client, stub, clock):
    poll(stub, group(version="4", instances=fleet("4", "4", "3")))
    poll(stub, group(version="4", instances=fleet("4", "4")))

    wait(client, clock)

    assert len(clock.sleeps) == 1


def test_mixed_instances_policy_template_is_the_groups_template(client, stub, clock):
    poll(stub, group(version="4", mixed=True, instances=fleet("4", "4")))

    assert wait(client, clock).converged


def test_reports_each_new_state_once(client, stub, clock):
    heard: list[str] = []
    poll(stub, group(version="4", instances=fleet("3", "3")), refresh("InProgress", to_update=2))
    poll(stub, group(version="4", instances=fleet("3", "3")), refresh("InProgress", to_update=2))
    poll(stub, group(version="4", instances=fleet("3", "4")), refresh("InProgress", percent=50, to_update=1))
    poll(stub, group(version="4", instances=fleet("4", "4")), refresh("Successful", percent=100))

    wait(client, clock, report=heard.append)

    assert len(heard) == 2
    assert all(line.startswith(f"waiting for auto scaling group {GROUP}: ") for line in heard)
    assert "2 on version 3" in heard[0] and "1 on version 3, 1 on version 4" in heard[1]


def test_access_denied_is_a_clear_error_without_the_credentials(client, stub, clock):
    stub.add_client_error(
        "describe_auto_scaling_groups",
        service_error_code="AccessDenied",
        service_message="User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "autoscaling:DescribeAutoScalingGroups",
        http_status_code=403,
        expected_params={"AutoScalingGroupNames": [GROUP]},
    )

    with pytest.raises(RolloutError) as caught:
        wait(client, clock)

    message = str(caught.value)
    assert message.startswith(f"AWS refused DescribeAutoScalingGroups for auto scaling group {GROUP}: AccessDenied")
    assert "not authorized to perform: autoscaling:DescribeAutoScalingGroups" in message
    assert SECRET_ACCESS_KEY not in message and SECRET_ACCESS_KEY not in repr(caught.value)
    assert clock.sleeps == []


def test_a_missing_group_fails_at_once(client, stub, clock):
    stub.add_response("describe_auto_scaling_groups", groups_answer(), {"AutoScalingGroupNames": [GROUP]})

    with pytest.raises(RolloutError, match=f"auto scaling group {GROUP} does not exist in {REGION}"):
        wait(client, clock)
