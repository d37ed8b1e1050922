"""The soak's verdict: Pulumi's state against Octopus, and a short soak through the real engine."""

from __future__ import annotations

import pytest

from bench.faults import FaultRates
from bench.soak import (
    OVERRIDE_TYPE,
    TENANT_TYPE,
    VARIABLES_TYPE,
    Census,
    Reconciliation,
    census_of_octopus,
    census_of_state,
    octopus_mismatch,
    run,
    split,
)

KEY = ("Projects-1", "Environments-1", "Tenants-1")
VALUE = (("Tenants-1", "Phoenix.Url"), "https://soak0.features.test")


def census(tenants=(("Tenants-1", "soak0"),), overrides=((KEY, "Releases-1"),), pending: int = 0,
           variables=(VALUE,)) -> Census:
    return Census(tuple(tenants), tuple(overrides), tuple(variables), pending)


def test_the_same_tenants_and_overrides_on_both_sides_pass() -> None:
    result = Reconciliation(census(), census())
    assert result.ok and result.problems == {}
    assert (result.matched_tenants, result.matched_overrides) == (1, 1)


@pytest.mark.parametrize(
    ("state", "octopus", "problem"),
    [
        (census(tenants=()), census(), "orphan tenants"),
        (census(), census(tenants=()), "missing tenants"),
        (census(), census(tenants=(("Tenants-1", "soak0"), ("Tenants-2", "SOAK0"))), "duplicate tenants"),
        (census(tenants=(("Tenants-1", "soak0"), ("Tenants-1", "soak0"))), census(), "duplicate tenants"),
        (census(), census(overrides=()), "lost overrides"),
        (census(), census(overrides=((KEY, "Releases-2"),)), "lost overrides"),
        (census(overrides=()), census(), "orphan overrides"),
        (census(), census(overrides=((KEY, "Releases-1"), (KEY, "Releases-1"))), "duplicate overrides"),
        (census(pending=1), census(), "pending operations"),
        (census(), census(variables=()), "lost tenant variables"),
        (census(), census(variables=((VALUE[0], "http://changed"),)), "lost tenant variables"),
        (census(variables=()), census(), "orphan tenant variables"),
        (census(), census(variables=(VALUE, VALUE)), "duplicate tenant variables"),
    ],
)
def test_each_kind_of_drift_fails_the_soak(state: Census, octopus: Census, problem: str) -> None:
    result = Reconciliation(state, octopus)
    assert not result.ok
    assert problem in result.problems


def test_the_census_reads_the_exported_state_and_the_octopus_documents() -> None:
    deployment = {
        "resources": [
            {"type": "pulumi:pulumi:Stack", "urn": "urn:stack"},
            {"type": TENANT_TYPE, "id": "Tenants-1", "outputs": {"tenant_name": "soak0"}},
            {"type": OVERRIDE_TYPE, "id": "Spaces-1/Projects-1/Environments-1/Tenants-1",
             "outputs": {"project_id": "Projects-1", "environment_id": "Environments-1",
                         "tenant_id": "Tenants-1", "release_id": "Releases-1"}},
            {"type": VARIABLES_TYPE, "id": "Spaces-1/Tenants-1/Projects-1/Environments-1",
             "outputs": {"tenant_id": "Tenants-1", "values": {"Phoenix.Url": VALUE[1]}}},
        ],
        "pending_operations": [{"type": "creating"}],
    }
    assert census_of_state([deployment, {}]) == census(pending=1)
    projects = [{"Id": "Projects-1", "AutoDeployReleaseOverrides": [
        {"EnvironmentId": "Environments-1", "TenantId": "Tenants-1", "ReleaseId": "Releases-1"}]},
        {"Id": "Projects-2"}]
    values = [("Tenants-1", {"Template": "Phoenix.Url", "Value": VALUE[1], "Environments": ["Feature"]})]
    assert census_of_octopus([{"Id": "Tenants-1", "Name": "soak0"}], projects, values) == census()


def test_lifecycles_are_spread_evenly_over_the_workers() -> None:
    assert split(200, 8) == [25] * 8
    assert split(10, 4) == [3, 3, 2, 2]
    assert split(2, 4) == [1, 1, 0, 0]
    with pytest.raises(ValueError):
        split(5, 0)


@pytest.mark.engine
def test_a_short_soak_under_faults_ends_with_octopus_matching_the_state(pulumi_bin) -> None:
    # Faults on a third of the requests make reruns likely even in four lifecycles.
    report = run(lifecycles=4, workers=2, seed=11, rates=FaultRates(unavailable=0.25, dropped=0.05, latency=(0.0, 0.01)))
    assert report.ok, report.text
    assert "lifecycles (asked / done)" in report.text and "4 / 4" in report.text
    assert "PASS: Octopus holds exactly what Pulumi's state records" in report.text
    assert "`reap --dry-run --orphans` afterwards: would clean" in report.text


def test_the_final_reap_check_finds_a_phoenix_tenant_left_without_a_stack() -> None:
    from bench.sandbox import sandbox
    from bench.soak import reap_would_clean
    from components.octopus.tenant import phoenix_description

    with sandbox() as box:
        assert reap_would_clean(box) == []
        box.emulator.seed_tenant("soak9", description=phoenix_description("soak9", "revision 2"))
        box.emulator.seed_tenant("handmade", description="not phoenix's")
        [found] = reap_would_clean(box)
    assert found.startswith("tenant soak9: orphan:") and "no stack" in found


def test_the_check_after_each_operation_sees_a_lost_or_stale_override(octopus_emulator) -> None:
    from components.octopus.client import OctopusClient

    emulator = octopus_emulator
    project = emulator.seed_project("Phoenix Web")
    environment = emulator.seed_environment("Feature")
    old, new = (emulator.seed_release("Phoenix Web", v)["Id"] for v in ("1.0.0-soak0", "1.0.1-soak0"))
    tenant = emulator.seed_tenant("soak0", projects=["Phoenix Web"], environments=["Feature"])["Id"]
    with OctopusClient(emulator.url, emulator.api_key) as client:
        assert "Octopus has none" in octopus_mismatch(client, "Phoenix Web", "soak0", tenant, new)
        client.set_auto_deploy_override(project["Id"], environment["Id"], tenant, old)
        assert f"Octopus has ['{old}']" in octopus_mismatch(client, "Phoenix Web", "soak0", tenant, new)
        assert octopus_mismatch(client, "Phoenix Web", "soak0", tenant, old) is None
        assert "still in Octopus after destroy" in octopus_mismatch(client, "Phoenix Web", "soak0", tenant, None)
        client.delete_tenant(tenant)
        assert "override(s) of the destroyed tenant" in octopus_mismatch(client, "Phoenix Web", "soak0", tenant, None)
        client.remove_auto_deploy_override(project["Id"], environment["Id"], tenant)
        assert octopus_mismatch(client, "Phoenix Web", "soak0", tenant, None) is None


def test_the_check_after_each_operation_sees_a_stale_tenant_variable(octopus_emulator) -> None:
    from components.octopus.client import OctopusClient

    emulator = octopus_emulator
    project = emulator.seed_project("Phoenix Web")
    environment = emulator.seed_environment("Feature")
    release = emulator.seed_release("Phoenix Web", "1.0.0-soak0")["Id"]
    template = emulator.seed_project_template("Phoenix Web", "Phoenix.PackageVersion")["Id"]
    tenant = emulator.seed_tenant("soak0", projects=["Phoenix Web"], environments=["Feature"])["Id"]
    wanted = {"Phoenix.PackageVersion": "1.0.1-soak0"}
    with OctopusClient(emulator.url, emulator.api_key) as client:
        client.set_auto_deploy_override(project["Id"], environment["Id"], tenant, release)
        client.set_tenant_variable_values(tenant, project["Id"], environment["Id"], {template: "1.0.0-soak0"})
        found = octopus_mismatch(client, "Phoenix Web", "soak0", tenant, release, wanted, "Feature")
        assert "Octopus has {'Phoenix.PackageVersion': '1.0.0-soak0'}" in found
        client.set_tenant_variable_values(tenant, project["Id"], environment["Id"], {template: "1.0.1-soak0"})
        assert octopus_mismatch(client, "Phoenix Web", "soak0", tenant, release, wanted, "Feature") is None
