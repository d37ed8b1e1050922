"""The rollout resource under Pulumi mocks: placed after the group, and a new rollout when the template changes.

The program builds a launch template, a group created on the template's
version, and the rollout, as the fleet does. The mocks play the engine: a
template's version goes up only when its content changes.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import dill
import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from components.rollout import RolloutGate, RolloutGateProvider
from tests.rollout.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

GATE_TYPE = "pulumi-python:dynamic/rollout:RolloutGate"


class RecordingMonitor(MockMonitor):
    """The mock engine, also keeping what each registration said it depends on."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Any] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.registrations[request.name] = {
            "type": request.type,
            "urn": response.urn,
            "dependencies": list(request.dependencies),
            "property_dependencies": {
                key: list(deps.urns) for key, deps in request.propertyDependencies.items()
            },
        }
        return response


class AwsMocks(pulumi.runtime.Mocks):
    """Launch templates get a new version only when their content changes, as in EC2."""

    def __init__(self) -> None:
        self.template_versions: dict[str, tuple[str, int]] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.gate_outputs: dict[str, Any] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.inputs[args.name] = dict(args.inputs)
        state = dict(args.inputs)
        if args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            digest = hashlib.sha256(repr(sorted(args.inputs.items())).encode()).hexdigest()
            seen, version = self.template_versions.get(args.name, (digest, 1))
            if seen != digest:
                version += 1
            self.template_versions[args.name] = (digest, version)
            state.update(id="lt-0a1b2c3d4e5f60718", latest_version=version)
            return "lt-0a1b2c3d4e5f60718", state
        if args.typ == "aws:autoscaling/group:Group":
            state["name"] = args.name + "-4f2a1c9"
            return state["name"], state
        if args.typ == GATE_TYPE:
            state["status"] = "2/2 healthy in service on launch template version " + str(args.inputs["launch_template_version"])
            state["refresh_id"] = "0a1b2c3d-refresh"
        return args.name + "-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def deploy(mocks: AwsMocks, user_data: str) -> RecordingMonitor:
    """One `pulumi up` of a template + group + gate, under the mocks."""
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="phoenix", stack="ryan0001", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program():
        template = aws.ec2.LaunchTemplate(
            "fleet-template",
            image_id="ami-0c1bea58988a989155",
            instance_type="t3.small",
            user_data=base64.b64encode(user_data.encode()).decode(),
        )
        hook = aws.autoscaling.LifecycleHook(
            "fleet-hook", autoscaling_group_name="fleet", lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
        )
        group = aws.autoscaling.Group(
            "fleet",
            min_size=1,
            max_size=2,
            desired_capacity=1,
            vpc_zone_identifiers=["subnet-0a1b2c3d"],
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            opts=pulumi.ResourceOptions(ignore_changes=["launchTemplate"]),
        )
        gate = RolloutGate(
            "fleet-rollout",
            asg_name=group.name,
            region="eu-west-1",
            launch_template_id=template.id,
            launch_template_version=template.latest_version,
            timeout_minutes=45,
            instance_warmup_seconds=90,
            # As the fleet places it: after the launch hook too, which no input names.
            opts=pulumi.ResourceOptions(depends_on=[hook]),
        )
        return pulumi.Output.all(status=gate.status, refresh_id=gate.refresh_id).apply(mocks.gate_outputs.update)

    program()
    return monitor


def gate_inputs(mocks: AwsMocks) -> dict[str, Any]:
    """What the engine would hand the provider's check(), as the program registered it."""
    return RolloutGateProvider().check({}, mocks.inputs["fleet-rollout"]).inputs


def test_the_gate_waits_on_the_group_it_follows():
    mocks = AwsMocks()

    monitor = deploy(mocks, "#!/bin/bash\necho v1\n")

    gate = monitor.registrations["fleet-rollout"]
    group_urn = monitor.registrations["fleet"]["urn"]
    template_urn = monitor.registrations["fleet-template"]["urn"]
    assert gate["type"] == GATE_TYPE
    assert group_urn in gate["dependencies"]
    assert monitor.registrations["fleet-hook"]["urn"] in gate["dependencies"], "the options it was given"
    assert gate["property_dependencies"]["asg_name"] == [group_urn]
    assert gate["property_dependencies"]["launch_template_version"] == [template_urn]
    assert gate["property_dependencies"]["launch_template_id"] == [template_urn]
    inputs = gate_inputs(mocks)
    assert inputs["asg_name"] == "fleet-4f2a1c9"
    assert inputs["launch_template_id"] == "lt-0a1b2c3d4e5f60718"
    assert inputs["launch_template_version"] == "1"
    assert inputs["region"] == "eu-west-1" and inputs["timeout_minutes"] == 45
    assert inputs["instance_warmup_seconds"] == 90


def test_the_gate_reports_the_status_and_refresh_its_rollout_recorded():
    mocks = AwsMocks()

    deploy(mocks, "#!/bin/bash\necho v1\n")

    assert mocks.gate_outputs["status"].startswith("2/2 healthy in service on launch template version 1")
    assert mocks.gate_outputs["refresh_id"] == "0a1b2c3d-refresh"


def test_a_new_template_version_is_a_new_rollout_and_nothing_else():
    mocks = AwsMocks()
    provider = RolloutGateProvider()

    deploy(mocks, "#!/bin/bash\necho v1\n")
    first = gate_inputs(mocks)
    deploy(mocks, "#!/bin/bash\necho v1\n")
    unchanged = gate_inputs(mocks)
    deploy(mocks, "#!/bin/bash\necho v2\n")
    changed = gate_inputs(mocks)

    assert provider.diff("gate", first, unchanged).changes is False
    assert provider.diff("gate", unchanged, changed).changes is True
    assert {k for k in changed if changed[k] != unchanged[k]} == {"launch_template_version"}
    assert (unchanged["launch_template_version"], changed["launch_template_version"]) == ("1", "2")


def test_the_serialized_provider_holds_no_credentials():
    mocks = AwsMocks()

    deploy(mocks, "#!/bin/bash\necho v1\n")

    serialized = mocks.inputs["fleet-rollout"]["__provider"]
    assert rpc.is_rpc_secret(serialized), "Pulumi keeps the serialized provider secret in state"
    raw = base64.b64decode(rpc.unwrap_rpc_secret(serialized))
    assert SECRET_ACCESS_KEY.encode() not in raw and ACCESS_KEY_ID.encode() not in raw
    provider = dill.loads(raw)
    assert type(provider) is RolloutGateProvider
    assert vars(provider) == {"poll_seconds": 5.0, "max_poll_seconds": 30.0}


@pytest.fixture(autouse=True)
def _fresh_runtime():
    """Each deploy sets its own mocks; leave none behind for other tests."""
    yield
    pulumi.runtime.settings.reset_options()
