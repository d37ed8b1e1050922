"""The Tenant and AutoDeployOverride resources as a program declares them: what the engine is handed.

The providers behind them are tested against the emulated Octopus in tests/providers; here,
under Pulumi's mocks, what reaches the state from the resource classes themselves: the inputs
with their defaults, the outputs a program reads, and the provider the engine will run.
"""

from __future__ import annotations

import base64

import dill
import pulumi
from pulumi.runtime import rpc

from components.octopus.override import AutoDeployOverride, AutoDeployOverrideProvider
from components.octopus.tenant import Tenant, TenantProvider, made_by_phoenix, phoenix_description
from tests.unit.conftest import FeatureMocks, run_inline

TENANT = "pulumi-python:dynamic/octopus:Tenant"
OVERRIDE = "pulumi-python:dynamic/octopus:AutoDeployOverride"


def registered(mocks: FeatureMocks, typ: str) -> dict:
    [found] = [r for r in mocks.registered if r.typ == typ]
    return dict(found.inputs)


def provider_in_state(inputs: dict) -> object:
    """The serialized provider the engine runs for create, update, refresh and destroy."""
    serialized = inputs.pop("__provider")
    assert rpc.is_rpc_secret(serialized), "Pulumi keeps the serialized provider secret in state"
    return dill.loads(base64.b64decode(rpc.unwrap_rpc_secret(serialized)))


def test_a_tenant_given_only_its_name_and_connections_sends_no_description_tags_or_adoption(mocks) -> None:
    def program() -> pulumi.Output:
        tenant = Tenant("t", tenant_name="ryan0001", projects=("Phoenix Web",), environments=["Feature"])
        return pulumi.Output.all(tenant.tenant_id, tenant.project_ids, tenant.environment_ids, tenant.space_id,
                                 tenant.adopted)

    outputs = run_inline(program)
    inputs = registered(mocks, TENANT)
    assert type(provider_in_state(inputs)) is TenantProvider
    assert inputs == {"tenant_name": "ryan0001", "projects": ["Phoenix Web"], "environments": ["Feature"],
                      "description": "", "tenant_tags": [], "adopt_existing": False}
    assert outputs == ["Tenants-1", ["Projects-1"], ["Environments-1"], "Spaces-1", None], (
        "a program reads the ids Octopus gave the tenant"
    )


def test_a_tenant_passes_its_description_tags_space_and_adoption_on(mocks) -> None:
    def program() -> pulumi.Output:
        tenant = Tenant("t", tenant_name="ryan0001", projects=["Phoenix Web"], environments=["Feature"],
                        description="Feature environment ryan0001", tenant_tags=("Team/Web",), space="Features",
                        adopt_existing=True)
        return tenant.tenant_id

    run_inline(program)
    inputs = registered(mocks, TENANT)
    inputs.pop("__provider")
    assert inputs == {"tenant_name": "ryan0001", "projects": ["Phoenix Web"], "environments": ["Feature"],
                      "description": "Feature environment ryan0001", "tenant_tags": ["Team/Web"],
                      "space": "Features", "adopt_existing": True}


def test_an_override_registers_what_it_was_given_and_exposes_the_ids_it_resolved(mocks) -> None:
    def program() -> pulumi.Output:
        override = AutoDeployOverride("o", project="Phoenix Web", environment="Feature", tenant_id="Tenants-1",
                                      release_version="1.0.0-ryan0001", space="Features")
        return pulumi.Output.all(override.project_id, override.environment_id, override.release_id,
                                 override.space_id)

    outputs = run_inline(program)
    inputs = registered(mocks, OVERRIDE)
    assert type(provider_in_state(inputs)) is AutoDeployOverrideProvider
    assert inputs == {"project": "Phoenix Web", "environment": "Feature", "tenant_id": "Tenants-1",
                      "release_version": "1.0.0-ryan0001", "space": "Features"}
    assert outputs == ["Projects-1", "Environments-1", "Releases-7", "Spaces-1"]


def test_the_phoenix_mark_stays_what_tenants_in_octopus_already_carry() -> None:
    """`reap --orphans` finds phoenix's tenants by this text; a changed mark would orphan-proof every old one."""
    assert phoenix_description("ryan0001") == "Feature environment ryan0001, managed by phoenix"
    assert phoenix_description("ryan0001", "revision 3") == "Feature environment ryan0001, managed by phoenix, revision 3"
    assert made_by_phoenix({"Name": "ryan0001", "Description": phoenix_description("ryan0001")})
