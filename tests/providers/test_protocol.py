"""The providers as the engine drives them: pickled, in `python -m pulumi.dynamic`, over gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from pulumi.runtime import proto
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from components.octopus.override import AutoDeployOverrideProvider
from components.octopus.tenant import TenantProvider
from tests.providers.conftest import ENVIRONMENT, NEXT_VERSION, PROJECT, VERSION, World
from tests.dynamic_host import DynamicProviderHost, secret, serialized

TENANT_URN = "urn:pulumi:ryan0001::phoenix::pulumi-python:dynamic/octopus:Tenant::feature-tenant"
OVERRIDE_URN = (
    "urn:pulumi:ryan0001::phoenix::pulumi-python:dynamic/octopus:AutoDeployOverride::feature-override"
)


@pytest.fixture
def plugin(world: World, tmp_path: Path):
    host = DynamicProviderHost(tmp_path)
    emulator = world.emulator
    host.configure(
        {
            "octopus:serverUrl": emulator.url,
            "octopus:apiKey": secret(emulator.api_key),
            "octopus:space": "Default",
            "phoenix:feature": "ryan0001",
        }
    )
    yield host
    host.stop()
    assert emulator.api_key not in host.output(), "the key leaked into the provider's output"


def test_tenant_and_override_lifecycle_over_grpc(world: World, plugin: DynamicProviderHost) -> None:
    tenant_provider, override_provider = serialized(TenantProvider), serialized(AutoDeployOverrideProvider)

    tenant_inputs, failures = plugin.check(
        TENANT_URN, tenant_provider, {},
        {"tenant_name": "ryan0001", "projects": [PROJECT], "environments": [ENVIRONMENT]},
    )
    assert failures == []
    assert tenant_inputs["space"] == "Default", "the configured space is filled in by check"

    tenant_id, tenant_outs = plugin.create(TENANT_URN, tenant_provider, tenant_inputs)
    assert [t["Id"] for t in world.emulator.tenants()] == [tenant_id]
    assert tenant_outs["tenant_id"] == tenant_id and tenant_outs["project_ids"] == [world.project()["Id"]]

    override_inputs, failures = plugin.check(
        OVERRIDE_URN, override_provider, {},
        {"project": PROJECT, "environment": ENVIRONMENT, "tenant_id": tenant_id, "release_version": VERSION},
    )
    assert failures == []
    override_id, override_outs = plugin.create(OVERRIDE_URN, override_provider, override_inputs)
    assert [o["TenantId"] for o in world.overrides()] == [tenant_id]

    same = plugin.diff(OVERRIDE_URN, override_provider, override_id, override_outs, override_inputs)
    assert same.changes == proto.DiffResponse.DIFF_NONE

    bumped_inputs = {**override_inputs, "release_version": NEXT_VERSION}
    bumped = plugin.diff(OVERRIDE_URN, override_provider, override_id, override_outs, bumped_inputs)
    assert bumped.changes == proto.DiffResponse.DIFF_SOME and list(bumped.replaces) == []
    override_outs = plugin.update(OVERRIDE_URN, override_provider, override_id, override_outs, bumped_inputs)
    assert override_outs["release_version"] == NEXT_VERSION
    assert [o["ReleaseId"] for o in world.overrides()] == [override_outs["release_id"]]

    read_id, read_outs, read_inputs = plugin.read(OVERRIDE_URN, override_provider, override_id, override_outs)
    assert (read_id, read_outs, read_inputs) == (override_id, override_outs, bumped_inputs)

    plugin.delete(OVERRIDE_URN, override_provider, override_id, override_outs)
    assert world.overrides() == []
    gone_id, _, _ = plugin.read(OVERRIDE_URN, override_provider, override_id, override_outs)
    assert gone_id == ""

    renamed = plugin.diff(
        TENANT_URN, tenant_provider, tenant_id, tenant_outs, {**tenant_inputs, "tenant_name": "ryan0002"}
    )
    assert renamed.changes == proto.DiffResponse.DIFF_SOME and list(renamed.replaces) == []
    moved = plugin.diff(TENANT_URN, tenant_provider, tenant_id, tenant_outs, {**tenant_inputs, "space": "Other"})
    assert list(moved.replaces) == ["space"] and moved.deleteBeforeReplace

    world.emulator.register_machine("ryan0001-i-1", environments=[ENVIRONMENT], roles=["web"], tenants=["ryan0001"])
    plugin.delete(TENANT_URN, tenant_provider, tenant_id, tenant_outs)
    assert world.emulator.tenants() == [] and world.emulator.machines() == []
    gone_id, _, _ = plugin.read(TENANT_URN, tenant_provider, tenant_id, tenant_outs)
    assert gone_id == "", "a refresh reports the deleted tenant gone, so the next up recreates it"
    world.emulator.state.delete("Spaces-1", "projects", world.project()["Id"])
    gone_id, _, _ = plugin.read(OVERRIDE_URN, override_provider, override_id, override_outs)
    assert gone_id == "", "an override whose project was deleted is gone, not a failed refresh"


def test_check_failures_travel_one_per_field(world: World, plugin: DynamicProviderHost) -> None:
    _, failures = plugin.check(
        OVERRIDE_URN, serialized(AutoDeployOverrideProvider), {},
        {"project": PROJECT, "environment": " ", "tenant_id": "Tenants-1", "release_version": "latest"},
    )
    assert sorted(prop for prop, _ in failures) == ["environment", "release_version"]


def test_a_failed_create_reports_project_and_version_and_not_the_key(
    world: World, plugin: DynamicProviderHost
) -> None:
    tenant = world.emulator.seed_tenant("ryan0001", projects={PROJECT: [ENVIRONMENT]})
    props = {
        "project": PROJECT, "environment": ENVIRONMENT, "tenant_id": tenant["Id"],
        "release_version": "7.0.0-ryan0001", "space": "Default",
    }
    with pytest.raises(grpc.RpcError) as raised:
        plugin.create(OVERRIDE_URN, serialized(AutoDeployOverrideProvider), props)
    details = raised.value.details()
    assert PROJECT in details and "7.0.0-ryan0001" in details
    assert world.emulator.api_key not in details
    assert world.overrides() == []


def test_a_provider_without_configuration_says_what_is_missing(tmp_path: Path) -> None:
    with DynamicProviderHost(tmp_path) as host:
        host.configure({"phoenix:feature": "ryan0001"})
        with pytest.raises(grpc.RpcError) as raised:
            host.check(
                TENANT_URN, serialized(TenantProvider), {},
                {"tenant_name": "ryan0001", "projects": [PROJECT], "environments": [ENVIRONMENT]},
            )
        assert "octopus:serverUrl" in raised.value.details()


def test_a_tenant_id_not_known_yet_passes_check_and_diffs_as_a_replacement(
    world: World, plugin: DynamicProviderHost
) -> None:
    """A preview where the tenant is still to be created: its id arrives as the unknown sentinel."""
    provider = serialized(AutoDeployOverrideProvider)
    props = {"project": PROJECT, "environment": ENVIRONMENT, "tenant_id": UNKNOWN, "release_version": VERSION}
    inputs, failures = plugin.check(OVERRIDE_URN, provider, {}, props)
    assert failures == [] and isinstance(inputs["tenant_id"], Unknown)
    olds = {**props, "tenant_id": "Tenants-1", "space": "Default"}
    diff = plugin.diff(OVERRIDE_URN, provider, "Spaces-1/Projects-1/Environments-1/Tenants-1", olds, inputs)
    assert diff.changes == proto.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == ["tenant_id"] and diff.deleteBeforeReplace
