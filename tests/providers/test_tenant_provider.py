"""TenantProvider called directly, over HTTP, against the emulated Octopus."""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

from components.octopus.errors import OctopusNotFound, OctopusUnavailable
from components.octopus.tenant import TenantNameTaken, TenantProvider, deregister_machines
from tests.providers.conftest import ENVIRONMENT, OTHER_ENVIRONMENT, PROJECT, World


def news(**changes):
    props = {
        "tenant_name": "ryan0001",
        "projects": [PROJECT],
        "environments": [ENVIRONMENT],
        "description": "Feature environment for branch ryan",
        "tenant_tags": [],
    }
    props.update(changes)
    return props


def checked(provider: TenantProvider, props: dict, olds: dict | None = None) -> dict:
    result = provider.check(olds or {}, props)
    assert [f.reason for f in result.failures] == []
    return result.inputs


def created(world: World, **changes) -> tuple[TenantProvider, dict, str, dict]:
    provider = world.make(TenantProvider)
    inputs = checked(provider, news(**changes))
    result = provider.create(inputs)
    return provider, inputs, result.id, result.outs


def test_check_normalises_and_fills_defaults(world: World) -> None:
    provider = world.make(TenantProvider)
    inputs = checked(
        provider,
        {
            "tenant_name": "  ryan0001 ",
            "projects": [PROJECT, f" {PROJECT}"],
            "environments": [OTHER_ENVIRONMENT, ENVIRONMENT],
        },
    )
    assert inputs == {
        "tenant_name": "ryan0001",
        "description": "",
        "tenant_tags": [],
        "projects": [PROJECT],
        "environments": [ENVIRONMENT, OTHER_ENVIRONMENT],
        "space": "Default",
        "adopt_existing": False,
    }


def test_check_reports_one_failure_per_bad_field(world: World) -> None:
    provider = world.make(TenantProvider)
    result = provider.check(
        {},
        {
            "tenant_name": "ryan/0001",
            "projects": "Phoenix Web",
            "environments": [],
            "tenant_tags": ["NoSlash"],
            "adopt_existing": "yes",
            "colour": "blue",
        },
    )
    by_field = {f.property: f.reason for f in result.failures}
    assert sorted(by_field) == [
        "adopt_existing", "colour", "environments", "projects", "tenant_name", "tenant_tags",
    ]
    assert len(result.failures) == 6
    assert "ryan/0001" in by_field["tenant_name"]
    assert "NoSlash" in by_field["tenant_tags"]
    assert world.emulator.tenants() == []


@pytest.mark.parametrize("name", ["", "   ", "bad\tname", "-leading", "a" * 201])
def test_check_rejects_names_octopus_cannot_hold(world: World, name: str) -> None:
    result = world.make(TenantProvider).check({}, news(tenant_name=name))
    assert [f.property for f in result.failures] == ["tenant_name"]


def test_check_names_projects_and_environments_octopus_does_not_know(world: World) -> None:
    result = world.make(TenantProvider).check(
        {}, news(projects=["Nope"], environments=[ENVIRONMENT, "Gone"])
    )
    reasons = {f.property: f.reason for f in result.failures}
    assert set(reasons) == {"projects", "environments"}
    assert "'Nope'" in reasons["projects"] and "'Gone'" in reasons["environments"]
    assert "no project named" in reasons["projects"] and "no environment named" in reasons["environments"], (
        "each says what kind of thing is missing"
    )


def test_check_lets_unknown_values_through_during_preview(world: World) -> None:
    result = world.make(TenantProvider).check({}, news(tenant_name=Unknown(), projects=[Unknown()]))
    assert result.failures == []
    assert isinstance(result.inputs["tenant_name"], Unknown)


def test_create_connects_the_tenant_and_returns_resolved_ids(world: World) -> None:
    _, inputs, tenant_id, outs = created(world, tenant_tags=[], environments=[ENVIRONMENT])
    [tenant] = world.emulator.tenants()
    project_id = world.project()["Id"]
    assert tenant["Id"] == tenant_id == outs["tenant_id"]
    assert tenant["Name"] == "ryan0001"
    assert tenant["Description"] == "Feature environment for branch ryan"
    assert list(tenant["ProjectEnvironments"]) == [project_id]
    assert outs["project_ids"] == [project_id]
    assert tenant["ProjectEnvironments"][project_id] == outs["environment_ids"]
    assert outs["space_id"] == "Spaces-1"
    assert outs["adopted"] is False
    assert {k: outs[k] for k in inputs} == inputs, "outputs carry the checked inputs"


def test_read_after_create_matches_and_shows_no_diff(world: World) -> None:
    provider, inputs, tenant_id, outs = created(world)
    read = provider.read(tenant_id, outs)
    assert read.id == tenant_id
    assert read.outs == outs
    assert read.inputs == inputs
    assert provider.diff(tenant_id, read.outs, inputs).changes is False


def test_diff_names_changes_and_only_space_replaces(world: World) -> None:
    provider, inputs, tenant_id, outs = created(world)
    renamed = provider.diff(tenant_id, outs, {**inputs, "tenant_name": "ryan0002"})
    assert (renamed.changes, renamed.replaces) == (True, [])
    retagged = provider.diff(tenant_id, outs, {**inputs, "environments": [ENVIRONMENT, OTHER_ENVIRONMENT]})
    assert (retagged.changes, retagged.replaces) == (True, [])
    moved = provider.diff(tenant_id, outs, {**inputs, "space": "Other"})
    assert (moved.changes, moved.replaces, moved.delete_before_replace) == (True, ["space"], True)
    unknown = provider.diff(tenant_id, outs, {**inputs, "tenant_name": Unknown()})
    assert unknown.changes is True
    assert provider.diff(tenant_id, outs, {**inputs, "adopt_existing": True}).changes is False


def test_update_renames_in_place_and_reconnects(world: World) -> None:
    provider, inputs, tenant_id, outs = created(world)
    new = checked(provider, news(tenant_name="ryan0002", environments=[ENVIRONMENT, OTHER_ENVIRONMENT]))
    result = provider.update(tenant_id, outs, new)
    [tenant] = world.emulator.tenants()
    assert tenant["Id"] == tenant_id, "a rename keeps the tenant"
    assert tenant["Name"] == result.outs["tenant_name"] == "ryan0002"
    assert sorted(tenant["ProjectEnvironments"][world.project()["Id"]]) == sorted(
        result.outs["environment_ids"]
    )
    assert len(result.outs["environment_ids"]) == 2


def test_update_keeps_connections_to_projects_it_does_not_manage(world: World) -> None:
    other = world.emulator.seed_project("Other App")
    provider, inputs, tenant_id, outs = created(world)
    env_id = outs["environment_ids"][0]
    with provider.client() as client:  # another tool connects the tenant to a second project
        tenant = client.get_tenant(tenant_id)
        tenant["ProjectEnvironments"][other["Id"]] = [env_id]
        client.modify_tenant(tenant)
    provider.update(tenant_id, outs, checked(provider, news(description="changed")))
    [tenant] = world.emulator.tenants()
    assert tenant["Description"] == "changed"
    assert tenant["ProjectEnvironments"][other["Id"]] == [env_id]


def test_read_reports_a_tenant_deleted_behind_pulumis_back_as_gone(world: World) -> None:
    provider, _, tenant_id, outs = created(world)
    with provider.client() as client:
        client.delete_tenant(tenant_id)
    read = provider.read(tenant_id, outs)
    assert read.id == ""


def test_read_returns_drift_as_inputs_so_the_next_diff_repairs_it(world: World) -> None:
    provider, inputs, tenant_id, outs = created(world)
    with provider.client() as client:
        tenant = client.get_tenant(tenant_id)
        tenant["Name"] = "renamed-by-hand"
        tenant["ProjectEnvironments"] = {}
        client.modify_tenant(tenant)
    read = provider.read(tenant_id, outs)
    assert read.inputs["tenant_name"] == "renamed-by-hand"
    assert read.inputs["projects"] == [] and read.outs["project_ids"] == []
    assert read.inputs["environments"] == [] and read.outs["environment_ids"] == [], "no project, no environment"
    diff = provider.diff(tenant_id, read.outs, inputs)
    assert (diff.changes, diff.replaces) == (True, [])
    provider.update(tenant_id, read.outs, inputs)
    [tenant] = world.emulator.tenants()
    assert tenant["Name"] == "ryan0001"
    assert list(tenant["ProjectEnvironments"]) == [world.project()["Id"]]


def test_read_shows_a_description_tags_and_an_environment_changed_in_octopus(world: World) -> None:
    provider, inputs, tenant_id, outs = created(
        world, environments=[ENVIRONMENT, OTHER_ENVIRONMENT], tenant_tags=["Team/Web"]
    )
    staging_id = outs["environment_ids"][inputs["environments"].index(OTHER_ENVIRONMENT)]
    with provider.client() as client:
        tenant = client.get_tenant(tenant_id)
        tenant["Description"] = ""
        tenant["TenantTags"] = ["Team/Api", "Feature/Branch"]
        tenant["ProjectEnvironments"][world.project()["Id"]].remove(staging_id)
        client.modify_tenant(tenant)
    read = provider.read(tenant_id, outs)
    assert read.inputs["description"] == ""
    assert read.inputs["tenant_tags"] == ["Feature/Branch", "Team/Api"]
    assert read.inputs["environments"] == [ENVIRONMENT]
    assert read.inputs["tenant_name"] == "ryan0001"
    assert provider.diff(tenant_id, read.outs, inputs).changes is True


def test_existing_tenant_is_refused_without_adopt_and_left_untouched(world: World) -> None:
    world.emulator.seed_tenant("ryan0001")
    before = world.emulator.tenants()
    provider = world.make(TenantProvider)
    with pytest.raises(TenantNameTaken) as raised:
        provider.create(checked(provider, news()))
    assert "'ryan0001'" in str(raised.value) and before[0]["Id"] in str(raised.value)
    assert "'Default'" in str(raised.value), "the message names the space the tenant is in"
    assert "phoenix:octopus.adoptExistingTenant" in str(raised.value), "the advice names the setting to change"
    assert world.emulator.tenants() == before


def test_existing_tenant_is_adopted_when_asked(world: World) -> None:
    seeded = world.emulator.seed_tenant("ryan0001")
    _, _, tenant_id, outs = created(world, adopt_existing=True)
    [tenant] = world.emulator.tenants()
    assert tenant_id == tenant["Id"] == seeded["Id"]
    assert outs["adopted"] is True
    assert list(tenant["ProjectEnvironments"]) == [world.project()["Id"]]
    provider = world.make(TenantProvider)
    assert provider.read(tenant_id, outs).outs["adopted"] is True, "a refresh still knows it was adopted"


def test_create_with_a_missing_project_creates_nothing(world: World) -> None:
    provider = world.make(TenantProvider)
    props = {**checked(provider, news()), "projects": ["Deleted Meanwhile"]}
    with pytest.raises(OctopusNotFound, match="Deleted Meanwhile"):
        provider.create(props)
    assert world.emulator.tenants() == []


def test_a_503_during_create_is_retried_to_one_tenant(world: World) -> None:
    world.emulator.fail_next("POST", r"/tenants$", status=503, count=1)
    _, _, tenant_id, _ = created(world)
    assert [t["Id"] for t in world.emulator.tenants()] == [tenant_id]
    posts = [r for r in world.emulator.request_log if r[0] == "POST" and r[1].endswith("/tenants")]
    assert [r[2] for r in posts] == [503, 201]


def test_a_dropped_create_answer_is_found_not_duplicated(world: World) -> None:
    world.emulator.fail_next("POST", r"/tenants$", drop=True, processed=True)
    _, _, tenant_id, _ = created(world)
    assert [t["Id"] for t in world.emulator.tenants()] == [tenant_id]


def test_persistent_503_fails_the_create_and_leaves_no_tenant(world: World) -> None:
    world.emulator.fail_next("POST", r"/tenants$", status=503, count=100)
    provider = world.make(TenantProvider)
    inputs = checked(provider, news())
    with pytest.raises(OctopusUnavailable) as raised:
        provider.create(inputs)
    assert world.emulator.api_key not in str(raised.value) + repr(raised.value)
    assert world.emulator.tenants() == []


def machines_beside_another_tenant(emulator) -> list[dict]:
    """ryan0001's own two machines, one shared with other0001 and one of other0001's; the tenant's own.

    Octopus lists machines by name, so the shared one comes first: skipping it must not end the walk.
    """
    emulator.seed_tenant("other0001", projects={PROJECT: [ENVIRONMENT]})
    emulator.register_machine(
        "green-shared-1", environments=[ENVIRONMENT], roles=["web"], tenants=["ryan0001", "other0001"]
    )
    own = [emulator.register_machine("ryan0001-i-1", environments=[ENVIRONMENT], roles=["web"], tenants=["ryan0001"])]
    emulator.register_machine("other-1", environments=[ENVIRONMENT], roles=["web"], tenants=["other0001"])
    own.append(emulator.register_machine("ryan0001-i-2", environments=[ENVIRONMENT], roles=["web"], tenants=["ryan0001"]))
    return own


def test_delete_deregisters_only_the_tenants_own_machines(world: World) -> None:
    emulator = world.emulator
    provider, _, tenant_id, _ = created(world)
    machines_beside_another_tenant(emulator)
    provider.delete(tenant_id, {"space": "Default"})
    assert sorted(m["Name"] for m in emulator.machines()) == ["green-shared-1", "other-1"]
    assert [t["Name"] for t in emulator.tenants()] == ["other0001"]


def test_delete_removes_overrides_still_naming_the_tenant_and_no_other(world: World) -> None:
    provider, _, tenant_id, outs = created(world, environments=[ENVIRONMENT, OTHER_ENVIRONMENT])
    other = world.emulator.seed_tenant("other0001", projects={PROJECT: [ENVIRONMENT, OTHER_ENVIRONMENT]})
    project_id = outs["project_ids"][0]
    with provider.client() as client:
        env_id, other_env_id = (client.find_environment(name)["Id"] for name in (ENVIRONMENT, OTHER_ENVIRONMENT))
        release_id = client.find_release(project_id, "1.0.0-ryan0001")["Id"]
        # Ours in one environment, the other tenant's in another and listed first: whoever
        # picks entries by the wrong tenant would remove nothing of ours, or theirs.
        client.set_auto_deploy_override(project_id, other_env_id, other["Id"], release_id)
        client.set_auto_deploy_override(project_id, env_id, tenant_id, release_id)
        client.set_auto_deploy_override(project_id, other_env_id, tenant_id, release_id)
    provider.delete(tenant_id, outs)
    assert [(o["TenantId"], o["EnvironmentId"]) for o in world.overrides()] == [(other["Id"], other_env_id)]


def test_delete_of_a_tenant_already_gone_succeeds(world: World) -> None:
    provider, _, tenant_id, outs = created(world)
    provider.delete(tenant_id, outs)
    provider.delete(tenant_id, outs)
    assert world.emulator.tenants() == []


def test_a_tenant_in_another_space_is_read_updated_and_deleted_there(world: World) -> None:
    emulator = world.emulator
    emulator.seed_space("Features")
    emulator.seed_project(PROJECT, space="Features")
    emulator.seed_environment(ENVIRONMENT, space="Features")
    provider, inputs, tenant_id, outs = created(world, space="Features")
    assert outs["space_id"] != "Spaces-1" and inputs["space"] == "Features"
    assert [t["Id"] for t in emulator.tenants(space="Features")] == [tenant_id]
    assert provider.read(tenant_id, outs).id == tenant_id
    result = provider.update(tenant_id, outs, {**inputs, "description": "moved on"})
    [tenant] = emulator.tenants(space="Features")
    assert tenant["Id"] == tenant_id and tenant["Description"] == "moved on"
    assert emulator.tenants() == [], "nothing written to the default space"
    assert result.outs["space_id"] == outs["space_id"], "the state keeps the tenant's space"
    provider.delete(tenant_id, outs)
    assert emulator.tenants(space="Features") == []


def test_a_new_tenant_is_created_enabled(world: World) -> None:
    _, _, tenant_id, _ = created(world)
    [tenant] = world.emulator.tenants()
    assert tenant["Id"] == tenant_id and tenant["IsDisabled"] is False, "a disabled tenant gets no deployments"


def test_tenant_tags_reach_octopus_on_create_and_update_and_read_back(world: World) -> None:
    provider, inputs, tenant_id, outs = created(world, tenant_tags=["Team/Web", "Feature/Branch"])
    [tenant] = world.emulator.tenants()
    assert sorted(tenant["TenantTags"]) == ["Feature/Branch", "Team/Web"]
    read = provider.read(tenant_id, outs)
    assert read.inputs["tenant_tags"] == ["Feature/Branch", "Team/Web"]
    assert provider.diff(tenant_id, read.outs, inputs).changes is False
    provider.update(tenant_id, outs, checked(provider, news(tenant_tags=["Team/Web"])))
    [tenant] = world.emulator.tenants()
    assert tenant["TenantTags"] == ["Team/Web"]


def test_update_that_drops_a_project_disconnects_the_tenant_from_it(world: World) -> None:
    other = world.emulator.seed_project("Other App")
    provider, _, tenant_id, outs = created(world, projects=[PROJECT, "Other App"])
    assert sorted(outs["project_ids"]) == sorted([world.project()["Id"], other["Id"]])
    result = provider.update(tenant_id, outs, checked(provider, news(projects=[PROJECT])))
    [tenant] = world.emulator.tenants()
    assert list(tenant["ProjectEnvironments"]) == [world.project()["Id"]] == result.outs["project_ids"]


@pytest.mark.parametrize("adopt", [True, False], ids=["adopted", "created"])
def test_an_update_keeps_whether_the_tenant_was_adopted(world: World, adopt: bool) -> None:
    """The state records whether the tenant was taken over rather than made; an update must not forget it."""
    if adopt:
        world.emulator.seed_tenant("ryan0001")
    provider, inputs, tenant_id, outs = created(world, adopt_existing=adopt)
    result = provider.update(tenant_id, outs, {**inputs, "description": "changed"})
    assert result.outs["adopted"] is adopt


def test_putting_a_feature_to_sleep_removes_its_own_machines_and_says_which(world: World) -> None:
    """`sleep` reports the deployment targets it deleted: the tenant's own, never a shared one."""
    emulator = world.emulator
    _, _, tenant_id, _ = created(world)
    own = machines_beside_another_tenant(emulator)
    with world.make(TenantProvider).client() as client:
        removed = deregister_machines(client, tenant_id)
    assert sorted(removed) == sorted(machine["Id"] for machine in own)
    assert sorted(m["Name"] for m in emulator.machines()) == ["green-shared-1", "other-1"]
    assert [t["Name"] for t in emulator.tenants()] == ["other0001", "ryan0001"], "the tenants stay"


def test_a_tenant_without_a_description_gets_none_in_octopus(world: World) -> None:
    _, _, tenant_id, _ = created(world, description="")
    [tenant] = world.emulator.tenants()
    assert tenant["Id"] == tenant_id and tenant["Description"] == ""


def test_adopting_a_tenant_keeps_its_connections_to_other_projects(world: World) -> None:
    other = world.emulator.seed_project("Other App")
    seeded = world.emulator.seed_tenant("ryan0001", projects={"Other App": [ENVIRONMENT]})
    _, _, tenant_id, outs = created(world, adopt_existing=True)
    [tenant] = world.emulator.tenants()
    assert tenant_id == seeded["Id"]
    assert sorted(tenant["ProjectEnvironments"]) == sorted([world.project()["Id"], other["Id"]])
    assert tenant["ProjectEnvironments"][other["Id"]] == seeded["ProjectEnvironments"][other["Id"]]
    assert outs["project_ids"] == [world.project()["Id"]], "the stack manages only its own projects"


def test_delete_removes_the_overrides_in_every_project_though_one_project_went_meanwhile(world: World) -> None:
    """A project deleted between reading the tenant and reading the project: the others are still cleaned."""
    world.emulator.seed_project("Other App")
    world.emulator.seed_release("Other App", "1.0.0-ryan0001")
    provider, _, tenant_id, outs = created(world, projects=[PROJECT, "Other App"])
    first, second = sorted(outs["project_ids"])
    with provider.client() as client:
        env_id = client.find_environment(ENVIRONMENT)["Id"]
        for project_id in (first, second):
            release = client.releases(project_id)[0]["Id"]
            client.set_auto_deploy_override(project_id, env_id, tenant_id, release)
    world.emulator.fail_next("GET", rf"/projects/{first}$", status=404)
    provider.delete(tenant_id, outs)
    assert world.emulator.tenants() == []
    assert world.emulator.project("Other App").get("AutoDeployReleaseOverrides") in (None, []), (
        "the override in the project read after the missing one is gone too"
    )


def test_check_finds_projects_and_environments_in_the_tenants_own_space(world: World) -> None:
    emulator = world.emulator
    emulator.seed_space("Features")
    emulator.seed_project("Features App", space="Features")
    emulator.seed_environment("Preview", space="Features")
    result = world.make(TenantProvider).check({}, news(projects=["Features App"], environments=["Preview"],
                                                       space="Features"))
    assert [f.reason for f in result.failures] == [], "names known only in that space pass"
