"""TenantVariablesProvider called directly, over HTTP, against the emulated Octopus, on both APIs."""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

from components.octopus.client import OctopusClient
from components.octopus.tenant_variables import TemplateMissing, TenantVariablesProvider
from tests.providers.conftest import ENVIRONMENT, OTHER_ENVIRONMENT, PROJECT, World

SECRET = "s3cret-db-password"
URL = "https://ryan0001.features.example"


@pytest.fixture(params=["projectvariables", "document"])
def api(request, world: World) -> str:
    """Every test runs against a 2025.2 server and one from before the per-project API."""
    world.emulator.project_variables = request.param == "projectvariables"
    return request.param


@pytest.fixture
def tenant(world: World, api: str) -> dict:
    emulator = world.emulator
    emulator.seed_project_template(PROJECT, "Phoenix.Url")
    emulator.seed_project_template(PROJECT, "Phoenix.Feature")
    emulator.seed_project_template(PROJECT, "App.DbPassword", sensitive=True)
    emulator.seed_project_template(PROJECT, "Team.Owner")
    return emulator.seed_tenant("ryan0001", projects={PROJECT: [ENVIRONMENT, OTHER_ENVIRONMENT]})


def news(tenant_id, **changes) -> dict:
    return {
        "tenant_id": tenant_id,
        "project": PROJECT,
        "environment": ENVIRONMENT,
        "values": {"Phoenix.Url": URL, "Phoenix.Feature": "ryan0001"},
        "sensitive": {"App.DbPassword": SECRET},
        **changes,
    }


def checked(provider: TenantVariablesProvider, props: dict) -> dict:
    result = provider.check({}, props)
    assert [f.reason for f in result.failures] == []
    return result.inputs


def stored(world: World) -> dict:
    return {(v["Template"], tuple(v["Environments"])): v["Value"] for v in world.emulator.tenant_values("ryan0001")}


def created(world: World, tenant: dict, **changes):
    provider = world.make(TenantVariablesProvider)
    inputs = checked(provider, news(tenant["Id"], **changes))
    result = provider.create(inputs)
    return provider, inputs, result.id, result.outs


def test_create_sets_each_value_in_the_feature_environment(world: World, tenant: dict) -> None:
    _, inputs, id_, outs = created(world, tenant)
    assert stored(world) == {
        ("Phoenix.Url", (ENVIRONMENT,)): URL,
        ("Phoenix.Feature", (ENVIRONMENT,)): "ryan0001",
        ("App.DbPassword", (ENVIRONMENT,)): SECRET,
    }
    project = world.project()
    environment_id = outs["environment_id"]
    assert id_ == f"Spaces-1/{tenant['Id']}/{project['Id']}/{environment_id}"
    assert set(outs["template_ids"]) == {"Phoenix.Url", "Phoenix.Feature", "App.DbPassword"}
    assert inputs["space"] == "Default"


def test_the_sensitive_value_is_sent_as_sensitive_and_never_read_back(world: World, tenant: dict) -> None:
    created(world, tenant)
    with OctopusClient(world.emulator.url, world.emulator.api_key) as client:
        project_id = world.project()["Id"]
        environment_id = client.find_environment(ENVIRONMENT)["Id"]
        live = client.tenant_variable_values(tenant["Id"], project_id, environment_id)
    assert SECRET not in repr(live)
    assert {"HasValue": True, "NewValue": None, "Hint": None} in live.values()


def test_read_without_change_gives_back_the_inputs(world: World, tenant: dict) -> None:
    provider, inputs, id_, outs = created(world, tenant)
    assert not provider.diff(id_, outs, inputs).changes
    read = provider.read(id_, outs)
    assert read.id == id_ and read.inputs == {**inputs, "space": "Default"}
    assert not provider.diff(id_, read.outs, inputs).changes


def test_a_value_changed_in_octopus_is_drift(world: World, tenant: dict, api: str) -> None:
    provider, inputs, id_, outs = created(world, tenant)
    by_hand = {outs["template_ids"]["Phoenix.Url"]: "http://changed-by-hand"}
    with OctopusClient(world.emulator.url, world.emulator.api_key) as client:
        client.set_tenant_variable_values(tenant["Id"], outs["project_id"], outs["environment_id"], by_hand)
    drift = provider.diff(id_, outs, inputs)
    assert drift.changes and not drift.replaces, "a preview without refresh shows it"
    read = provider.read(id_, outs)
    assert read.inputs["values"]["Phoenix.Url"] == "http://changed-by-hand"
    assert read.inputs["sensitive"] == {"App.DbPassword": SECRET}, "still set: Octopus cannot say more"
    diff = provider.diff(id_, read.outs, inputs)
    assert diff.changes and not diff.replaces
    provider.update(id_, read.outs, inputs)
    assert stored(world)[("Phoenix.Url", (ENVIRONMENT,))] == URL


def test_a_sensitive_value_cleared_in_octopus_is_drift(world: World, tenant: dict) -> None:
    provider, inputs, id_, outs = created(world, tenant)
    cleared = {outs["template_ids"]["App.DbPassword"]: None}
    with OctopusClient(world.emulator.url, world.emulator.api_key) as client:
        client.set_tenant_variable_values(tenant["Id"], outs["project_id"], outs["environment_id"], cleared)
    assert ("App.DbPassword", (ENVIRONMENT,)) not in stored(world)
    assert provider.diff(id_, outs, inputs).changes
    read = provider.read(id_, outs)
    assert read.inputs["sensitive"] == {}
    assert provider.diff(id_, read.outs, inputs).changes
    provider.update(id_, read.outs, inputs)
    assert stored(world)[("App.DbPassword", (ENVIRONMENT,))] == SECRET


def test_update_changes_adds_and_removes_only_its_own_values(world: World, tenant: dict) -> None:
    provider, inputs, id_, outs = created(world, tenant)
    with OctopusClient(world.emulator.url, world.emulator.api_key) as client:  # someone else's value
        owner = world.project()["Templates"][3]
        client.set_tenant_variable_values(tenant["Id"], outs["project_id"], outs["environment_id"],
                                          {owner["Id"]: "team-web"})
    changed = checked(provider, news(tenant["Id"], values={"Phoenix.Url": URL + "/v2"},
                                     sensitive={"App.DbPassword": "rotated"}))
    assert provider.diff(id_, outs, changed).changes
    outs = provider.update(id_, outs, changed).outs
    assert stored(world) == {
        ("Phoenix.Url", (ENVIRONMENT,)): URL + "/v2",
        ("App.DbPassword", (ENVIRONMENT,)): "rotated",
        ("Team.Owner", (ENVIRONMENT,)): "team-web",
    }
    assert set(outs["template_ids"]) == {"Phoenix.Url", "App.DbPassword"}


def test_delete_removes_its_values_and_keeps_the_rest(world: World, tenant: dict) -> None:
    provider, inputs, id_, outs = created(world, tenant)
    with OctopusClient(world.emulator.url, world.emulator.api_key) as client:
        staging = client.find_environment(OTHER_ENVIRONMENT)["Id"]
        client.set_tenant_variable_values(tenant["Id"], outs["project_id"], staging,
                                          {outs["template_ids"]["Phoenix.Url"]: "staging-url"})
    provider.delete(id_, outs)
    assert stored(world) == {("Phoenix.Url", (OTHER_ENVIRONMENT,)): "staging-url"}
    provider.delete(id_, outs)  # again: nothing left is fine


def test_delete_after_the_tenant_is_gone_is_fine_and_read_reports_it_gone(world: World, tenant: dict) -> None:
    provider, inputs, id_, outs = created(world, tenant)
    world.emulator.state.delete("Spaces-1", "tenants", tenant["Id"])
    assert provider.read(id_, outs).id == ""
    provider.delete(id_, outs)


def test_check_names_each_missing_template_with_the_fix(world: World, tenant: dict) -> None:
    provider = world.make(TenantVariablesProvider)
    result = provider.check({}, news(tenant["Id"], values={"Phoenix.Url": URL, "Phoenix.Region": "eu"},
                                     sensitive={"App.ApiToken": SECRET}))
    reasons = {f.property: f.reason for f in result.failures}
    assert "add a project variable template named 'Phoenix.Region' to project 'Phoenix Web'" in reasons["values"]
    assert "add a project variable template named 'App.ApiToken'" in reasons["sensitive"]
    assert "control type Sensitive" in reasons["sensitive"]
    assert SECRET not in repr(result.failures)


def test_check_refuses_a_secret_for_a_plain_template_and_plain_text_for_a_sensitive_one(
    world: World, tenant: dict
) -> None:
    provider = world.make(TenantVariablesProvider)
    result = provider.check({}, news(tenant["Id"], values={"App.DbPassword": "plain"},
                                     sensitive={"Phoenix.Url": SECRET}))
    reasons = {f.property: f.reason for f in result.failures}
    assert "is Sensitive: give its value through an environment variable" in reasons["values"]
    assert "is not Sensitive, so Octopus would show the secret in plain text" in reasons["sensitive"]
    assert SECRET not in repr(result.failures)


def test_check_refuses_bad_shapes_without_echoing_values(world: World, tenant: dict) -> None:
    provider = world.make(TenantVariablesProvider)
    result = provider.check({}, news(tenant["Id"], values={" Phoenix.Url": URL, "Phoenix.Feature": 7},
                                     sensitive={"Phoenix.Feature": SECRET}, extra=1))
    reasons = [f"{f.property}: {f.reason}" for f in result.failures]
    assert any("leading or trailing spaces" in r for r in reasons)
    assert any("'Phoenix.Feature' must be text, got int" in r for r in reasons)
    assert any("unknown property 'extra'" in r for r in reasons)
    assert SECRET not in repr(result.failures)


def test_check_with_unknown_values_still_judges_template_names(world: World, tenant: dict) -> None:
    provider = world.make(TenantVariablesProvider)
    result = provider.check({}, news(Unknown(), values={"Phoenix.Url": Unknown(), "Phoenix.Region": Unknown()}))
    assert [f.property for f in result.failures] == ["values"]
    assert "Phoenix.Region" in result.failures[0].reason


def test_a_template_removed_between_check_and_create_fails_create_without_the_secret(
    world: World, tenant: dict
) -> None:
    provider = world.make(TenantVariablesProvider)
    inputs = checked(provider, news(tenant["Id"]))
    project = world.project()
    project["Templates"] = [t for t in project["Templates"] if t["Name"] != "App.DbPassword"]
    world.emulator.state.modify("Spaces-1", "projects", project["Id"], project)
    with pytest.raises(TemplateMissing) as missing:
        provider.create(inputs)
    assert "add a project variable template named 'App.DbPassword'" in str(missing.value)
    assert SECRET not in str(missing.value)
    assert stored(world) == {}


def test_a_write_refused_for_a_stale_token_is_rebuilt_from_a_fresh_read(
    world: World, tenant: dict, api: str
) -> None:
    """Another writer changes the tenant's variables between our read and our write."""
    emulator = world.emulator
    owner = world.project()["Templates"][3]["Id"]
    environment = emulator.state.resolve("Spaces-1", "environments", ENVIRONMENT)["Id"]

    def another_writer() -> None:  # straight into the server: a writer in another process
        emulator.state.set_project_variables("Spaces-1", tenant["Id"], [
            {"TemplateId": owner, "Value": "theirs", "Scope": {"EnvironmentIds": [environment]}}
        ])

    route = "projectvariables" if api == "projectvariables" else "variables"
    emulator.after_next("GET", rf"/tenants/{tenant['Id']}/{route}$", another_writer)
    emulator.clear_log()
    created(world, tenant)
    assert stored(world)[("Team.Owner", (ENVIRONMENT,))] == "theirs"
    assert stored(world)[("Phoenix.Url", (ENVIRONMENT,))] == URL
    refused = [r for r in emulator.request_log if r.method == "PUT" and r.status == 400]
    assert len(refused) == 1


def test_the_api_follows_what_the_server_advertises(world: World, tenant: dict, api: str) -> None:
    world.emulator.clear_log()
    created(world, tenant)
    paths = {r.path for r in world.emulator.request_log if r.method == "PUT"}
    expected = "projectvariables" if api == "projectvariables" else "variables"
    assert paths == {f"/api/Spaces-1/tenants/{tenant['Id']}/{expected}"}
    assert world.emulator.count("GET", r"^/api/configuration/feature-toggles$") == 1
