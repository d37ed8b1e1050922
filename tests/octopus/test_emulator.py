"""The emulator answers as the REST reference says Octopus Server does.

Raw HTTP with `requests` here, not the client: these tests pin the server's
side of the contract so the client tests mean something.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
import requests

from tests.octopus.conftest import Seeded
from tests.octopus_emulator import OctopusEmulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ERROR_FIELDS = {"ErrorMessage", "Errors", "Details", "HelpText", "HelpLink", "FullException"}
COLLECTION_FIELDS = {"ItemType", "TotalResults", "ItemsPerPage", "NumberOfPages", "LastPageNumber", "Items", "Links"}


class Api:
    """Raw calls with the emulator's key."""

    def __init__(self, emulator: OctopusEmulator) -> None:
        self.url = emulator.url
        self.http = requests.Session()
        self.http.headers["X-Octopus-ApiKey"] = emulator.api_key

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=5, **kwargs)


@pytest.fixture
def api(octopus_emulator: OctopusEmulator) -> Api:
    return Api(octopus_emulator)


def tenant(name: str = "ryan0001", **fields) -> dict:
    return {"Name": name, "TenantTags": [], "ProjectEnvironments": {}, **fields}


# -- authentication -------------------------------------------------------------


def test_401_body_for_missing_and_wrong_keys(octopus_emulator: OctopusEmulator) -> None:
    for headers in ({}, {"X-Octopus-ApiKey": "API-WRONG"}):
        answer = requests.get(f"{octopus_emulator.url}/api/Spaces-1/tenants", headers=headers, timeout=5)
        assert answer.status_code == 401
        assert set(answer.json()) == ERROR_FIELDS
        assert "API key" in answer.json()["ErrorMessage"]


def test_key_header_is_case_insensitive_and_the_query_form_works(
    octopus_emulator: OctopusEmulator,
) -> None:
    url = f"{octopus_emulator.url}/api/users/me"
    by_header = requests.get(url, headers={"x-octopus-apikey": octopus_emulator.api_key}, timeout=5)
    by_query = requests.get(url, params={"apikey": octopus_emulator.api_key}, timeout=5)
    assert by_header.status_code == by_query.status_code == 200
    assert all("apikey" not in record.query for record in octopus_emulator.request_log)


def test_root_is_anonymous_unless_switched_off(octopus_emulator: OctopusEmulator) -> None:
    assert requests.get(f"{octopus_emulator.url}/api", timeout=5).status_code == 200
    octopus_emulator.allow_anonymous_root = False
    assert requests.get(f"{octopus_emulator.url}/api", timeout=5).status_code == 401


def test_read_only_key_gets_403_on_writes(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.add_api_key("API-READER", read_only=True)
    headers = {"X-Octopus-ApiKey": "API-READER"}
    url = f"{octopus_emulator.url}/api/Spaces-1/tenants"
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    refused = requests.post(url, json=tenant(), headers=headers, timeout=5)
    assert refused.status_code == 403
    assert set(refused.json()) == ERROR_FIELDS
    assert octopus_emulator.tenants() == []


# -- routes, documents, collections ------------------------------------------------


def test_root_and_space_documents(api: Api) -> None:
    root = api("GET", "/api").json()
    assert root["Application"] == "Octopus Deploy"
    assert root["Links"]["Tenants"].startswith("/api/Spaces-1/tenants{/id}")
    assert root["Links"]["CurrentUser"] == "/api/users/me"
    space_root = api("GET", "/api/Spaces-1").json()
    assert space_root["Id"] == "Spaces-1"
    assert space_root["Links"]["MachinePolicies"].startswith("/api/Spaces-1/machinepolicies")


def test_spaces_by_search_by_id_and_all(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_space("Feature Teams")
    found = api("GET", "/api/spaces", params={"partialName": "feature"}).json()
    assert [s["Name"] for s in found["Items"]] == ["Feature Teams"]
    assert api("GET", "/api/spaces/Spaces-2").json()["Slug"] == "feature-teams"
    assert len(api("GET", "/api/spaces/all").json()) == 2
    assert api("GET", "/api/spaces/Spaces-9").status_code == 404


def test_three_equivalent_space_routes(api: Api, seeded: Seeded) -> None:
    forms = ["/api/Spaces-1/projects", "/api/spaces/Spaces-1/projects", "/api/spaces/default/projects",
             "/api/projects"]
    answers = [api("GET", form).json()["Items"] for form in forms]
    assert all(items == answers[0] for items in answers)
    assert answers[0][0]["Id"] == seeded.project["Id"]


def test_a_space_name_in_the_id_route_is_not_found(api: Api) -> None:
    assert api("GET", "/api/Default/projects").status_code == 404


def test_collection_shape_and_paging(api: Api, octopus_emulator: OctopusEmulator) -> None:
    for number in range(42):
        octopus_emulator.seed_tenant(f"feature{number:03d}")
    first = api("GET", "/api/Spaces-1/tenants").json()
    assert set(first) == COLLECTION_FIELDS
    assert first["ItemType"] == "Tenant"
    assert (first["TotalResults"], first["ItemsPerPage"], first["NumberOfPages"], first["LastPageNumber"]) == (
        42, 30, 2, 1
    )
    assert len(first["Items"]) == 30
    assert first["Links"]["Page.Next"] == "/api/Spaces-1/tenants?skip=30&take=30"
    assert first["Links"]["Page.All"].endswith("take=2147483647")
    last = api("GET", first["Links"]["Page.Next"]).json()
    assert len(last["Items"]) == 12 and "Page.Next" not in last["Links"]
    names = [t["Name"] for t in first["Items"] + last["Items"]]
    assert names == sorted(names) and len(set(names)) == 42


def test_empty_collection(api: Api) -> None:
    empty = api("GET", "/api/Spaces-1/tenants").json()
    assert (empty["TotalResults"], empty["Items"], empty["NumberOfPages"], empty["LastPageNumber"]) == (0, [], 1, 0)


def test_filters(api: Api, octopus_emulator: OctopusEmulator, seeded: Seeded) -> None:
    octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"], tags=["Feature/Branch"])
    octopus_emulator.seed_tenant("ryan0001-old")
    by_partial = api("GET", "/api/Spaces-1/tenants", params={"partialName": "RYAN"}).json()
    assert by_partial["TotalResults"] == 2
    by_name = api("GET", "/api/Spaces-1/tenants", params={"name": "ryan0001"}).json()
    assert by_name["TotalResults"] == 2  # the obsolete `name` filter on tenants is a contains-match
    by_project = api("GET", "/api/Spaces-1/tenants", params={"projectId": seeded.project["Id"]}).json()
    assert [t["Name"] for t in by_project["Items"]] == ["ryan0001"]
    by_tag = api("GET", "/api/Spaces-1/tenants", params={"tags": "Feature/Branch,Other/Tag"}).json()
    assert [t["Name"] for t in by_tag["Items"]] == ["ryan0001"]
    by_ids = api("GET", "/api/Spaces-1/tenants", params={"ids": "Tenants-2"}).json()
    assert [t["Name"] for t in by_ids["Items"]] == ["ryan0001-old"]
    assert [t["Name"] for t in api("GET", "/api/Spaces-1/tenants/all").json()] == ["ryan0001", "ryan0001-old"]


def test_machine_name_filter_is_exact(api: Api, octopus_emulator: OctopusEmulator, seeded: Seeded) -> None:
    octopus_emulator.register_machine("web-1", ["Feature"], ["web"])
    octopus_emulator.register_machine("web-10", ["Feature"], ["web"])
    found = api("GET", "/api/Spaces-1/machines", params={"name": "web-1"}).json()
    assert [m["Name"] for m in found["Items"]] == ["web-1"]


def test_404_bodies(api: Api) -> None:
    missing = api("GET", "/api/Spaces-1/tenants/Tenants-404")
    assert missing.status_code == 404
    assert set(missing.json()) == ERROR_FIELDS
    assert "Tenants-404" in missing.json()["ErrorMessage"]
    assert api("GET", "/api/Spaces-1/nothing-here").status_code == 404
    assert api("GET", "/api/Spaces-1/projects/Projects-1/releases/1.0.0").status_code == 404


def test_wrong_method_is_405(api: Api) -> None:
    answer = api("DELETE", "/api/Spaces-1/tenants")
    assert answer.status_code == 405
    assert "POST" in answer.headers["Allow"]
    assert api("POST", "/api/Spaces-1/deployments", json={}).status_code == 405


def test_unparseable_body_is_400(api: Api) -> None:
    answer = api("POST", "/api/Spaces-1/tenants", data=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["Errors"] == ["The request body could not be parsed as JSON."]


# -- tenants ----------------------------------------------------------------------------


def test_tenant_create_get_modify_delete(api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    created = api("POST", "/api/Spaces-1/tenants", json=tenant(
        ProjectEnvironments={seeded.project["Id"]: [seeded.environment["Id"]]}
    ))
    assert created.status_code == 201
    body = created.json()
    assert re.fullmatch(r"Tenants-\d+", body["Id"])
    assert body["Slug"] == "ryan0001" and body["SpaceId"] == "Spaces-1"
    assert body["Links"]["Self"] == f"/api/Spaces-1/tenants/{body['Id']}"
    assert datetime.fromisoformat(body["LastModifiedOn"]).tzinfo is not None

    body["ProjectEnvironments"] = {}
    assert api("PUT", f"/api/Spaces-1/tenants/{body['Id']}", json=body).json()["ProjectEnvironments"] == {}
    deleted = api("DELETE", f"/api/Spaces-1/tenants/{body['Id']}")
    assert deleted.status_code == 200
    assert api("GET", f"/api/Spaces-1/tenants/{body['Id']}").status_code == 404


def test_tenant_validation_lists_every_problem(api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    answer = api("POST", "/api/Spaces-1/tenants", json={"Name": "", "TenantTags": ["no-set"],
                                                          "ProjectEnvironments": ["Projects-1"]})
    assert answer.status_code == 400
    assert set(answer.json()) == ERROR_FIELDS
    errors = answer.json()["Errors"]
    assert errors[0] == "The Name field is required."
    assert "TenantTags must be canonical tag names like 'TagSet/Tag'." in errors
    assert "ProjectEnvironments must map project ids to lists of environment ids." in errors
    assert set(answer.json()["Details"]) == {"Name", "TenantTags", "ProjectEnvironments"}
    assert octopus_emulator.tenants() == []


def test_tenant_of_an_untenanted_project_is_refused(api: Api, octopus_emulator: OctopusEmulator) -> None:
    project = octopus_emulator.seed_project("Legacy", tenanted_mode="Untenanted")
    environment = octopus_emulator.seed_environment("Feature")
    answer = api("POST", "/api/Spaces-1/tenants",
                 json=tenant(ProjectEnvironments={project["Id"]: [environment["Id"]]}))
    assert answer.status_code == 400
    assert "not enabled for tenanted deployments" in answer.json()["Errors"][0]


def test_duplicate_tenant_name_is_refused_case_insensitively(api: Api, octopus_emulator: OctopusEmulator) -> None:
    assert api("POST", "/api/Spaces-1/tenants", json=tenant("ryan0001")).status_code == 201
    duplicate = api("POST", "/api/Spaces-1/tenants", json=tenant("RYAN0001"))
    assert duplicate.status_code == 400
    assert duplicate.json()["Errors"] == ["A tenant with this name already exists. Please choose a different name."]
    assert len(octopus_emulator.tenants()) == 1


def test_the_same_name_in_another_space_is_fine(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_space("Other")
    assert api("POST", "/api/Spaces-1/tenants", json=tenant()).status_code == 201
    assert api("POST", "/api/Spaces-2/tenants", json=tenant()).status_code == 201


def test_parallel_creates_of_one_name_make_one_tenant(octopus_emulator: OctopusEmulator) -> None:
    def create(_: int) -> int:
        return Api(octopus_emulator)("POST", "/api/Spaces-1/tenants", json=tenant()).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses == [201] + [400] * 7
    assert len(octopus_emulator.tenants()) == 1


def test_deleting_a_tenant_detaches_its_machines(octopus_emulator: OctopusEmulator, api: Api, seeded: Seeded) -> None:
    made = octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.register_machine("ryan0001-i-1", ["Feature"], ["web"], ["ryan0001"],
                                      participation="TenantedOrUntenanted")
    api("DELETE", f"/api/Spaces-1/tenants/{made['Id']}")
    assert octopus_emulator.machines()[0]["TenantIds"] == []


# -- projects and overrides -----------------------------------------------------------


def test_project_put_replaces_overrides(api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    made = octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    project = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}").json()
    entry = {"EnvironmentId": seeded.environment["Id"], "TenantId": made["Id"], "ReleaseId": seeded.release["Id"]}
    project["AutoDeployReleaseOverrides"] = [entry]
    assert api("PUT", f"/api/Spaces-1/projects/{project['Id']}", json=project).status_code == 200
    del project["AutoDeployReleaseOverrides"]  # a PUT without the collection empties it
    assert api("PUT", f"/api/Spaces-1/projects/{project['Id']}", json=project).json()[
        "AutoDeployReleaseOverrides"] == []


def test_invalid_overrides_are_refused(api: Api, seeded: Seeded) -> None:
    project = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}").json()
    entry = {"EnvironmentId": "Environments-404", "TenantId": "Tenants-404", "ReleaseId": "Releases-404"}
    project["AutoDeployReleaseOverrides"] = [entry, entry]
    answer = api("PUT", f"/api/Spaces-1/projects/{project['Id']}", json=project)
    assert answer.status_code == 400
    errors = " ".join(answer.json()["Errors"])
    for missing in ("Environments-404", "Tenants-404", "Releases-404", "more than one"):
        assert missing in errors


def test_releases_newest_first_and_by_version(api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_release("Phoenix Web", "1.0.0-ryan0002")
    listed = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}/releases").json()
    assert listed["ItemType"] == "Release"
    assert [r["Version"] for r in listed["Items"]] == ["1.0.0-ryan0002", "1.0.0-ryan0001"]
    searched = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}/releases",
                   params={"searchByVersion": "0002"}).json()
    assert [r["Version"] for r in searched["Items"]] == ["1.0.0-ryan0002"]
    by_version = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}/releases/1.0.0-ryan0001").json()
    assert by_version["Id"] == seeded.release["Id"]
    assert api("GET", f"/api/Spaces-1/releases/{seeded.release['Id']}").json()["Version"] == "1.0.0-ryan0001"


def test_duplicate_release_version_is_refused(octopus_emulator: OctopusEmulator, seeded: Seeded) -> None:
    with pytest.raises(Exception, match="already exists"):
        octopus_emulator.seed_release("Phoenix Web", "1.0.0-ryan0001")


# -- triggers, policies, machines --------------------------------------------------------


def test_triggers_per_project(api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_trigger("Phoenix Web", environments=["Feature"], roles=["web"], enabled=False)
    listed = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}/triggers",
                 params={"triggerActionType": "AutoDeploy"}).json()
    assert listed["TotalResults"] == 1
    trigger = listed["Items"][0]
    assert trigger["IsDisabled"] is True
    assert trigger["Filter"]["EventGroups"] == ["MachineAvailableForDeployment"]
    created = api("POST", f"/api/Spaces-1/projects/{seeded.project['Id']}/triggers", json={
        "Name": "Second", "Filter": {"FilterType": "MachineFilter", "EventGroups": ["Nope"]},
        "Action": {"ActionType": "AutoDeploy"},
    })
    assert created.status_code == 400 and "'Nope' is not an event group." in created.json()["Errors"]
    assert api("DELETE", f"/api/Spaces-1/projecttriggers/{trigger['Id']}").json() == {}


def test_machine_policy_timespans_in_every_form(api: Api) -> None:
    template = api("GET", "/api/Spaces-1/machinepolicies/template").json()
    assert template["MachineCleanupPolicy"]["DeleteMachinesBehavior"] == "DoNotDelete"
    for given, echoed in (("48:00:00", "2.00:00:00"), ("2.00:00:00", "2.00:00:00"), ("00:20:00", "00:20:00")):
        body = {**template, "Name": f"policy {given}", "MachineCleanupPolicy": {
            "DeleteMachinesBehavior": "DeleteUnavailableMachines", "DeleteMachinesElapsedTimeSpan": given}}
        created = api("POST", "/api/Spaces-1/machinepolicies", json=body)
        assert created.status_code == 201
        assert created.json()["MachineCleanupPolicy"]["DeleteMachinesElapsedTimeSpan"] == echoed
    bad = api("POST", "/api/Spaces-1/machinepolicies", json={
        "Name": "bad", "ConnectionConnectTimeout": "soon",
        "MachineCleanupPolicy": {"DeleteMachinesBehavior": "Sometimes"}})
    assert bad.status_code == 400
    assert len(bad.json()["Errors"]) == 2


def test_default_and_used_policies_cannot_be_deleted(
    api: Api, octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    assert api("DELETE", "/api/Spaces-1/machinepolicies/MachinePolicies-1").status_code == 400
    policy = octopus_emulator.seed_machine_policy("Feature environments")
    octopus_emulator.register_machine("web-1", ["Feature"], ["web"], machine_policy="Feature environments")
    in_use = api("DELETE", f"/api/Spaces-1/machinepolicies/{policy['Id']}")
    assert in_use.status_code == 400 and "in use" in in_use.json()["Errors"][0]
    machines = api("GET", f"/api/Spaces-1/machinepolicies/{policy['Id']}/machines").json()
    assert [m["Name"] for m in machines["Items"]] == ["web-1"]


def test_registration_as_tentacle_does_it(octopus_emulator: OctopusEmulator, seeded: Seeded, api: Api) -> None:
    octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    machine = octopus_emulator.register_machine("ryan0001-i-1", ["Feature"], ["web"], ["ryan0001"])
    assert machine["TenantIds"] == [octopus_emulator.tenants()[0]["Id"]]
    assert machine["TenantedDeploymentParticipation"] == "Tenanted"
    assert machine["MachinePolicyId"] == "MachinePolicies-1"
    assert machine["Endpoint"]["CommunicationStyle"] == "TentacleActive"
    assert machine["Endpoint"]["Uri"].startswith("poll://")
    with pytest.raises(LookupError, match="already exists"):
        octopus_emulator.register_machine("ryan0001-i-1", ["Feature"], ["web"])
    with pytest.raises(LookupError, match="Could not find the tenant named nobody"):
        octopus_emulator.register_machine("ryan0001-i-2", ["Feature"], ["web"], ["nobody"])
    in_env = api("GET", f"/api/Spaces-1/environments/{seeded.environment['Id']}/machines").json()
    assert in_env["ItemType"] == "DeploymentTarget" and in_env["TotalResults"] == 1


def test_machine_create_needs_its_fields(api: Api) -> None:
    answer = api("POST", "/api/Spaces-1/machines", json={"Name": "web-1"})
    assert answer.status_code == 400
    errors = answer.json()["Errors"]
    assert {"The EnvironmentIds field is required.", "The Roles field is required.",
            "The Endpoint field is required."} <= set(errors)


def test_cleanup_policy_deletes_long_unavailable_machines(octopus_emulator: OctopusEmulator, seeded: Seeded) -> None:
    octopus_emulator.seed_machine_policy("Feature environments", delete_unavailable_after=timedelta(minutes=20))
    octopus_emulator.register_machine("gone", ["Feature"], ["web"], machine_policy="Feature environments")
    octopus_emulator.register_machine("kept", ["Feature"], ["web"])  # default policy keeps machines
    octopus_emulator.set_machine_health("gone", "Unavailable")
    octopus_emulator.set_machine_health("kept", "Unavailable")
    now = datetime.now(timezone.utc)
    assert octopus_emulator.run_health_checks(now + timedelta(minutes=5)) == []
    assert octopus_emulator.run_health_checks(now + timedelta(minutes=21)) == ["gone"]
    assert [m["Name"] for m in octopus_emulator.machines()] == ["kept"]


# -- the auto-deploy hook ------------------------------------------------------------------


def test_a_new_machine_gets_the_override_release_and_the_override_clears(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    octopus_emulator.auto_deploy = True
    made = octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.seed_release("Phoenix Web", "1.0.1-ryan0001")
    octopus_emulator.seed_trigger("Phoenix Web", environments=["Feature"], roles=["web"])
    project = octopus_emulator.project("Phoenix Web")
    project["AutoDeployReleaseOverrides"] = [
        {"EnvironmentId": seeded.environment["Id"], "TenantId": made["Id"], "ReleaseId": seeded.release["Id"]}
    ]
    octopus_emulator.state.modify("Spaces-1", "projects", project["Id"], project)

    machine = octopus_emulator.register_machine("ryan0001-i-1", ["Feature"], ["web"], ["ryan0001"])
    [deployment] = octopus_emulator.deployments()
    assert (deployment["ReleaseId"], deployment["TenantId"]) == (seeded.release["Id"], made["Id"])
    assert deployment["DeployedToMachineIds"] == [machine["Id"]]
    assert octopus_emulator.task(deployment["TaskId"])["State"] == "Success"
    assert octopus_emulator.project("Phoenix Web")["AutoDeployReleaseOverrides"] == []

    # The next machine gets what was last deployed successfully: the same release.
    octopus_emulator.register_machine("ryan0001-i-2", ["Feature"], ["web"], ["ryan0001"])
    assert [d["ReleaseId"] for d in octopus_emulator.deployments()] == [seeded.release["Id"]] * 2


def test_no_deployment_without_a_matching_trigger_or_release(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    octopus_emulator.auto_deploy = True
    octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.seed_trigger("Phoenix Web", environments=["Feature"], roles=["api"])
    octopus_emulator.register_machine("web-1", ["Feature"], ["web"], ["ryan0001"])  # wrong role
    octopus_emulator.seed_trigger("Phoenix Web", name="web", environments=["Feature"], roles=["web"])
    octopus_emulator.register_machine("web-2", ["Feature"], ["web"], ["ryan0001"])  # nothing to deploy yet
    assert octopus_emulator.deployments() == []


def test_a_failed_deployment_keeps_the_override(octopus_emulator: OctopusEmulator, seeded: Seeded) -> None:
    octopus_emulator.auto_deploy = True
    octopus_emulator.deployment_outcome = "Failed"
    made = octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.seed_trigger("Phoenix Web", environments=["Feature"], roles=["web"])
    project = octopus_emulator.project("Phoenix Web")
    entry = {"EnvironmentId": seeded.environment["Id"], "TenantId": made["Id"], "ReleaseId": seeded.release["Id"]}
    project["AutoDeployReleaseOverrides"] = [entry]
    octopus_emulator.state.modify("Spaces-1", "projects", project["Id"], project)
    octopus_emulator.register_machine("ryan0001-i-1", ["Feature"], ["web"], ["ryan0001"])
    assert octopus_emulator.project("Phoenix Web")["AutoDeployReleaseOverrides"] == [entry]


# -- faults, latency, the request log ------------------------------------------------------


def test_faults_count_down_and_match_method_and_path(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"/tenants$", status=502, count=2)
    assert api("POST", "/api/Spaces-1/tenants", json=tenant()).status_code == 201
    assert api("GET", "/api/Spaces-1/tenants/Tenants-1").status_code == 200
    assert [api("GET", "/api/Spaces-1/tenants").status_code for _ in range(3)] == [502, 502, 200]


def test_a_429_carries_retry_after(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("*", r"^/api/users/me$", status=429, retry_after=7)
    limited = api("GET", "/api/users/me")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert set(limited.json()) == ERROR_FIELDS


def test_processed_fault_does_the_work_and_loses_the_answer(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("POST", r"/tenants$", status=504, processed=True)
    assert api("POST", "/api/Spaces-1/tenants", json=tenant()).status_code == 504
    assert len(octopus_emulator.tenants()) == 1


def test_dropped_connection(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"^/api/users/me$", drop=True)
    with pytest.raises(requests.ConnectionError):
        Api(octopus_emulator)("GET", "/api/users/me")
    assert octopus_emulator.request_log[-1] == ("GET", "/api/users/me", 0)


def test_request_log_records_method_path_status_and_query(api: Api, octopus_emulator: OctopusEmulator) -> None:
    api("GET", "/api/Spaces-1/tenants", params={"partialName": "ryan", "skip": 0})
    api("GET", "/api/Spaces-1/tenants/Tenants-9")
    first, second = octopus_emulator.request_log
    assert first == ("GET", "/api/Spaces-1/tenants", 200)
    assert first.params == {"partialName": "ryan", "skip": "0"}
    assert (second.method, second.status) == ("GET", 404)
    assert octopus_emulator.count("GET", r"/tenants") == 2
    octopus_emulator.clear_log()
    assert octopus_emulator.request_log == []


def test_latency_is_added(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.latency = 0.2
    started = time.monotonic()
    api("GET", "/api/users/me")
    assert time.monotonic() - started >= 0.2


def test_a_stopped_emulator_answers_nobody(octopus_emulator: OctopusEmulator) -> None:
    api = Api(octopus_emulator)
    assert api("GET", "/api/users/me").status_code == 200  # a kept-alive connection now exists
    octopus_emulator.stop()
    with pytest.raises(requests.ConnectionError):
        api("GET", "/api/users/me")


# -- from a shell -------------------------------------------------------------------------------


def run_module(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.octopus_emulator", *args],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


def test_module_help() -> None:
    process = run_module("--help")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "--api-key" in out and "--port" in out


def test_module_serves_until_interrupted() -> None:
    process = run_module("--port", "0", "--api-key", "API-SHELL", "--project", "Phoenix Web",
                         "--environment", "Feature", "--release", "Phoenix Web=1.0.0-ryan0001")
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        request = Request(f"{url}/api", headers={"X-Octopus-ApiKey": "API-SHELL"})
        with urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        release = Request(f"{url}/api/Spaces-1/projects/Projects-1/releases/1.0.0-ryan0001",
                          headers={"X-Octopus-ApiKey": "API-SHELL"})
        with urlopen(release, timeout=5) as answer:
            assert answer.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_module_refuses_bad_seed_arguments() -> None:
    process = run_module("--port", "0", "--release", "Nowhere=1.0.0")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "Could not find the project named Nowhere" in err
