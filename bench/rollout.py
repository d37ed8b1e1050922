"""AWS calls per rollout, against the Auto Scaling stand-in, next to the minimum the API needs.

Each scenario runs the rollout (`components/rollout.py`) in this process at
the production pacing (first poll 5 s, growing by 1.5 to 30 s while nothing
changes) over boto3 and HTTP to the stand-in (`tests/rollout/autoscaling_server.py`),
with a clock that moves only when the rollout sleeps. The stand-in's own time
moves 15 s with each describe call, so a refresh of two instances with a 60 s
warm-up takes a few virtual minutes and the counts are the same on every run.
Each call is put in a purpose (its AWS action); a purpose above the minimum
carries the reason it is there, else it is printed UNEXPLAINED.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Optional

from bench.calls import Operation, Verdict
from bench.report import Report
from bench.table import render

GROUP = "phoenix-bench-fleet"
ACCESS_KEY = "AKIABENCHROLLOUT0000"
POLLS = ("DescribeInstanceRefreshes", "DescribeAutoScalingGroups")

WHY = {
    "DescribeInstanceRefreshes": "a poll until the refresh ends (backoff 5 s to 30 s)",
    "DescribeAutoScalingGroups": "when the refresh moved: instances per version for the progress line; at the "
                                 "end, the group's version and capacity",
    "DescribeScalingActivities": "when the refresh moved: failed launches are warned as they happen",
}


@dataclass(frozen=True)
class Scenario:
    operation: Operation
    boots: Optional[str]
    """How the new version's instances boot; None: no new version."""
    expect: str
    """`converged`, or the exception class name the rollout must end with."""
    timeout_seconds: float = 1800.0


SCENARIOS = (
    Scenario(
        Operation("no new version", {"DescribeInstanceRefreshes": 1, "DescribeAutoScalingGroups": 1},
                  "2: is a refresh running, and does the group save and run the version", WHY),
        None, "converged",
    ),
    Scenario(
        Operation("successful rollout", {"DescribeAutoScalingGroups": 1, "StartInstanceRefresh": 1,
                                         "DescribeInstanceRefreshes": 1},
                  "3: the group's saved version, the start, one look that sees Successful", WHY),
        "healthy", "converged",
    ),
    Scenario(
        Operation("failed rollout (AWS rolls back)",
                  {"DescribeAutoScalingGroups": 1, "StartInstanceRefresh": 1, "DescribeInstanceRefreshes": 1,
                   "DescribeScalingActivities": 1},
                  "4: as a success, plus the failed activities that say why", WHY),
        "abandons", "RolloutFailed",
    ),
    Scenario(
        Operation("timed out (phoenix rolls back)",
                  {"DescribeAutoScalingGroups": 1, "StartInstanceRefresh": 1, "DescribeInstanceRefreshes": 2,
                   "RollbackInstanceRefresh": 1, "DescribeScalingActivities": 1},
                  "6: the start, a look at the deadline, the rollback, a look that sees it end, the activities",
                  WHY),
        "hangs", "RolloutTimeout", timeout_seconds=600.0,
    ),
)


class _Clock:
    """Time that moves only when the rollout sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run_scenario(scenario: Scenario, *, client_for: Callable[[str], Any]) -> tuple[Verdict, str, float, bool]:
    """(the calls as a verdict, how it ended, virtual minutes, no refresh left active)."""
    from components.rollout import Rollout, RolloutError, Target
    from tests.rollout.autoscaling_server import AutoScalingStandIn, Hook

    with AutoScalingStandIn(access_key_id=ACCESS_KEY) as stand_in:
        with stand_in.state() as aws:
            template = aws.add_template(GROUP)
            aws.create_group(GROUP, template, "1", desired=2, hook=Hook("phoenix-bootstrap", 600))
            version = aws.add_version(template, scenario.boots) if scenario.boots else "1"
        stand_in.requests.clear()
        clock = _Clock()
        rollout = Rollout(client=client_for(stand_in.url), target=Target(GROUP, template.id, version),
                          timeout_seconds=scenario.timeout_seconds, sleep=clock.sleep, clock=clock)
        try:
            rollout.run()
            ended = "converged"
        except RolloutError as error:
            ended = type(error).__name__
        with stand_in.state() as aws:
            idle = aws.groups[GROUP].active_refresh is None
        return Verdict(scenario.operation, Counter(stand_in.actions())), ended, clock.now / 60, idle


def run(quick: bool = False) -> Report:
    import boto3

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key="bench-secret")

    def client_for(url: str) -> Any:
        return session.client("autoscaling", region_name="eu-west-1", endpoint_url=url)

    rows, ok = [], True
    for scenario in SCENARIOS:
        verdict, ended, minutes, idle = run_scenario(scenario, client_for=client_for)
        right = ended == scenario.expect and idle and not verdict.unexplained() and not verdict.missing()
        ok = ok and right
        polls = verdict.counts["DescribeInstanceRefreshes"]
        rows.append((
            scenario.operation.name,
            verdict.requests,
            f"{verdict.minimum} ({scenario.operation.why_minimum})",
            polls,
            f"{minutes:.1f}",
            ended + ("" if right else f" (expected {scenario.expect}; refresh left active: {not idle})"),
            verdict.explanation(),
        ))
    text = render(
        "AWS calls per rollout (Auto Scaling stand-in, production pacing, virtual time)",
        ["rollout", "calls", "minimum", "polls", "minutes", "ended", "above the minimum"],
        rows,
        note="calls: every Auto Scaling request the rollout made; polls: DescribeInstanceRefreshes among them; "
             "minutes: the rollout's own clock.",
        wrap=48,
    )
    return Report(text, ok=ok)
