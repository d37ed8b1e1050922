"""Rollouts through the real engine: the CLI's own `Engine` runs `pulumi up` of the rollout resource.

The engine starts the dynamic provider as a plugin with the workspace's
environment, which points Auto Scaling at the stand-in on 127.0.0.1. The
stand-in holds the group and its template as pulumi-aws would have created
them (the AWS provider plugin cannot run here); the program owns only the
version the group runs, exactly as the fleet's rollout resource does.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from pulumi import automation as auto

from automation.engine import Engine, resolve_backend
from automation.errors import Interrupted
from tests.engine.test_cli_end_to_end import descendants
from tests.rollout.autoscaling_server import ABANDONS, HANGS, HEALTHY, REGION, AutoScalingStandIn, Seen
from tests.rollout.conftest import GROUP, SECRET_ACCESS_KEY, Fleet
from tests.rollout.project.program import config, copy_project

pytestmark = pytest.mark.engine
STACK = "ryan0001"


class RolloutStack:
    """One feature's stack of the rollout project, run by the CLI's Engine."""

    def __init__(self, engine: Engine, fleet: Fleet, log: list[str]) -> None:
        self.engine = engine
        self.fleet = fleet
        self.log = log
        self.stack, _ = engine.create_or_select(STACK)

    def up(self, version: str, *, timeout_minutes: float = 1) -> Any:
        self.stack.workspace.set_all_config_json(STACK, config(
            asgName=GROUP, region=REGION, templateId=self.fleet.template.id, version=version,
            timeoutMinutes=timeout_minutes))
        with self.engine.interruptible():
            self.engine.recover(self.stack)
            result, _ = self.engine.up(self.stack)
        return result

    def recorded_version(self) -> str:
        deployment = self.stack.export_stack().deployment
        [rollout] = [r for r in deployment["resources"] if r["type"].endswith("rollout:RolloutGate")]
        assert SECRET_ACCESS_KEY not in str(deployment)
        return rollout["outputs"]["launch_template_version"]


@pytest.fixture
def rollout_stack(engine, fleet: Fleet, stand_in: AutoScalingStandIn, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[RolloutStack]:
    """The CLI's Engine over a private copy of the project; the provider process finds the stand-in."""
    for name, value in engine.env.items():
        if name.startswith("PULUMI_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_AUTO_SCALING", stand_in.url)
    work_dir = copy_project(tmp_path / "project")
    log: list[str] = []
    made = Engine(work_dir, resolve_backend(engine.backend_url, os.environ, work_dir), log=log.append)
    yield RolloutStack(made, fleet, log)


def when(stand_in: AutoScalingStandIn, action: str, then: Callable[[], None]) -> None:
    """Run `then` once, on a thread of its own, right after the stand-in answers `action` the first time."""
    fired = threading.Event()

    def hook(seen: Seen) -> None:
        if seen.action == action and not fired.is_set():
            fired.set()
            threading.Thread(target=then, daemon=True).start()

    stand_in.on_call = hook


def test_a_failed_rollout_leaves_the_group_and_the_state_on_the_last_good_version(rollout_stack, fleet, stand_in):
    first = rollout_stack.up("1")
    assert first.summary.result == "succeeded"
    assert first.outputs["status"].value.startswith("2/2 healthy in service on launch template version 1")
    assert "StartInstanceRefresh" not in stand_in.actions(), "the group was created on version 1"

    broken = fleet.new_version(ABANDONS)
    with pytest.raises(auto.CommandError) as caught:
        rollout_stack.up(broken)
    output = str(caught.value)
    assert f"the rollout of launch template version {broken} to auto scaling group {GROUP} was rolled back" in output
    assert "the launch lifecycle hook was abandoned" in output, "AWS's status reason"
    assert "in service: 2 on version 1" in output and "the group runs version 1, as before" in output
    assert SECRET_ACCESS_KEY not in output
    assert fleet.saved_version() == "1" and fleet.versions() == {"1": 2}
    assert rollout_stack.recorded_version() == "1", "the state still names the version the group runs"

    fixed = fleet.new_version(HEALTHY)
    third = rollout_stack.up(fixed)
    assert third.summary.result == "succeeded"
    assert third.summary.resource_changes == {"update": 1, "same": 1}
    assert f"launch template version {fixed}" in third.outputs["status"].value
    assert fleet.saved_version() == fixed and fleet.versions() == {fixed: 2}
    assert rollout_stack.recorded_version() == fixed
    assert [r.status for r in fleet.refreshes()] == ["RollbackSuccessful", "Successful"]

    calls = len(stand_in.requests)
    with rollout_stack.engine.interruptible():
        rollout_stack.engine.destroy(rollout_stack.stack)
    assert len(stand_in.requests) == calls, "destroy has nothing to remove in AWS"


def test_a_timeout_leaves_no_refresh_running(rollout_stack, fleet, stand_in):
    rollout_stack.up("1")
    stuck = fleet.new_version(HANGS)

    with pytest.raises(auto.CommandError) as caught:
        rollout_stack.up(stuck, timeout_minutes=0.05)

    output = str(caught.value)
    assert "timed out after 0.05 min" in output and "was rolled back" in output
    assert fleet.active_refresh() is None
    assert fleet.saved_version() == "1" and fleet.versions() == {"1": 2}
    assert rollout_stack.recorded_version() == "1"


def test_sigint_during_the_wait_rolls_back_before_the_run_ends(rollout_stack, fleet, stand_in):
    rollout_stack.up("1")
    stuck = fleet.new_version(HANGS)
    when(stand_in, "StartInstanceRefresh", lambda: os.kill(os.getpid(), signal.SIGINT))

    with pytest.raises(Interrupted):
        rollout_stack.up(stuck, timeout_minutes=10)

    assert stand_in.actions().count("RollbackInstanceRefresh") == 1
    assert fleet.active_refresh() is None, "the run ended only once the rollback had"
    assert fleet.saved_version() == "1" and fleet.versions() == {"1": 2}
    assert any("SIGINT received" in line for line in rollout_stack.log)


def test_a_run_killed_during_the_wait_is_adopted_by_the_next(rollout_stack, fleet, stand_in):
    rollout_stack.up("1")
    slow = fleet.new_version(HEALTHY)

    def kill() -> None:
        # The runner dies: the CLI and the provider it started go at once.
        for process in list(rollout_stack.engine.command._running):
            for pid in [*descendants(process.pid), process.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    with stand_in.state() as aws:
        aws.groups[GROUP].warmup = 600  # a refresh that needs many polls
    when(stand_in, "StartInstanceRefresh", kill)
    with pytest.raises(auto.CommandError):
        rollout_stack.up(slow, timeout_minutes=10)
    assert fleet.active_refresh() is not None, "the refresh outlived its run"
    stand_in.on_call = None

    rerun = rollout_stack.up(slow, timeout_minutes=10)

    assert rerun.summary.result == "succeeded"
    assert stand_in.actions().count("StartInstanceRefresh") == 1, "adopted, never duplicated"
    assert fleet.saved_version() == slow and fleet.versions() == {slow: 2}
    assert rerun.outputs["refresh_id"].value == fleet.refreshes()[-1].id
    assert any("pending operations" in line for line in rollout_stack.log)


@pytest.fixture(autouse=True)
def _no_stray_signal() -> Iterator[None]:
    """A SIGINT sent by a test must never outlive it."""
    previous = signal.getsignal(signal.SIGINT)
    yield
    time.sleep(0)  # let a pending handler run while the test's own handler is still installed
    signal.signal(signal.SIGINT, previous)
