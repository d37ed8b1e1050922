"""Every OctopusClient operation against the emulator, over real HTTP."""

from __future__ import annotations

import pickle

import pytest

from components.octopus.client import OctopusClient
from components.octopus.errors import OctopusConflict, OctopusNotFound
from tests.octopus.conftest import Seeded, make_client
from tests.octopus_emulator import OctopusEmulator


def tenant_body(seeded: Seeded, name: str = "ryan0001") -> dict:
    return {
        "Name": name,
        "Description": "Feature environment for branch ryan",
        "ProjectEnvironments": {seeded.project["Id"]: [seeded.environment["Id"]]},
    }


def test_root_and_current_user(client: OctopusClient, octopus_emulator: OctopusEmulator) -> None:
    assert client.root()["Application"] == "Octopus Deploy"
    assert client.current_user()["Username"] == "phoenix"


def test_space_is_resolved_by_name_once_and_by_id(octopus_emulator: OctopusEmulator) -> None:
    other = octopus_emulator.seed_space("Feature Teams")
    with make_client(octopus_emulator, space="feature teams") as by_name:
        assert by_name.space_id == other["Id"]
        assert by_name.space_id == other["Id"]
    assert octopus_emulator.count("GET", r"^/api/spaces$") == 1
    with make_client(octopus_emulator, space=other["Id"]) as by_id:
        assert by_id.space_id == other["Id"]


def test_unknown_space_names_what_was_missing(octopus_emulator: OctopusEmulator) -> None:
    with make_client(octopus_emulator, space="Nowhere") as octopus:
        with pytest.raises(OctopusNotFound, match="Nowhere"):
            octopus.find_tenant("ryan0001")
    with make_client(octopus_emulator, space="Spaces-99") as octopus:
        with pytest.raises(OctopusNotFound):
            _ = octopus.space_id


def test_operations_use_the_resolved_space(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_space("Other")
    octopus_emulator.seed_project("Phoenix Web", space="Other")
    with make_client(octopus_emulator, space="Other") as octopus:
        project = octopus.find_project("Phoenix Web")
    assert project["SpaceId"] == "Spaces-2"
    with make_client(octopus_emulator) as default_space:
        with pytest.raises(OctopusNotFound):
            default_space.find_project("Phoenix Web")


def test_find_project_by_name_slug_and_id(client: OctopusClient, seeded: Seeded) -> None:
    assert client.find_project("phoenix web")["Id"] == seeded.project["Id"]
    assert client.find_project("phoenix-web")["Id"] == seeded.project["Id"]
    assert client.find_project(seeded.project["Id"])["Name"] == "Phoenix Web"
    with pytest.raises(OctopusNotFound, match="'Phoenix'"):
        client.find_project("Phoenix")  # a contains-match is not a match


def test_find_environment_exactly(client: OctopusClient, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_environment("Feature Staging")
    feature = octopus_emulator.seed_environment("Feature")
    assert client.find_environment("FEATURE")["Id"] == feature["Id"]
    with pytest.raises(OctopusNotFound, match="environment named 'Prod'"):
        client.find_environment("Prod")


def test_find_release_by_version(client: OctopusClient, seeded: Seeded) -> None:
    release = client.find_release(seeded.project["Id"], "1.0.0-ryan0001")
    assert release["Id"] == seeded.release["Id"]
    with pytest.raises(OctopusNotFound, match="1.0.0-bob0002") as missing:
        client.find_release(seeded.project["Id"], "1.0.0-bob0002")
    assert missing.value.status == 404


def test_release_version_with_build_metadata_is_url_encoded(
    client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    release = octopus_emulator.seed_release("Phoenix Web", "1.0.0-ryan0001+build.7")
    assert client.find_release(seeded.project["Id"], "1.0.0-ryan0001+build.7")["Id"] == release["Id"]


def test_releases_are_every_page_newest_first(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    for number in range(2, 46):
        octopus_emulator.seed_release("Phoenix Web", f"1.0.{number}-ryan0001")
    with make_client(octopus_emulator, page_size=20) as octopus:
        versions = [r["Version"] for r in octopus.releases(seeded.project["Id"])]
    assert len(versions) == 45
    assert versions[0] == "1.0.45-ryan0001"
    assert versions[-1] == "1.0.0-ryan0001"
    assert octopus_emulator.count("GET", r"/releases$") == 3


def test_tenant_lifecycle(client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    created = client.create_tenant(tenant_body(seeded))
    assert created["Id"].startswith("Tenants-")
    assert created["TenantTags"] == []  # sent even when empty
    assert client.get_tenant(created["Id"])["Name"] == "ryan0001"
    assert client.find_tenant("RYAN0001")["Id"] == created["Id"]

    created["Description"] = "changed"
    created["ProjectEnvironments"] = {}
    modified = client.modify_tenant(created)
    assert modified["Description"] == "changed"
    assert octopus_emulator.tenants()[0]["ProjectEnvironments"] == {}

    client.delete_tenant(created["Id"])
    assert client.find_tenant("ryan0001") is None
    with pytest.raises(OctopusNotFound):
        client.get_tenant(created["Id"])
    with pytest.raises(OctopusNotFound):
        client.delete_tenant(created["Id"])


def test_create_tenant_refuses_a_missing_name_before_any_request(
    client: OctopusClient, octopus_emulator: OctopusEmulator
) -> None:
    octopus_emulator.clear_log()
    with pytest.raises(ValueError, match="Name"):
        client.create_tenant({"Name": "  "})
    assert octopus_emulator.request_log == []


def test_invalid_tenant_is_refused_and_nothing_is_created(
    client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    body = tenant_body(seeded)
    body["ProjectEnvironments"] = {seeded.project["Id"]: ["Environments-404"]}
    with pytest.raises(OctopusConflict) as refused:
        client.create_tenant(body)
    assert refused.value.status == 400
    assert "Environments-404" in str(refused.value)
    assert octopus_emulator.tenants() == []


def test_duplicate_tenant_name_is_a_conflict_and_one_tenant_exists(
    client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    client.create_tenant(tenant_body(seeded))
    with pytest.raises(OctopusConflict) as duplicate:
        client.create_tenant(tenant_body(seeded, name="RYAN0001"))
    assert duplicate.value.status == 400
    assert duplicate.value.errors == [
        "A tenant with this name already exists. Please choose a different name."
    ]
    assert [t["Name"] for t in octopus_emulator.tenants()] == ["ryan0001"]


def test_pagination_reads_all_250_tenants(octopus_emulator: OctopusEmulator) -> None:
    for number in range(1, 251):
        octopus_emulator.seed_tenant(f"a-ryan-{number:04d}")
    octopus_emulator.seed_tenant("ryan")  # the exact match sorts onto the last page
    with make_client(octopus_emulator, page_size=30) as octopus:
        names = [t["Name"] for t in octopus.tenants()]
        found = octopus.find_tenant("ryan")
    assert len(names) == 251 and len(set(names)) == 251
    assert found is not None and found["Name"] == "ryan"
    # 251 tenants at 30 a page: 9 pages for the list, 9 for the search.
    assert octopus_emulator.count("GET", r"/tenants$") == 18


def test_find_machine_policy(client: OctopusClient, octopus_emulator: OctopusEmulator) -> None:
    policy = octopus_emulator.seed_machine_policy("Feature environments")
    assert client.find_machine_policy("feature environments")["Id"] == policy["Id"]
    assert client.find_machine_policy("Default Machine Policy")["IsDefault"] is True
    with pytest.raises(OctopusNotFound, match="machine policy named 'Missing'"):
        client.find_machine_policy("Missing")


def test_machines_of_a_tenant_and_their_deletion(
    client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.seed_tenant("bob0002", ["Phoenix Web"], ["Feature"])
    for index in range(3):
        octopus_emulator.register_machine(f"ryan0001-i-{index}", ["Feature"], ["web"], ["ryan0001"])
    octopus_emulator.register_machine("bob0002-i-0", ["Feature"], ["web"], ["bob0002"])
    octopus_emulator.register_machine("shared", ["Feature"], ["web"], participation="Untenanted")

    tenant = client.find_tenant("ryan0001")
    machines = client.machines_for_tenant(tenant["Id"])
    assert sorted(m["Name"] for m in machines) == ["ryan0001-i-0", "ryan0001-i-1", "ryan0001-i-2"]
    for machine in machines:
        client.delete_machine(machine["Id"])
    assert sorted(m["Name"] for m in octopus_emulator.machines()) == ["bob0002-i-0", "shared"]
    assert client.machines_for_tenant(tenant["Id"]) == []


def test_project_triggers(client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_trigger("Phoenix Web", environments=["Feature"], roles=["web"])
    triggers = client.project_triggers(seeded.project["Id"])
    assert len(triggers) == 1
    assert triggers[0]["Filter"]["EnvironmentIds"] == [seeded.environment["Id"]]
    assert triggers[0]["Action"]["ActionType"] == "AutoDeploy"


def test_get_project(client: OctopusClient, seeded: Seeded) -> None:
    project = client.get_project(seeded.project["Id"])
    assert project["TenantedDeploymentMode"] == "TenantedOrUntenanted"
    assert project["AutoDeployReleaseOverrides"] == []


def test_machine_policy_lifecycle(client: OctopusClient, octopus_emulator: OctopusEmulator) -> None:
    body = client.machine_policy_template()
    body.update(
        Name="Feature environments",
        MachineCleanupPolicy={
            "DeleteMachinesBehavior": "DeleteUnavailableMachines",
            "DeleteMachinesElapsedTimeSpan": "48:00:00",  # the .NET client's total-hours form
        },
    )
    created = client.create_machine_policy(body)
    assert created["MachineCleanupPolicy"]["DeleteMachinesElapsedTimeSpan"] == "2.00:00:00"
    assert client.get_machine_policy(created["Id"])["Name"] == "Feature environments"

    created["MachineCleanupPolicy"]["DeleteMachinesElapsedTimeSpan"] = "00:20:00"
    modified = client.modify_machine_policy(created)
    assert modified["MachineCleanupPolicy"]["DeleteMachinesElapsedTimeSpan"] == "00:20:00"

    client.delete_machine_policy(created["Id"])
    assert [p["Name"] for p in octopus_emulator.machine_policies()] == ["Default Machine Policy"]


def test_deployments_and_their_tasks(
    client: OctopusClient, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.deploy("Phoenix Web", "1.0.0-ryan0001", "Feature", "ryan0001")
    tenant = client.find_tenant("ryan0001")
    deployments = client.deployments(
        project_id=seeded.project["Id"], environment_id=seeded.environment["Id"], tenant_id=tenant["Id"]
    )
    assert [d["ReleaseId"] for d in deployments] == [seeded.release["Id"]]
    task = client.get_task(deployments[0]["TaskId"])
    assert task["State"] == "Success" and task["IsCompleted"] is True


def test_the_client_is_never_pickled(client: OctopusClient) -> None:
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(client)


def test_client_rejects_bad_construction() -> None:
    with pytest.raises(ValueError, match="URL"):
        OctopusClient("octopus.example", "API-X")
    with pytest.raises(ValueError, match="API key"):
        OctopusClient("https://octopus.example", "")
