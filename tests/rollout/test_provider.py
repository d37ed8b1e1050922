"""The rollout's provider in-process: input checks, diffs, and rollouts against the stand-in.

The provider builds its own boto3 client from the standard chain; the
standard AWS_ENDPOINT_URL_AUTO_SCALING variable points it at the stand-in.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

import components.rollout as rollout
from components.rollout import RolloutFailed, RolloutGateProvider, RolloutInterrupted, RolloutTimeout
from tests.rollout.autoscaling_server import ABANDONS, HANGS, HEALTHY
from tests.rollout.conftest import GROUP, SECRET_ACCESS_KEY

TEMPLATE_ID = "lt-0a1b2c3d4e5f60718"
GOOD = {
    "asg_name": GROUP,
    "region": "eu-west-1",
    "launch_template_id": TEMPLATE_ID,
    "launch_template_version": 4,
    "timeout_minutes": 30.0,
    "instance_warmup_seconds": 60,
    "status": None,
    "refresh_id": None,
    "__provider": "serialized-provider",
}
FAST = dict(poll_seconds=0.01, max_poll_seconds=0.02)


def props(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


@pytest.fixture
def aws(stand_in, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_AUTO_SCALING", stand_in.url)
    return stand_in


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(region: str) -> Any:
        raise AssertionError("this operation must not call AWS")

    monkeypatch.setattr(rollout, "autoscaling_client", refuse)


def test_check_normalises_the_version_timeout_and_warmup():
    result = RolloutGateProvider().check({}, props())

    assert result.failures == []
    assert result.inputs == {
        "asg_name": GROUP,
        "region": "eu-west-1",
        "launch_template_id": TEMPLATE_ID,
        "launch_template_version": "4",
        "timeout_minutes": 30,
        "instance_warmup_seconds": 60,
    }


def test_check_defaults_a_missing_timeout_and_warmup():
    news = props()
    del news["timeout_minutes"], news["instance_warmup_seconds"]

    inputs = RolloutGateProvider().check({}, news).inputs

    assert (inputs["timeout_minutes"], inputs["instance_warmup_seconds"]) == (30, 60)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("asg_name", ""),
        ("asg_name", "  "),
        ("asg_name", "g" * 256),
        ("asg_name", None),
        ("region", "Ireland"),
        ("region", None),
        ("launch_template_id", "phoenix-fleet"),
        ("launch_template_id", None),
        ("launch_template_version", "$Latest"),
        ("launch_template_version", "$Default"),
        ("launch_template_version", 0),
        ("launch_template_version", "04"),
        ("launch_template_version", 4.5),
        ("launch_template_version", True),
        ("launch_template_version", None),
        ("timeout_minutes", 0),
        ("timeout_minutes", 721),
        ("timeout_minutes", "30"),
        ("timeout_minutes", False),
        ("instance_warmup_seconds", -1),
        ("instance_warmup_seconds", 3601),
        ("instance_warmup_seconds", 1.5),
        ("instance_warmup_seconds", "60"),
    ],
)
def test_check_names_the_bad_input(key, value):
    result = RolloutGateProvider().check({}, props(**{key: value}))

    assert [failure.property for failure in result.failures] == [key]
    assert repr(value) in result.failures[0].reason


@pytest.mark.parametrize(
    ("key", "value", "kept"),
    [
        ("asg_name", "g" * 255, "g" * 255),
        ("timeout_minutes", 720, 720),
        ("timeout_minutes", 0.5, 0.5),
        ("instance_warmup_seconds", 0, 0),
        ("instance_warmup_seconds", 3600.0, 3600),
    ],
)
def test_check_takes_every_value_up_to_its_limits(key, value, kept):
    result = RolloutGateProvider().check({}, props(**{key: value}))

    assert result.failures == []
    assert result.inputs[key] == kept and type(result.inputs[key]) is type(kept)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("timeout_minutes", 0, "must be a number of minutes in (0, 720], got 0"),
        ("instance_warmup_seconds", 1.5, "must be a whole number of seconds in [0, 3600], got 1.5"),
    ],
)
def test_a_bad_number_is_told_its_unit_and_range(key, value, reason):
    [failure] = RolloutGateProvider().check({}, props(**{key: value})).failures

    assert failure.reason == reason


def test_check_lets_unknown_values_through_during_preview():
    news = props(asg_name=Unknown(), launch_template_id=Unknown(), launch_template_version=Unknown())

    assert RolloutGateProvider().check({}, news).failures == []


@pytest.mark.parametrize(
    ("change", "changes"),
    [
        ({}, False),
        ({"__provider": "another-serialization"}, False),
        ({"timeout_minutes": 45}, False),
        ({"instance_warmup_seconds": 120}, False),
        ({"launch_template_version": "5"}, True),
        ({"launch_template_id": "lt-0ffffffffffffffff"}, True),
        ({"asg_name": "phoenix-ryan0002-fleet"}, True),
        ({"region": "eu-central-1"}, True),
        ({"launch_template_version": Unknown()}, True),
    ],
)
def test_diff_rolls_out_again_only_for_a_new_target_and_never_replaces(change, changes):
    olds = RolloutGateProvider().check({}, props()).inputs
    news = {**olds, **change}

    result = RolloutGateProvider().diff("rollout-id", olds, news)

    assert result.changes is changes
    assert result.replaces == [] and result.delete_before_replace is False


def test_a_state_from_before_the_template_id_was_an_input_rolls_out_again():
    olds = {key: value for key, value in RolloutGateProvider().check({}, props()).inputs.items()
            if key != "launch_template_id"}

    assert RolloutGateProvider().diff("rollout-id", olds, RolloutGateProvider().check({}, props()).inputs).changes


def test_create_on_a_group_already_on_its_version_records_it(aws, fleet):
    result = RolloutGateProvider(**FAST).create(props(launch_template_id=fleet.template.id, launch_template_version=1))

    assert len(result.id) == 32 and int(result.id, 16) >= 0
    assert result.outs["launch_template_version"] == "1"
    assert result.outs["status"].startswith("2/2 healthy in service on launch template version 1")
    assert result.outs["refresh_id"] is None
    assert "__provider" not in result.outs
    assert "StartInstanceRefresh" not in aws.actions()


def test_update_rolls_out_the_new_version_and_records_its_refresh(aws, fleet):
    version = fleet.new_version(HEALTHY)
    olds = props(launch_template_id=fleet.template.id, launch_template_version="1")

    result = RolloutGateProvider(**FAST).update("rollout-id", olds, {**olds, "launch_template_version": version})

    assert result.outs["launch_template_version"] == version
    assert result.outs["refresh_id"] == fleet.refreshes()[-1].id
    assert fleet.saved_version() == version


def test_the_rollout_runs_in_the_inputs_region_with_the_inputs_warm_up(aws, fleet, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the environment's default is not the stack's region
    version = fleet.new_version(HEALTHY)
    olds = props(launch_template_id=fleet.template.id, launch_template_version="1", instance_warmup_seconds=90)

    RolloutGateProvider(**FAST).update("rollout-id", olds, {**olds, "launch_template_version": version})

    [start] = aws.calls("StartInstanceRefresh")
    assert start.region == "eu-west-1"
    assert start.params["Preferences"]["InstanceWarmup"] == 90


def test_update_that_aws_rolls_back_fails_and_the_group_keeps_its_version(aws, fleet):
    version = fleet.new_version(ABANDONS)
    olds = props(launch_template_id=fleet.template.id, launch_template_version="1")

    with pytest.raises(RolloutFailed, match="was rolled back"):
        RolloutGateProvider(**FAST).update("rollout-id", olds, {**olds, "launch_template_version": version})

    assert fleet.saved_version() == "1" and fleet.active_refresh() is None


def test_update_that_times_out_rolls_back(aws, fleet):
    version = fleet.new_version(HANGS)
    olds = props(launch_template_id=fleet.template.id, launch_template_version="1")

    with pytest.raises(RolloutTimeout, match=r"^timed out after 0\.03 min .* was rolled back"):
        RolloutGateProvider(**FAST).update(
            "rollout-id", olds, {**olds, "launch_template_version": version, "timeout_minutes": 0.03})

    assert fleet.active_refresh() is None and fleet.versions() == {"1": 2}


def test_the_interrupt_file_rolls_the_refresh_back(aws, fleet, tmp_path, monkeypatch):
    flag = tmp_path / "interrupted"
    monkeypatch.setenv(rollout.INTERRUPT_FILE_ENV, str(flag))
    aws.on_call = lambda seen: flag.touch() if seen.action == "StartInstanceRefresh" else None
    version = fleet.new_version(HANGS)
    olds = props(launch_template_id=fleet.template.id, launch_template_version="1")

    with pytest.raises(RolloutInterrupted, match=r"^interrupted \(SIGINT/SIGTERM\)"):
        RolloutGateProvider(**FAST).update("rollout-id", olds, {**olds, "launch_template_version": version})

    assert aws.actions().count("RollbackInstanceRefresh") == 1
    assert fleet.active_refresh() is None and fleet.versions() == {"1": 2}


def test_create_on_a_missing_group_fails_without_leaking_credentials(aws, fleet):
    with pytest.raises(rollout.RolloutError) as caught:
        RolloutGateProvider(**FAST).create(props(asg_name="phoenix-gone", launch_template_id=fleet.template.id))

    assert "AutoScalingGroup name not found" in str(caught.value)
    assert SECRET_ACCESS_KEY not in str(caught.value)


def test_create_refuses_bad_inputs_before_calling_aws(no_aws):
    with pytest.raises(ValueError, match=r"region: not an AWS region name: 'nowhere'"):
        RolloutGateProvider().create(props(region="nowhere"))


def test_delete_and_read_touch_nothing_in_aws(no_aws):
    state = {**RolloutGateProvider().check({}, props()).inputs, "status": "done", "refresh_id": None,
             "__provider": "p"}

    assert RolloutGateProvider().delete("rollout-id", state) is None
    read = RolloutGateProvider().read("rollout-id", state)
    assert read.id == "rollout-id" and read.outs == state
    assert read.inputs == {key: state[key] for key in rollout.INPUT_KEYS}
