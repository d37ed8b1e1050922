"""Tenant variables in the emulator, raw: both APIs over one set of values (reference §15)."""

from __future__ import annotations

import pytest

from tests.octopus.conftest import Seeded
from tests.octopus.test_emulator import ERROR_FIELDS, Api
from tests.octopus_emulator import OctopusEmulator
from tests.octopus_emulator.variables import PROJECT_VARIABLES_TOGGLE, STALE_TOKEN_MESSAGE

HIDDEN = {"HasValue": True, "NewValue": None, "Hint": None}


@pytest.fixture
def api(octopus_emulator: OctopusEmulator) -> Api:
    return Api(octopus_emulator)


@pytest.fixture
def world(octopus_emulator: OctopusEmulator, seeded: Seeded) -> dict:
    """A tenant connected to the project in Feature, the project with a plain and a sensitive template."""
    emulator = octopus_emulator
    emulator.seed_environment("Staging")
    url = emulator.seed_project_template("Phoenix Web", "Phoenix.Url", default="http://localhost")
    secret = emulator.seed_project_template("Phoenix Web", "App.DbPassword", sensitive=True)
    tenant = emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    return {
        "project": seeded.project["Id"], "environment": seeded.environment["Id"], "tenant": tenant["Id"],
        "url": url["Id"], "secret": secret["Id"],
        "legacy": f"/api/Spaces-1/tenants/{tenant['Id']}/variables",
        "v2": f"/api/Spaces-1/tenants/{tenant['Id']}/projectvariables",
    }


def values(emulator: OctopusEmulator) -> dict[tuple[str, tuple[str, ...]], str]:
    return {(v["Template"], tuple(v["Environments"])): v["Value"] for v in emulator.tenant_values("ryan0001")}


# -- templates -------------------------------------------------------------------------------------


def test_templates_get_ids_that_a_put_keeps(api: Api, world: dict) -> None:
    project = api("GET", f"/api/Spaces-1/projects/{world['project']}").json()
    assert [t["Name"] for t in project["Templates"]] == ["Phoenix.Url", "App.DbPassword"]
    assert project["Templates"][1]["DisplaySettings"] == {"Octopus.ControlType": "Sensitive"}
    ids = [t["Id"] for t in project["Templates"]]
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)
    project["Description"] = "unchanged templates"
    again = api("PUT", f"/api/Spaces-1/projects/{world['project']}", json=project).json()
    assert [t["Id"] for t in again["Templates"]] == ids


def test_a_template_sent_back_without_its_id_is_new_and_its_values_are_gone(
    api: Api, world: dict, octopus_emulator: OctopusEmulator
) -> None:
    api("PUT", world["v2"], json=[{"TemplateId": world["url"], "Value": "https://ryan0001.example",
                                    "Scope": {"EnvironmentIds": [world["environment"]]}}])
    assert values(octopus_emulator) == {("Phoenix.Url", ("Feature",)): "https://ryan0001.example"}
    project = api("GET", f"/api/Spaces-1/projects/{world['project']}").json()
    del project["Templates"][0]["Id"]
    again = api("PUT", f"/api/Spaces-1/projects/{world['project']}", json=project).json()
    assert again["Templates"][0]["Id"] != world["url"]
    assert values(octopus_emulator) == {}


def test_duplicate_template_names_are_refused(api: Api, world: dict) -> None:
    project = api("GET", f"/api/Spaces-1/projects/{world['project']}").json()
    project["Templates"].append({"Name": "phoenix.url"})
    refused = api("PUT", f"/api/Spaces-1/projects/{world['project']}", json=project)
    assert refused.status_code == 400
    assert "'phoenix.url' is used more than once" in refused.json()["Errors"][0]
    assert refused.json()["Details"] == {"Templates": refused.json()["Errors"][0]}


# -- the whole-document API ------------------------------------------------------------------------


def test_the_document_lists_connected_projects_and_environments_only(api: Api, world: dict) -> None:
    document = api("GET", world["legacy"]).json()
    assert document["TenantId"] == world["tenant"] and document["TenantName"] == "ryan0001"
    assert document["ConcurrencyToken"] and document["LibraryVariables"] == {}
    [section] = document["ProjectVariables"].values()
    assert section["ProjectId"] == world["project"] and section["ProjectName"] == "Phoenix Web"
    assert [t["Name"] for t in section["Templates"]] == ["Phoenix.Url", "App.DbPassword"]
    assert section["Variables"] == {world["environment"]: {}}, "values only where set; defaults are the client's"


def test_a_document_write_sets_hides_keeps_and_clears(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    document = api("GET", world["legacy"]).json()
    section = document["ProjectVariables"][world["project"]]
    section["Variables"][world["environment"]] = {
        world["url"]: "https://ryan0001.example",
        world["secret"]: {"HasValue": True, "NewValue": "s3cret"},
    }
    written = api("PUT", world["legacy"], json=document)
    assert written.status_code == 200
    shown = written.json()["ProjectVariables"][world["project"]]["Variables"][world["environment"]]
    assert shown == {world["url"]: "https://ryan0001.example", world["secret"]: HIDDEN}
    assert "s3cret" not in written.text
    assert values(octopus_emulator) == {
        ("Phoenix.Url", ("Feature",)): "https://ryan0001.example", ("App.DbPassword", ("Feature",)): "s3cret",
    }

    echoed = written.json()
    echoed["ProjectVariables"][world["project"]]["Variables"][world["environment"]][world["url"]] = "https://other"
    assert api("POST", world["legacy"], json=echoed).status_code == 200, "POST writes as PUT does"
    assert values(octopus_emulator)[("App.DbPassword", ("Feature",))] == "s3cret", "the echoed read form keeps it"

    cleared = api("GET", world["legacy"]).json()
    cleared["ProjectVariables"][world["project"]]["Variables"][world["environment"]] = {
        world["secret"]: {"HasValue": False}
    }
    api("PUT", world["legacy"], json=cleared)
    assert values(octopus_emulator) == {}, "a key left out is deleted, HasValue false clears"


def test_a_document_write_with_a_stale_token_is_refused(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    first = api("GET", world["legacy"]).json()
    second = api("GET", world["legacy"]).json()
    first["ProjectVariables"][world["project"]]["Variables"][world["environment"]] = {world["url"]: "a"}
    assert api("PUT", world["legacy"], json=first).status_code == 200
    second["ProjectVariables"][world["project"]]["Variables"][world["environment"]] = {world["url"]: "b"}
    stale = api("PUT", world["legacy"], json=second)
    assert stale.status_code == 400 and stale.json()["Errors"] == [STALE_TOKEN_MESSAGE]
    assert values(octopus_emulator) == {("Phoenix.Url", ("Feature",)): "a"}
    del second["ConcurrencyToken"]
    assert api("PUT", world["legacy"], json=second).status_code == 200, "without a token nothing is checked"


def test_a_document_write_names_every_problem(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    staging = octopus_emulator.state.resolve("Spaces-1", "environments", "Staging")["Id"]
    other = octopus_emulator.seed_project("Other")["Id"]
    document = api("GET", world["legacy"]).json()
    document["ProjectVariables"][world["project"]]["Variables"] = {
        world["environment"]: {"no-such-template": "x", world["url"]: {"HasValue": True, "NewValue": "x"}},
        staging: {world["url"]: "x"},
    }
    document["ProjectVariables"][other] = {"Variables": {}}
    refused = api("PUT", world["legacy"], json=document)
    assert refused.status_code == 400 and set(refused.json()) == ERROR_FIELDS
    errors = " | ".join(refused.json()["Errors"])
    for problem in ("'no-such-template' was not found", "'Phoenix.Url' must be text",
                    f"'{staging}' is not connected", f"'{other}' is not connected"):
        assert problem in errors
    assert values(octopus_emulator) == {}


# -- the per-project API --------------------------------------------------------------------------


def test_the_per_project_list_and_what_is_missing(api: Api, world: dict) -> None:
    empty = api("GET", world["v2"], params={"includeMissingVariables": "true"}).json()
    assert empty["TenantId"] == world["tenant"] and empty["Variables"] == []
    missing = {(m["Template"]["Name"], tuple(m["Scope"]["EnvironmentIds"]), str(m["Value"]))
               for m in empty["MissingVariables"]}
    assert missing == {("Phoenix.Url", (world["environment"],), "http://localhost"),
                       ("App.DbPassword", (world["environment"],), "None")}
    assert "MissingVariables" not in api("GET", world["v2"]).json()


def test_a_bare_list_as_the_typescript_client_sends_it(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    written = api("PUT", world["v2"], json=[
        {"TemplateId": world["url"], "Value": "https://ryan0001.example", "Scope": {"EnvironmentIds": []}},
        {"TemplateId": world["secret"], "Value": {"HasValue": True, "NewValue": "s3cret"},
         "Scope": {"EnvironmentIds": [world["environment"]]}},
    ])
    assert written.status_code == 200 and "s3cret" not in written.text
    items = {i["Template"]["Name"]: i for i in written.json()["Variables"]}
    assert items["Phoenix.Url"]["Value"] == "https://ryan0001.example"
    assert items["Phoenix.Url"]["Scope"] == {"EnvironmentIds": []}
    assert items["App.DbPassword"]["Value"] == HIDDEN
    assert all(i["Id"].startswith("TenantVariables-") for i in items.values())
    assert values(octopus_emulator) == {("Phoenix.Url", ()): "https://ryan0001.example",
                                        ("App.DbPassword", ("Feature",)): "s3cret"}
    document = api("GET", world["legacy"]).json()
    assert document["ProjectVariables"][world["project"]]["Variables"][world["environment"]] == {
        world["url"]: "https://ryan0001.example", world["secret"]: HIDDEN,
    }, "the unscoped value shows under each connected environment"


def test_the_object_form_is_the_complete_set(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    first = api("PUT", world["v2"], json={"TenantId": world["tenant"], "Variables": [
        {"ProjectId": world["project"], "TemplateId": world["url"], "Value": "a",
         "Scope": {"EnvironmentIds": [world["environment"]]}},
        {"OwnerId": world["project"], "TemplateId": world["secret"], "Value": {"HasValue": True, "NewValue": "s"},
         "Scope": {"EnvironmentIds": [world["environment"]]}},
    ]}).json()["Variables"]
    by_name = {i["Template"]["Name"]: i for i in first}
    read = api("GET", world["v2"]).json()
    echoed = [{**by_name["App.DbPassword"], "Value": by_name["App.DbPassword"]["Value"]}]
    again = api("PUT", world["v2"], json={"ConcurrencyToken": read["ConcurrencyToken"], "Variables": echoed})
    assert [i["Id"] for i in again.json()["Variables"]] == [by_name["App.DbPassword"]["Id"]], "ids are kept"
    assert values(octopus_emulator) == {("App.DbPassword", ("Feature",)): "s"}, "omitted is deleted, echoed kept"
    stale = api("PUT", world["v2"], json={"ConcurrencyToken": read["ConcurrencyToken"], "Variables": []})
    assert stale.status_code == 400 and stale.json()["Errors"] == [STALE_TOKEN_MESSAGE]


def test_per_project_problems_are_refused(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    staging = octopus_emulator.state.resolve("Spaces-1", "environments", "Staging")["Id"]
    for items, problem in (
        ([{"TemplateId": "nope", "Value": "x"}], "'nope' was not found"),
        ([{"TemplateId": world["url"], "Value": "x", "Scope": {"EnvironmentIds": [staging]}}], "is not connected"),
        ([{"TemplateId": world["url"], "ProjectId": "Projects-9", "Value": "x"}], "not 'Projects-9'"),
        ([{"TemplateId": world["url"], "Value": "x"}, {"TemplateId": world["url"], "Value": "y"}], "more than one"),
        ([{"TemplateId": world["secret"], "Value": {"NewValue": "x"}}], "must be text or"),
        ("not a list", "must be a list"),
    ):
        refused = api("PUT", world["v2"], json=items)
        assert refused.status_code == 400, items
        assert problem in " ".join(refused.json()["Errors"]), refused.json()
    assert values(octopus_emulator) == {}


def test_common_variables_are_empty_without_library_sets(api: Api, world: dict) -> None:
    path = f"/api/Spaces-1/tenants/{world['tenant']}/commonvariables"
    assert api("GET", path, params={"includeMissingVariables": "true"}).json()["MissingVariables"] == []
    assert api("PUT", path, json=[]).status_code == 200
    assert api("PUT", path, json=[{"TemplateId": "x", "Value": "y"}]).status_code == 400


# -- which API a server has -------------------------------------------------------------------------


def test_the_toggle_says_which_api_there_is(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    toggles = api("GET", "/api/configuration/feature-toggles").json()["FeatureToggles"]
    assert {"Name": PROJECT_VARIABLES_TOGGLE, "IsEnabled": True} in toggles
    assert api("GET", "/api/configuration/feature-toggles", params={"Name": "Other"}).json() == {"FeatureToggles": []}

    octopus_emulator.project_variables = False
    toggles = api("GET", "/api/configuration/feature-toggles").json()["FeatureToggles"]
    assert {"Name": PROJECT_VARIABLES_TOGGLE, "IsEnabled": False} in toggles
    assert api("GET", world["v2"]).status_code == 404
    assert api("PUT", world["v2"], json=[]).status_code == 404
    assert api("GET", world["legacy"]).status_code == 200

    octopus_emulator.feature_toggles = None  # a server from before the toggles endpoint
    assert api("GET", "/api/configuration/feature-toggles").status_code == 404
    assert api("GET", world["legacy"]).status_code == 200


# -- values follow what they hang on --------------------------------------------------------------


def test_values_go_with_their_project_environment_template_and_tenant(
    api: Api, world: dict, octopus_emulator: OctopusEmulator
) -> None:
    def fill() -> None:
        api("PUT", world["v2"], json=[{"TemplateId": world["url"], "Value": "a",
                                        "Scope": {"EnvironmentIds": [world["environment"]]}}])
        assert values(octopus_emulator)

    tenant_path = f"/api/Spaces-1/tenants/{world['tenant']}"
    fill()
    tenant = api("GET", tenant_path).json()
    staging = octopus_emulator.state.resolve("Spaces-1", "environments", "Staging")["Id"]
    tenant["ProjectEnvironments"] = {world["project"]: [staging]}
    api("PUT", tenant_path, json=tenant)
    assert values(octopus_emulator) == {}, "the environment was disconnected"

    tenant["ProjectEnvironments"] = {world["project"]: [world["environment"]]}
    api("PUT", tenant_path, json=tenant)
    fill()
    project = api("GET", f"/api/Spaces-1/projects/{world['project']}").json()
    project["Templates"] = [t for t in project["Templates"] if t["Id"] != world["url"]]
    api("PUT", f"/api/Spaces-1/projects/{world['project']}", json=project)
    assert values(octopus_emulator) == {}, "the template was removed"

    secret = world["secret"]
    api("PUT", world["v2"], json=[{"TemplateId": secret, "Value": "s", "Scope": {"EnvironmentIds": []}}])
    assert values(octopus_emulator)
    api("DELETE", tenant_path)
    assert octopus_emulator.state.tenant_values == {}


def test_every_tenants_document_for_a_project(api: Api, world: dict, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_tenant("ryan0002", ["Phoenix Web"], ["Feature"])
    octopus_emulator.seed_tenant("unconnected")
    everything = api("GET", "/api/Spaces-1/tenantvariables/all").json()
    assert [d["TenantName"] for d in everything] == ["ryan0001", "ryan0002", "unconnected"]
    for_project = api("GET", "/api/Spaces-1/tenantvariables/all", params={"projectId": world["project"]}).json()
    assert [d["TenantName"] for d in for_project] == ["ryan0001", "ryan0002"]
