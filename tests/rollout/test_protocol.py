"""The gate's provider as the engine runs it: serialized, under `python -m pulumi.dynamic`, over gRPC.

The provider process finds AWS through the standard environment
(AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ACCESS_KEY_ID...), here pointing at the
Auto Scaling stand-in on 127.0.0.1; nothing in the serialized provider says
where AWS is or who is calling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.rollout import RolloutGateProvider
from tests.dynamic_host import DynamicProviderHost, from_struct, to_struct
from tests.rollout.autoscaling_server import AutoScalingStandIn, Step
from tests.rollout.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from tests.rollout.shapes import GROUP, REGION, fleet, group, instance, refresh

URN = "urn:pulumi:ryan0001::phoenix::phoenix:index:Fleet$pulumi-python:dynamic/rollout:RolloutGate::fleet-rollout"
#: Fast polls for the tests that wait; the production pacing is checked in test_gate_mocks.
FAST = serialize_provider(RolloutGateProvider(poll_seconds=0.05, max_poll_seconds=0.1))
DEFAULT = serialize_provider(RolloutGateProvider())


def gate_props(version: Any = "4", provider: str = FAST, **changes: Any) -> dict[str, Any]:
    return {
        "asg_name": GROUP,
        "region": REGION,
        "launch_template_version": version,
        "timeout_minutes": 1,
        "__provider": provider,
        **changes,
    }


@pytest.fixture
def stand_in() -> Iterator[AutoScalingStandIn]:
    with AutoScalingStandIn(access_key_id=ACCESS_KEY_ID) as server:
        yield server


@pytest.fixture
def provider(stand_in: AutoScalingStandIn, tmp_path: Path) -> Iterator[DynamicProviderHost]:
    with DynamicProviderHost(tmp_path, env={"AWS_ENDPOINT_URL_AUTO_SCALING": stand_in.url}) as host:
        host.configure({"aws:region": REGION})
        yield host


def test_check_and_diff(provider):
    checked = provider.stub.Check(
        provider_pb2.CheckRequest(urn=URN, olds=to_struct({}), news=to_struct(gate_props(version=4, provider=DEFAULT)))
    )
    inputs = from_struct(checked.inputs)
    assert list(checked.failures) == []
    assert inputs["launch_template_version"] == "4" and inputs["timeout_minutes"] == 1
    assert inputs["__provider"] == DEFAULT

    refused = provider.stub.Check(
        provider_pb2.CheckRequest(
            urn=URN, olds=to_struct({}), news=to_struct(gate_props(version="$Latest", provider=DEFAULT, region="Ireland"))
        )
    )
    assert sorted(f.property for f in refused.failures) == ["launch_template_version", "region"]

    preview = provider.stub.Check(
        provider_pb2.CheckRequest(
            urn=URN, olds=to_struct({}), news=to_struct(gate_props(version=rpc.UNKNOWN, provider=DEFAULT, asg_name=rpc.UNKNOWN))
        )
    )
    assert list(preview.failures) == []
    assert preview.inputs.fields["launch_template_version"].string_value == rpc.UNKNOWN, "still unknown, not invented"

    olds = gate_props(version="3", provider=DEFAULT)
    new_version = provider.stub.Diff(provider_pb2.DiffRequest(id="g", urn=URN, olds=to_struct(olds), news=to_struct(gate_props(version="4", provider=DEFAULT))))
    assert new_version.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(new_version.replaces) == []
    same = provider.stub.Diff(provider_pb2.DiffRequest(id="g", urn=URN, olds=to_struct(olds), news=to_struct(gate_props(version="3", provider=FAST))))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    unknown = provider.stub.Diff(provider_pb2.DiffRequest(id="g", urn=URN, olds=to_struct(olds), news=to_struct(gate_props(version=rpc.UNKNOWN, provider=DEFAULT))))
    assert unknown.changes == provider_pb2.DiffResponse.DIFF_SOME


def test_create_returns_once_the_refresh_has_replaced_every_instance(provider, stand_in):
    stand_in.play(
        Step(group(version="4", instances=fleet("3", "3")), (refresh("InProgress", percent=0, to_update=2),)),
        Step(
            group(version="4", instances=fleet("3") + [instance("4", index=7, state="Pending:Wait")]),
            (refresh("InProgress", percent=0, to_update=2),),
        ),
        Step(group(version="4", instances=fleet("4", "4")), (refresh("Successful", percent=100, to_update=0),)),
    )

    created = provider.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=to_struct(gate_props())))

    outs = from_struct(created.properties)
    assert len(created.id) == 32
    assert outs["status"].startswith("2/2 healthy in service on launch template version 4")
    assert outs["__provider"] == FAST
    assert stand_in.actions().count("DescribeAutoScalingGroups") == 3
    assert {(seen.access_key_id, seen.region) for seen in stand_in.requests} == {(ACCESS_KEY_ID, REGION)}
    assert "waiting for auto scaling group" in provider.output()


def test_a_rolled_back_update_fails_with_what_aws_reported(provider, stand_in):
    stand_in.play(
        Step(
            group(version="3", instances=fleet("3", "3")),
            (
                refresh(
                    "RollbackSuccessful",
                    reason="The instance refresh was rolled back.",
                    rollback_reason="Rollback was triggered because instances failed health checks.",
                ),
            ),
        )
    )

    with pytest.raises(grpc.RpcError) as caught:
        provider.stub.Update(
            provider_pb2.UpdateRequest(id="g", urn=URN, olds=to_struct(gate_props(version="3")), news=to_struct(gate_props(version="4")))
        )

    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    details = caught.value.details()
    assert f"the rollout of launch template version 4 to auto scaling group {GROUP} was rolled back" in details
    assert "Rollback was triggered because instances failed health checks." in details
    assert "2 on version 3" in details
    assert SECRET_ACCESS_KEY not in details and SECRET_ACCESS_KEY not in provider.output()


def test_aws_refusing_the_credentials_is_reported(provider, stand_in):
    stand_in.access_key_id = "AKIASOMEONEELSE00000"
    stand_in.play(Step(group(version="4", instances=fleet("4", "4"))))

    with pytest.raises(grpc.RpcError) as caught:
        provider.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=to_struct(gate_props())))

    assert "AWS refused DescribeAutoScalingGroups" in caught.value.details()
    assert "InvalidClientTokenId" in caught.value.details()
    assert stand_in.actions() == ["DescribeAutoScalingGroups"], "an auth failure is final, not retried"


def test_delete_and_read_make_no_aws_call(provider, stand_in):
    state = {**gate_props(provider=DEFAULT), "status": "2/2 healthy in service on launch template version 4"}

    provider.stub.Delete(provider_pb2.DeleteRequest(id="g", urn=URN, properties=to_struct(state)))
    read = provider.stub.Read(provider_pb2.ReadRequest(id="g", urn=URN, properties=to_struct(state), inputs=to_struct(state)))

    assert read.id == "g"
    assert from_struct(read.properties)["status"] == state["status"]
    assert from_struct(read.inputs)["launch_template_version"] == "4"
    assert stand_in.requests == []
