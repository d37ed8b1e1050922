"""`pulumi up` with the gate through the real engine: it succeeds only once the rollout has.

The engine starts the dynamic provider as a plugin with the workspace's
environment, which points Auto Scaling at the stand-in on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from automation import pulumi_cli
from components.rollout import RolloutGate
from tests.rollout.autoscaling_server import AutoScalingStandIn, Step
from tests.rollout.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from tests.rollout.shapes import GROUP, REGION, fleet, group, refresh

pytestmark = pytest.mark.engine


def gate_program(version: str):
    def program() -> None:
        gate = RolloutGate(
            "fleet-rollout", asg_name=GROUP, region=REGION, launch_template_version=version, timeout_minutes=1
        )
        pulumi.export("status", gate.status)

    return program


def test_up_waits_for_the_rollout_and_fails_when_aws_rolls_back(engine, tmp_path: Path) -> None:
    from pulumi import automation as auto

    work_dir = tmp_path / "project"
    work_dir.mkdir()
    with AutoScalingStandIn(access_key_id=ACCESS_KEY_ID) as aws:

        def stack_for(version: str) -> Any:
            return auto.create_or_select_stack(
                stack_name="ryan0001",
                project_name="phoenix",
                program=gate_program(version),
                opts=auto.LocalWorkspaceOptions(
                    work_dir=str(work_dir),
                    pulumi_command=pulumi_cli.pulumi_command(),
                    env_vars={**engine.env, "AWS_ENDPOINT_URL_AUTO_SCALING": aws.url},
                    project_settings=auto.ProjectSettings(name="phoenix", runtime="python"),
                    secrets_provider="passphrase",
                ),
            )

        aws.play(Step(group(version="3", instances=fleet("3", "3")), (refresh("Successful", percent=100),)))
        first = stack_for("3").up()
        assert first.summary.result == "succeeded"
        assert first.outputs["status"].value.startswith("2/2 healthy in service on launch template version 3")

        aws.play(
            Step(group(version="3", instances=fleet("3", "3")), (
                refresh(
                    "RollbackSuccessful",
                    reason="The instance refresh was rolled back.",
                    rollback_reason="Rollback was triggered because instances failed health checks.",
                    refresh_id="5d8c8a4e-3f6b-4a8e-9d0c-2b7f1e6a9c31",
                ),
            ))
        )
        with pytest.raises(auto.CommandError) as caught:
            stack_for("4").up()
        output = str(caught.value)
        assert f"the rollout of launch template version 4 to auto scaling group {GROUP} was rolled back" in output
        assert "Rollback was triggered because instances failed health checks." in output
        assert SECRET_ACCESS_KEY not in output

        stack = stack_for("4")
        state = stack.export_stack().deployment
        gate = next(r for r in state["resources"] if r["type"].endswith("rollout:RolloutGate"))
        assert gate["outputs"]["launch_template_version"] == "3", "a failed rollout keeps the last good version"
        assert SECRET_ACCESS_KEY not in str(state)

        aws.play(Step(group(version="4", instances=fleet("4", "4")), (refresh("Successful", percent=100),)))
        fixed = stack.up()
        assert fixed.summary.resource_changes == {"update": 1, "same": 1}
        assert "launch template version 4" in fixed.outputs["status"].value

        calls = len(aws.requests)
        destroyed = stack.destroy()
        assert destroyed.summary.result == "succeeded"
        assert len(aws.requests) == calls, "destroy has nothing to remove in AWS"
        stack.workspace.remove_stack("ryan0001")
