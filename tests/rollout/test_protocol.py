"""The rollout's provider as the engine runs it: serialized, under `python -m pulumi.dynamic`, over gRPC.

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
from tests.rollout.autoscaling_server import ABANDONS, REGION, AutoScalingStandIn
from tests.rollout.conftest import ACCESS_KEY_ID, GROUP, SECRET_ACCESS_KEY, Fleet

URN = "urn:pulumi:ryan0001::phoenix::phoenix:index:Fleet$pulumi-python:dynamic/rollout:RolloutGate::fleet-rollout"
#: Fast polls for the tests that wait; the production pacing is checked in test_gate_mocks.
FAST = serialize_provider(RolloutGateProvider(poll_seconds=0.02, max_poll_seconds=0.05))
DEFAULT = serialize_provider(RolloutGateProvider())


def rollout_props(fleet: Fleet, version: Any = "1", provider: str = FAST, **changes: Any) -> dict[str, Any]:
    return {
        "asg_name": GROUP,
        "region": REGION,
        "launch_template_id": fleet.template.id,
        "launch_template_version": version,
        "timeout_minutes": 1,
        "instance_warmup_seconds": 30,
        "__provider": provider,
        **changes,
    }


@pytest.fixture
def provider(stand_in: AutoScalingStandIn, tmp_path: Path) -> Iterator[DynamicProviderHost]:
    with DynamicProviderHost(tmp_path, env={"AWS_ENDPOINT_URL_AUTO_SCALING": stand_in.url}) as host:
        host.configure({"aws:region": REGION})
        yield host


def test_check_and_diff(provider, fleet):
    checked = provider.stub.Check(provider_pb2.CheckRequest(
        urn=URN, olds=to_struct({}), news=to_struct(rollout_props(fleet, version=4, provider=DEFAULT))))
    inputs = from_struct(checked.inputs)
    assert list(checked.failures) == []
    assert inputs["launch_template_version"] == "4" and inputs["timeout_minutes"] == 1
    assert inputs["__provider"] == DEFAULT

    refused = provider.stub.Check(provider_pb2.CheckRequest(urn=URN, olds=to_struct({}), news=to_struct(
        rollout_props(fleet, version="$Latest", provider=DEFAULT, region="Ireland", launch_template_id="fleet"))))
    assert sorted(f.property for f in refused.failures) == ["launch_template_id", "launch_template_version", "region"]

    preview = provider.stub.Check(provider_pb2.CheckRequest(urn=URN, olds=to_struct({}), news=to_struct(
        rollout_props(fleet, version=rpc.UNKNOWN, provider=DEFAULT, launch_template_id=rpc.UNKNOWN))))
    assert list(preview.failures) == []
    assert preview.inputs.fields["launch_template_version"].string_value == rpc.UNKNOWN, "still unknown, not invented"

    olds = rollout_props(fleet, version="3", provider=DEFAULT)

    def diff(**news: Any) -> Any:
        return provider.stub.Diff(provider_pb2.DiffRequest(
            id="r", urn=URN, olds=to_struct(olds), news=to_struct({**olds, **news})))

    new_version = diff(launch_template_version="4")
    assert new_version.changes == provider_pb2.DiffResponse.DIFF_SOME and list(new_version.replaces) == []
    assert diff(__provider=FAST, timeout_minutes=5).changes == provider_pb2.DiffResponse.DIFF_NONE
    assert diff(launch_template_version=rpc.UNKNOWN).changes == provider_pb2.DiffResponse.DIFF_SOME


def test_create_on_a_group_already_on_its_version(provider, stand_in, fleet):
    created = provider.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=to_struct(rollout_props(fleet))))

    outs = from_struct(created.properties)
    assert len(created.id) == 32
    assert outs["status"].startswith("2/2 healthy in service on launch template version 1")
    assert outs["__provider"] == FAST
    assert "StartInstanceRefresh" not in stand_in.actions()
    assert {(seen.access_key_id, seen.region) for seen in stand_in.requests} == {(ACCESS_KEY_ID, REGION)}


def test_an_update_aws_rolls_back_fails_with_what_aws_reported(provider, stand_in, fleet):
    version = fleet.new_version(ABANDONS)

    with pytest.raises(grpc.RpcError) as caught:
        provider.stub.Update(provider_pb2.UpdateRequest(
            id="r", urn=URN, olds=to_struct(rollout_props(fleet, "1")), news=to_struct(rollout_props(fleet, version))))

    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    details = caught.value.details()
    assert f"the rollout of launch template version {version} to auto scaling group {GROUP} was rolled back" in details
    assert "in service: 2 on version 1" in details and "the group runs version 1, as before" in details
    assert "ABANDON Result" in details
    assert "started instance refresh" in provider.output() and "a scaling activity failed" in provider.output()
    assert SECRET_ACCESS_KEY not in details and SECRET_ACCESS_KEY not in provider.output()
    assert fleet.saved_version() == "1" and fleet.active_refresh() is None


def test_aws_refusing_the_credentials_is_reported(provider, stand_in, fleet):
    stand_in.access_key_id = "AKIASOMEONEELSE00000"

    with pytest.raises(grpc.RpcError) as caught:
        provider.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=to_struct(rollout_props(fleet))))

    assert "AWS refused DescribeInstanceRefreshes" in caught.value.details()
    assert "InvalidClientTokenId" in caught.value.details()
    assert stand_in.actions() == ["DescribeInstanceRefreshes"], "an auth failure is final, not retried"


def test_delete_and_read_make_no_aws_call(provider, stand_in, fleet):
    state = {**rollout_props(fleet, provider=DEFAULT), "status": "2/2 healthy", "refresh_id": None}

    provider.stub.Delete(provider_pb2.DeleteRequest(id="r", urn=URN, properties=to_struct(state)))
    read = provider.stub.Read(provider_pb2.ReadRequest(id="r", urn=URN, properties=to_struct(state),
                                                       inputs=to_struct(state)))

    assert read.id == "r"
    assert from_struct(read.properties)["status"] == state["status"]
    assert from_struct(read.inputs)["launch_template_version"] == "1"
    assert stand_in.requests == []
