"""AutoDeployOverrideProvider called directly, over HTTP, against the emulated Octopus."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest
from pulumi.output import Unknown

from components.octopus.client import OVERRIDE_WRITE_ROUNDS
from components.octopus.errors import OctopusUnavailable
from components.octopus.override import (
    AutoDeployOverrideProvider,
    ReleaseNotFound,
    TenantNotConnected,
)
from tests.providers.conftest import (
    ENVIRONMENT,
    NEXT_VERSION,
    OTHER_ENVIRONMENT,
    PROJECT,
    VERSION,
    World,
)


def tenant(world: World, name: str = "ryan0001", environments=(ENVIRONMENT,)) -> dict:
    return world.emulator.seed_tenant(name, projects={PROJECT: list(environments)})


def news(tenant_id: str, **changes) -> dict:
    return {
        "project": PROJECT,
        "environment": ENVIRONMENT,
        "tenant_id": tenant_id,
        "release_version": VERSION,
        **changes,
    }


def checked(provider: AutoDeployOverrideProvider, props: dict) -> dict:
    result = provider.check({}, props)
    assert [f.reason for f in result.failures] == []
    return result.inputs


def release_id(world: World, version: str) -> str:
    with world.make(AutoDeployOverrideProvider).client() as client:
        return client.find_release(world.project()["Id"], version)["Id"]


def created(world: World, tenant_id: str, **changes):
    provider = world.make(AutoDeployOverrideProvider)
    inputs = checked(provider, news(tenant_id, **changes))
    result = provider.create(inputs)
    return provider, inputs, result.id, result.outs


def test_create_sets_the_override_for_this_tenant(world: World) -> None:
    t = tenant(world)
    _, inputs, override_id, outs = created(world, t["Id"])
    expected = release_id(world, VERSION)
    assert world.overrides() == [
        {"EnvironmentId": outs["environment_id"], "TenantId": t["Id"], "ReleaseId": expected}
    ]
    assert outs["release_id"] == expected
    assert outs["project_id"] == world.project()["Id"]
    assert override_id == f"Spaces-1/{outs['project_id']}/{outs['environment_id']}/{t['Id']}"
    assert {k: outs[k] for k in inputs} == inputs


def test_check_reports_a_version_without_release_naming_project_and_version(world: World) -> None:
    t = tenant(world)
    result = world.make(AutoDeployOverrideProvider).check({}, news(t["Id"], release_version="9.9.9-ryan0001"))
    [failure] = result.failures
    assert failure.property == "release_version"
    assert PROJECT in failure.reason and "9.9.9-ryan0001" in failure.reason


def test_create_of_a_version_without_release_fails_naming_both_and_writes_nothing(world: World) -> None:
    t = tenant(world)
    provider = world.make(AutoDeployOverrideProvider)
    with pytest.raises(ReleaseNotFound) as raised:
        provider.create({**checked(provider, news(t["Id"])), "release_version": "9.9.9-ryan0001"})
    assert PROJECT in str(raised.value) and "9.9.9-ryan0001" in str(raised.value)
    assert world.overrides() == []
    assert not [r for r in world.emulator.request_log if r[0] == "PUT"]


def test_check_reports_each_bad_field(world: World) -> None:
    result = world.make(AutoDeployOverrideProvider).check(
        {},
        {"project": "", "environment": ENVIRONMENT, "tenant_id": "ryan0001", "release_version": "1.0"},
    )
    assert sorted(f.property for f in result.failures) == ["project", "release_version", "tenant_id"]


def test_check_names_missing_project_environment_and_tenant(world: World) -> None:
    result = world.make(AutoDeployOverrideProvider).check(
        {}, news("Tenants-999", project="Nope", environment="Gone")
    )
    reasons = {f.property: f.reason for f in result.failures}
    assert set(reasons) == {"project", "environment", "tenant_id"}
    assert "Nope" in reasons["project"] and "Gone" in reasons["environment"]
    assert "Tenants-999" in reasons["tenant_id"]


def test_check_accepts_a_tenant_id_not_known_yet(world: World) -> None:
    result = world.make(AutoDeployOverrideProvider).check({}, news(Unknown()))
    assert result.failures == []
    assert isinstance(result.inputs["tenant_id"], Unknown) and result.inputs["space"] == "Default"


@pytest.mark.parametrize("field", ["project", "environment", "release_version", "space"])
def test_check_lets_a_value_not_known_during_preview_through(world: World, field: str) -> None:
    """A preview before the release exists (its version computed) must not fail on a lookup it cannot make."""
    t = tenant(world)
    before = world.emulator.count("GET")
    result = world.make(AutoDeployOverrideProvider).check({}, news(t["Id"], **{field: Unknown()}))
    assert [f.reason for f in result.failures] == []
    assert isinstance(result.inputs[field], Unknown)
    assert world.emulator.count("GET") == before, "nothing is looked up in Octopus"


def test_create_for_a_tenant_not_connected_there_fails_and_writes_nothing(world: World) -> None:
    t = tenant(world, environments=[OTHER_ENVIRONMENT])
    provider = world.make(AutoDeployOverrideProvider)
    with pytest.raises(TenantNotConnected, match="not connected") as raised:
        provider.create(checked(provider, news(t["Id"])))
    assert "'ryan0001'" in str(raised.value) and t["Id"] in str(raised.value), "the message names the tenant"
    assert world.overrides() == []


def test_diff_updates_a_new_version_and_replaces_on_identity(world: World) -> None:
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    assert provider.diff(override_id, outs, inputs).changes is False
    bumped = provider.diff(override_id, outs, {**inputs, "release_version": NEXT_VERSION})
    assert (bumped.changes, bumped.replaces) == (True, [])
    moved = provider.diff(override_id, outs, {**inputs, "environment": OTHER_ENVIRONMENT})
    assert (moved.replaces, moved.delete_before_replace) == (["environment"], True)
    retenanted = provider.diff(override_id, outs, {**inputs, "tenant_id": Unknown()})
    assert retenanted.replaces == ["tenant_id"]


def test_update_points_the_override_at_the_new_release(world: World) -> None:
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    result = provider.update(override_id, outs, {**inputs, "release_version": NEXT_VERSION})
    assert [o["ReleaseId"] for o in world.overrides()] == [release_id(world, NEXT_VERSION)]
    assert result.outs["release_id"] == release_id(world, NEXT_VERSION)
    assert result.outs["release_version"] == NEXT_VERSION


def test_read_matches_state_then_reports_a_consumed_override_gone(world: World) -> None:
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    read = provider.read(override_id, outs)
    assert (read.id, read.outs, read.inputs) == (override_id, outs, inputs)
    with provider.client() as client:
        # What Octopus does once the release is deployed to the tenant.
        client.remove_auto_deploy_override(outs["project_id"], outs["environment_id"], t["Id"])
    assert provider.read(override_id, outs).id == ""
    again = provider.create(inputs)  # the next `up` recreating it is harmless
    assert again.id == override_id and len(world.overrides()) == 1


def test_a_refresh_without_drift_reads_the_project_and_never_lists_its_releases(world: World) -> None:
    """Every feature stack refreshes its override: a project has thousands of releases to page through."""
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    before = world.emulator.count("GET", r"/projects/Projects-\d+/releases")
    read = provider.read(override_id, outs)
    assert (read.id, read.inputs["release_version"]) == (override_id, VERSION)
    assert world.emulator.count("GET", r"/projects/Projects-\d+/releases") == before


def test_read_reports_a_release_changed_by_hand_as_drift(world: World) -> None:
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    with provider.client() as client:
        client.set_auto_deploy_override(
            outs["project_id"], outs["environment_id"], t["Id"], release_id(world, NEXT_VERSION)
        )
    read = provider.read(override_id, outs)
    assert read.inputs["release_version"] == NEXT_VERSION
    assert provider.diff(override_id, read.outs, inputs).changes is True


def test_read_of_a_deleted_project_is_gone_not_an_error(world: World) -> None:
    t = tenant(world)
    provider, _, override_id, outs = created(world, t["Id"])
    assert provider.read(override_id, {**outs, "project_id": "Projects-999"}).id == ""


def test_delete_removes_only_this_tenants_override(world: World) -> None:
    ours, theirs = tenant(world, "ryan0001"), tenant(world, "kate0002")
    provider, _, override_id, outs = created(world, ours["Id"])
    created(world, theirs["Id"], release_version=NEXT_VERSION)
    provider.delete(override_id, outs)
    assert [(o["TenantId"], o["ReleaseId"]) for o in world.overrides()] == [
        (theirs["Id"], release_id(world, NEXT_VERSION))
    ]
    provider.delete(override_id, outs)  # a second delete finds nothing and is fine


def test_ten_parallel_creates_for_ten_tenants_keep_ten_overrides(world: World) -> None:
    tenants = [tenant(world, f"feature{n:04d}") for n in range(10)]
    world.emulator.latency = 0.01

    def create(t: dict) -> str:
        provider = world.make(AutoDeployOverrideProvider)
        return provider.create(checked(provider, news(t["Id"]))).id

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(create, tenants))
    assert len(set(ids)) == 10
    assert sorted(o["TenantId"] for o in world.overrides()) == sorted(t["Id"] for t in tenants)


def _create_in_own_process(args: tuple) -> str:
    config, tenant_id = args
    from tests.providers.conftest import configure

    provider = configure(AutoDeployOverrideProvider(), config)
    return provider.create(checked(provider, news(tenant_id))).id


def test_parallel_creates_from_separate_processes_keep_every_override(world: World) -> None:
    """As separate CI jobs do: no shared lock, only the write-then-verify protects them."""
    from tests.providers.conftest import stack_config

    tenants = [tenant(world, f"proc{n:04d}") for n in range(6)]
    world.emulator.latency = 0.02
    config = stack_config(world.emulator)
    with multiprocessing.get_context("fork").Pool(len(tenants)) as pool:
        ids = pool.map(_create_in_own_process, [(config, t["Id"]) for t in tenants])
    assert len(set(ids)) == len(tenants)
    assert sorted(o["TenantId"] for o in world.overrides()) == sorted(t["Id"] for t in tenants)


def test_a_503_on_the_project_write_is_retried(world: World) -> None:
    t = tenant(world)
    world.emulator.fail_next("PUT", r"/projects/Projects-\d+$", status=503, count=1)
    created(world, t["Id"])
    assert len(world.overrides()) == 1


def test_persistent_503_on_the_project_write_fails_and_leaves_no_override(world: World) -> None:
    t = tenant(world)
    world.emulator.fail_next("PUT", r"/projects/Projects-\d+$", status=503, count=100)
    provider = world.make(AutoDeployOverrideProvider)
    with pytest.raises(OctopusUnavailable):
        provider.create(checked(provider, news(t["Id"])))
    assert world.overrides() == []
    # each round sends its write once and re-reads; the rounds are bounded
    assert world.emulator.count("PUT", r"/projects/Projects-\d+$") == OVERRIDE_WRITE_ROUNDS


def test_a_create_that_fails_after_its_write_landed_leaves_no_entry(world: World) -> None:
    """The PUT landed but the read that confirms it failed: the create fails, and no entry stays
    behind that the state does not know about (it would auto-deploy to the tenant unmanaged)."""
    t = tenant(world)
    project = rf"/projects/{world.project()['Id']}$"
    # Every try of the confirming read fails (the client's 4 retries); the clean-up's read succeeds.
    world.emulator.after_next("PUT", project, lambda: world.emulator.fail_next("GET", project, status=503, count=5))
    provider = world.make(AutoDeployOverrideProvider)
    with pytest.raises(OctopusUnavailable):
        provider.create(checked(provider, news(t["Id"])))
    assert world.emulator.count("PUT", project) == 2, "written, then cleaned up"
    assert world.overrides() == []


def test_a_write_that_landed_although_its_answer_was_lost_counts_as_written(world: World) -> None:
    """The server applied the PUT but its answer was lost: the re-read finds the entry, so
    create succeeds with it, without writing it twice."""
    t = tenant(world)
    world.emulator.fail_next("PUT", r"/projects/Projects-\d+$", status=503, count=1, processed=True)
    provider = world.make(AutoDeployOverrideProvider)
    provider.create(checked(provider, news(t["Id"])))
    assert [e["TenantId"] for e in world.overrides()] == [t["Id"]]
    assert world.emulator.count("PUT", r"/projects/Projects-\d+$") == 1


def test_an_override_known_only_by_its_id_is_read_and_deleted(world: World) -> None:
    """`pulumi import`, or a state written without the ids: the resource id alone locates the entry."""
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    read = provider.read(override_id, {})
    assert read.id == override_id
    assert {k: read.outs[k] for k in ("space_id", "project_id", "environment_id", "tenant_id", "release_id")} == {
        k: outs[k] for k in ("space_id", "project_id", "environment_id", "tenant_id", "release_id")
    }
    assert read.inputs["release_version"] == VERSION
    updated = provider.update(override_id, {}, {**inputs, "release_version": NEXT_VERSION})
    assert [(o["TenantId"], o["ReleaseId"]) for o in world.overrides()] == [(t["Id"], updated.outs["release_id"])]
    assert updated.outs["release_id"] == release_id(world, NEXT_VERSION)
    provider.delete(override_id, {})
    assert world.overrides() == []


@pytest.mark.parametrize("bad_id", ["Tenants-1", "Spaces-1/Projects-1/Environments-1/", "a/b/c/d/e"])
def test_an_id_that_is_no_override_id_is_refused_by_name(world: World, bad_id: str) -> None:
    provider = world.make(AutoDeployOverrideProvider)
    with pytest.raises(ValueError) as raised:
        provider.read(bad_id, {})
    assert repr(bad_id) in str(raised.value) and "Spaces-1/Projects-1/Environments-1/Tenants-1" in str(raised.value)


def test_an_override_in_another_space_is_read_updated_and_deleted_there(world: World) -> None:
    emulator = world.emulator
    emulator.seed_space("Features")
    emulator.seed_project(PROJECT, space="Features")
    emulator.seed_environment(ENVIRONMENT, space="Features")
    emulator.seed_release(PROJECT, VERSION, space="Features")
    emulator.seed_release(PROJECT, NEXT_VERSION, space="Features")
    # A same-named project in the provider's default space, whose overrides must stay untouched.
    t_default = tenant(world, "kate0002")
    created(world, t_default["Id"])
    t = emulator.seed_tenant("ryan0001", projects={PROJECT: [ENVIRONMENT]}, space="Features")
    provider, inputs, override_id, outs = created(world, t["Id"], space="Features")
    assert outs["space_id"] != "Spaces-1"

    read = provider.read(override_id, outs)
    assert (read.id, read.outs) == (override_id, outs)
    updated = provider.update(override_id, outs, {**inputs, "release_version": NEXT_VERSION})
    features_project = emulator.project(PROJECT, space="Features")
    assert [o["ReleaseId"] for o in features_project["AutoDeployReleaseOverrides"]] == [updated.outs["release_id"]]
    provider.delete(override_id, updated.outs)
    assert emulator.project(PROJECT, space="Features").get("AutoDeployReleaseOverrides") in (None, [])
    assert [o["TenantId"] for o in world.overrides()] == [t_default["Id"]]


def test_read_of_an_override_pointing_at_a_deleted_release_shows_no_version(world: World) -> None:
    """Someone pointed the entry at another release by hand, and that release is gone since:
    refresh shows the drift (no version) instead of failing, and the next `up` repairs it."""
    t = tenant(world)
    provider, inputs, override_id, outs = created(world, t["Id"])
    other_release = release_id(world, NEXT_VERSION)
    with provider.client() as client:
        client.set_auto_deploy_override(outs["project_id"], outs["environment_id"], t["Id"], other_release)
    world.emulator.state.delete("Spaces-1", "releases", other_release)
    read = provider.read(override_id, outs)
    assert read.id == override_id and read.inputs["release_version"] is None
    assert provider.diff(override_id, read.outs, inputs).changes is True
