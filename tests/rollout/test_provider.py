"""The gate's provider in-process: input checks, diffs, and waits against moto."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws
from pulumi.output import Unknown

import components.rollout as rollout
from components.rollout import RolloutError, RolloutGateProvider, RolloutTimeout
from tests.rollout.conftest import SECRET_ACCESS_KEY
from tests.rollout.moto_fleet import MotoFleet
from tests.rollout.shapes import GROUP, REGION

GOOD = {
    "asg_name": GROUP,
    "region": REGION,
    "launch_template_version": 4,
    "timeout_minutes": 30.0,
    "status": None,
    "__provider": "serialized-provider",
}


def props(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch):
    """moto's AWS, and every client the provider builds also sees the refresh history."""
    with mock_aws():
        fleet = MotoFleet.create()
        build = rollout.autoscaling_client

        def client_with_history(region: str) -> Any:
            client = build(region)
            fleet.history.attach(client)
            return client

        monkeypatch.setattr(rollout, "autoscaling_client", client_with_history)
        yield fleet


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(region: str) -> Any:
        raise AssertionError("this operation must not call AWS")

    monkeypatch.setattr(rollout, "autoscaling_client", refuse)


def test_check_normalises_the_version_and_timeout():
    result = RolloutGateProvider().check({}, props())

    assert result.failures == []
    assert result.inputs == {
        "asg_name": GROUP,
        "region": REGION,
        "launch_template_version": "4",
        "timeout_minutes": 30,
    }


def test_check_defaults_a_missing_timeout():
    news = props()
    del news["timeout_minutes"]

    assert RolloutGateProvider().check({}, news).inputs["timeout_minutes"] == 30


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("asg_name", ""),
        ("asg_name", "  "),
        ("asg_name", "g" * 256),
        ("asg_name", None),
        ("region", "Ireland"),
        ("region", "eu-west"),
        ("region", None),
        ("launch_template_version", "$Latest"),
        ("launch_template_version", "$Default"),
        ("launch_template_version", 0),
        ("launch_template_version", "04"),
        ("launch_template_version", 4.5),
        ("launch_template_version", True),
        ("launch_template_version", None),
        ("timeout_minutes", 0),
        ("timeout_minutes", -5),
        ("timeout_minutes", 721),
        ("timeout_minutes", "30"),
        ("timeout_minutes", False),
    ],
)
def test_check_names_the_bad_input(key, value):
    result = RolloutGateProvider().check({}, props(**{key: value}))

    assert [failure.property for failure in result.failures] == [key]
    assert repr(value) in result.failures[0].reason


def test_check_lets_unknown_values_through_during_preview():
    news = props(asg_name=Unknown(), launch_template_version=Unknown())

    assert RolloutGateProvider().check({}, news).failures == []


@pytest.mark.parametrize(
    ("change", "changes"),
    [
        ({}, False),
        ({"__provider": "another-serialization"}, False),
        ({"timeout_minutes": 45}, False),
        ({"launch_template_version": "5"}, True),
        ({"asg_name": "phoenix-ryan0002-fleet"}, True),
        ({"region": "eu-central-1"}, True),
        ({"launch_template_version": Unknown()}, True),
    ],
)
def test_diff_waits_again_only_for_a_new_rollout_and_never_replaces(change, changes):
    olds = RolloutGateProvider().check({}, props()).inputs
    news = {**olds, **change}

    result = RolloutGateProvider().diff("gate-id", olds, news)

    assert result.changes is changes
    assert result.replaces == [] and result.delete_before_replace is False


def test_create_waits_and_records_what_it_saw(fleet):
    result = RolloutGateProvider().create(props(launch_template_version=1))

    assert len(result.id) == 32 and int(result.id, 16) >= 0
    assert result.outs["launch_template_version"] == "1"
    assert result.outs["asg_name"] == GROUP
    assert result.outs["status"].startswith("2/2 healthy in service on launch template version 1")
    assert "__provider" not in result.outs


def test_update_waits_for_the_new_version(fleet):
    version = fleet.new_version()
    fleet.finish_rollout(version)
    olds = props(launch_template_version="1")

    result = RolloutGateProvider().update("gate-id", olds, props(launch_template_version=version))

    assert result.outs["launch_template_version"] == "2"
    assert "instance refresh 08b91cf7-8fa6-48af-b6a6-d227f40f1b9b Successful" in result.outs["status"]


def test_update_times_out_with_a_fractional_timeout(fleet):
    version = fleet.new_version(percent=0, to_update=2)
    provider = RolloutGateProvider(poll_seconds=0.01, max_poll_seconds=0.02)

    with pytest.raises(RolloutTimeout, match="2 on version 1"):
        provider.update("gate-id", props(launch_template_version="1"), props(launch_template_version=version, timeout_minutes=0.003))


def test_create_on_a_missing_group_fails_without_leaking_credentials(fleet):
    with pytest.raises(RolloutError) as caught:
        RolloutGateProvider().create(props(asg_name="phoenix-gone"))

    assert "phoenix-gone does not exist in eu-west-1" in str(caught.value)
    assert SECRET_ACCESS_KEY not in str(caught.value)


def test_create_refuses_bad_inputs_before_calling_aws(no_aws):
    with pytest.raises(ValueError, match=r"region: not an AWS region name: 'nowhere'"):
        RolloutGateProvider().create(props(region="nowhere"))


def test_delete_and_read_touch_nothing_in_aws(no_aws):
    state = {**RolloutGateProvider().check({}, props()).inputs, "status": "done", "__provider": "p"}

    assert RolloutGateProvider().delete("gate-id", state) is None
    read = RolloutGateProvider().read("gate-id", state)
    assert read.id == "gate-id" and read.outs == state
    assert read.inputs == {key: state[key] for key in rollout.INPUT_KEYS}
