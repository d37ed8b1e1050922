"""The rollout benchmark: each scenario ends as it must, and every call above the minimum has a reason."""

from __future__ import annotations

import boto3
import pytest

from bench import rollout


@pytest.mark.parametrize("scenario", rollout.SCENARIOS, ids=lambda scenario: scenario.operation.name)
def test_each_scenario_ends_as_expected_with_its_calls_explained(scenario) -> None:
    session = boto3.session.Session(aws_access_key_id=rollout.ACCESS_KEY, aws_secret_access_key="s")

    verdict, ended, minutes, idle = rollout.run_scenario(
        scenario, client_for=lambda url: session.client("autoscaling", region_name="eu-west-1", endpoint_url=url))

    assert ended == scenario.expect and idle
    assert verdict.missing() == {} and verdict.unexplained() == []
    assert ("StartInstanceRefresh" in verdict.counts) == (scenario.boots is not None)
    assert verdict.counts["StartInstanceRefresh"] <= 1, "a refresh is never started twice"
    if scenario.expect == "RolloutTimeout":
        assert verdict.counts["RollbackInstanceRefresh"] == 1
        assert minutes * 60 >= scenario.timeout_seconds


def test_the_report_is_a_table_and_ok() -> None:
    report = rollout.run(quick=True)

    assert report.ok, report.text
    assert "successful rollout" in report.text and "timed out (phoenix rolls back)" in report.text
