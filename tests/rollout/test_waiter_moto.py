"""The waiter against moto's Auto Scaling: capacity, health and versions as AWS reports them."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from components.rollout import RolloutError, RolloutFailed, RolloutTimeout, wait_for_rollout
from tests.rollout.conftest import FakeClock
from tests.rollout.moto_fleet import MotoFleet
from tests.rollout.shapes import GROUP, REGION


@pytest.fixture
def fleet() -> Any:
    with mock_aws():
        yield MotoFleet.create(desired=2)


def wait(fleet: MotoFleet, version: str, clock: FakeClock, **kwargs: Any):
    options = {"timeout_seconds": 300, "poll_seconds": 5, "max_poll_seconds": 30}
    options.update(kwargs)
    return wait_for_rollout(fleet.autoscaling, fleet.name, version, sleep=clock.sleep, clock=clock, **options)


def test_a_new_group_on_its_version_passes_at_once(fleet, clock):
    observation = wait(fleet, "1", clock)

    assert observation.converged
    assert observation.in_service == {"version 1": 2}
    assert observation.refresh is None
    assert clock.sleeps == [] and fleet.history.calls == 1


def test_keeps_waiting_on_the_old_version_then_succeeds_after_the_refresh(fleet, clock):
    version = fleet.new_version(percent=0, to_update=2)
    clock.on_sleep = lambda count: fleet.finish_rollout(version) if count == 3 else None

    observation = wait(fleet, version, clock)

    assert version == "2"
    assert observation.in_service == {"version 2": 2}
    assert observation.refresh_status == "Successful"
    assert len(clock.sleeps) == 3 and fleet.history.calls == 4


def test_instances_left_on_the_old_version_time_out_saying_so(fleet, clock):
    version = fleet.new_version(refresh_status=None)

    with pytest.raises(RolloutTimeout) as caught:
        wait(fleet, version, clock, timeout_seconds=120)

    message = str(caught.value)
    assert f"waiting for auto scaling group {GROUP} to run launch template version 2" in message
    assert "0/2 healthy in service" in message
    assert "in service: 2 on version 1" in message
    assert "no instance refresh has run" in message
    assert clock.now - 1000.0 == pytest.approx(120)


def test_an_unhealthy_instance_keeps_the_gate_closed(fleet, clock):
    sick = fleet.instance_ids()[0]
    fleet.autoscaling.set_instance_health(InstanceId=sick, HealthStatus="Unhealthy")
    clock.on_sleep = lambda count: (
        fleet.autoscaling.set_instance_health(InstanceId=sick, HealthStatus="Healthy") if count == 2 else None
    )

    observation = wait(fleet, "1", clock)

    assert observation.healthy_on_expected == 2
    assert len(clock.sleeps) == 2


def test_failed_refresh_fails_with_moto_group_state(fleet, clock):
    reason = "Instance refresh failed: the launch lifecycle hook was abandoned for 1 instance."
    version = fleet.new_version(refresh_status="Failed", reason=reason, percent=0, to_update=2)

    with pytest.raises(RolloutFailed) as caught:
        wait(fleet, version, clock)

    assert reason in str(caught.value)
    assert "2 on version 1" in str(caught.value)
    assert clock.sleeps == []


def test_a_group_that_does_not_exist_fails_at_once(fleet, clock):
    with pytest.raises(RolloutError, match=f"auto scaling group phoenix-gone does not exist in {REGION}"):
        wait_for_rollout(fleet.autoscaling, "phoenix-gone", "1", timeout_seconds=60, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []
