"""TenantVariables as the engine drives it: pickled, in `python -m pulumi.dynamic`, over gRPC.

On a server from before the per-project API (the whole tenant document), the
other path of the one the engine test takes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.runtime import proto

from components.octopus.client import OctopusClient
from components.octopus.tenant_variables import TenantVariablesProvider
from tests.dynamic_host import DynamicProviderHost, secret, serialized
from tests.providers.conftest import ENVIRONMENT, PROJECT, World

URN = "urn:pulumi:ryan0001::phoenix::pulumi-python:dynamic/octopus:TenantVariables::feature-tenant-variables"
SECRET = "s3cret-over-grpc-password"


@pytest.fixture
def plugin(world: World, tmp_path: Path):
    emulator = world.emulator
    emulator.project_variables = False
    host = DynamicProviderHost(tmp_path)
    host.configure({"octopus:serverUrl": emulator.url, "octopus:apiKey": secret(emulator.api_key),
                    "octopus:space": "Default"})
    yield host
    host.stop()
    assert emulator.api_key not in host.output(), "the key leaked into the provider's output"
    assert SECRET not in host.output(), "a sensitive value leaked into the provider's output"


def stored(world: World) -> dict:
    return {v["Template"]: v["Value"] for v in world.emulator.tenant_values("ryan0001")}


def test_tenant_variables_lifecycle_over_grpc(world: World, plugin: DynamicProviderHost) -> None:
    emulator = world.emulator
    emulator.seed_project_template(PROJECT, "Phoenix.Url")
    emulator.seed_project_template(PROJECT, "App.DbPassword", sensitive=True)
    tenant = emulator.seed_tenant("ryan0001", projects={PROJECT: [ENVIRONMENT]})
    provider = serialized(TenantVariablesProvider)
    # Dynamic providers answer Configure with acceptSecrets=False, so the engine sends secret
    # inputs unwrapped and keeps them secret itself (in state: encrypted, see tests/engine).
    news = {"tenant_id": tenant["Id"], "project": PROJECT, "environment": ENVIRONMENT,
            "values": {"Phoenix.Url": "https://ryan0001.example"}, "sensitive": {"App.DbPassword": SECRET}}

    inputs, failures = plugin.check(URN, provider, {}, news)
    assert failures == []
    id_, outs = plugin.create(URN, provider, inputs)
    assert stored(world) == {"Phoenix.Url": "https://ryan0001.example", "App.DbPassword": SECRET}
    assert emulator.count("PUT", rf"/tenants/{tenant['Id']}/variables$") == 1
    assert emulator.count("PUT", r"/projectvariables$") == 0, "the server advertised no per-project API"

    same = plugin.diff(URN, provider, id_, outs, inputs)
    assert same.changes == proto.DiffResponse.DIFF_NONE

    with OctopusClient(emulator.url, emulator.api_key) as client:  # cleared by hand in Octopus
        client.set_tenant_variable_values(tenant["Id"], outs["project_id"], outs["environment_id"],
                                          {outs["template_ids"]["App.DbPassword"]: None})
    drift = plugin.diff(URN, provider, id_, outs, inputs)
    assert drift.changes == proto.DiffResponse.DIFF_SOME and list(drift.replaces) == []
    read_id, read_outs, read_inputs = plugin.read(URN, provider, id_, outs)
    assert read_id == id_ and read_inputs["sensitive"] == {}
    outs = plugin.update(URN, provider, id_, read_outs, inputs)
    assert stored(world)["App.DbPassword"] == SECRET

    moved = plugin.diff(URN, provider, id_, outs, {**inputs, "environment": "Staging"})
    assert list(moved.replaces) == ["environment"] and moved.deleteBeforeReplace

    plugin.delete(URN, provider, id_, outs)
    assert stored(world) == {}
