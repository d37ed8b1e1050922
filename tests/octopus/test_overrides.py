"""Auto-deploy overrides: add, replace, remove, and never lose another writer's entry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from components.octopus.client import OctopusClient
from components.octopus.errors import OctopusConflict, OctopusError
from tests.octopus.conftest import Seeded, make_client
from tests.octopus_emulator import OctopusEmulator


@pytest.fixture
def tenants(octopus_emulator: OctopusEmulator, seeded: Seeded) -> list[dict]:
    return [
        octopus_emulator.seed_tenant(f"feature{n:04d}", ["Phoenix Web"], ["Feature"]) for n in range(8)
    ]


def overrides(octopus_emulator: OctopusEmulator) -> list[dict]:
    return octopus_emulator.project("Phoenix Web")["AutoDeployReleaseOverrides"]


def test_add_replace_and_remove(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    project, environment, tenant = seeded.project["Id"], seeded.environment["Id"], tenants[0]["Id"]
    assert client.find_auto_deploy_override(project, environment, tenant) is None

    entry = client.set_auto_deploy_override(project, environment, tenant, seeded.release["Id"])
    assert entry == {"EnvironmentId": environment, "TenantId": tenant, "ReleaseId": seeded.release["Id"]}
    assert client.find_auto_deploy_override(project, environment, tenant) == entry

    newer = octopus_emulator.seed_release("Phoenix Web", "1.0.1-ryan0001")
    client.set_auto_deploy_override(project, environment, tenant, newer["Id"])
    assert overrides(octopus_emulator) == [
        {"EnvironmentId": environment, "TenantId": tenant, "ReleaseId": newer["Id"]}
    ]

    assert client.remove_auto_deploy_override(project, environment, tenant) is True
    assert overrides(octopus_emulator) == []
    assert client.remove_auto_deploy_override(project, environment, tenant) is False


def test_setting_the_same_override_again_writes_nothing(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    args = (seeded.project["Id"], seeded.environment["Id"], tenants[0]["Id"], seeded.release["Id"])
    client.set_auto_deploy_override(*args)
    octopus_emulator.clear_log()
    client.set_auto_deploy_override(*args)
    assert octopus_emulator.count("PUT") == 0


def test_other_entries_and_project_fields_survive(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    project, environment = seeded.project["Id"], seeded.environment["Id"]
    client.set_auto_deploy_override(project, environment, None, seeded.release["Id"])  # untenanted
    client.set_auto_deploy_override(project, environment, tenants[0]["Id"], seeded.release["Id"])
    client.remove_auto_deploy_override(project, environment, tenants[0]["Id"])
    after = octopus_emulator.project("Phoenix Web")
    assert after["AutoDeployReleaseOverrides"] == [
        {"EnvironmentId": environment, "TenantId": None, "ReleaseId": seeded.release["Id"]}
    ]
    assert after["TenantedDeploymentMode"] == "TenantedOrUntenanted"
    assert after["Name"] == "Phoenix Web"


def test_a_release_of_another_project_is_refused(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    octopus_emulator.seed_project("Other")
    foreign = octopus_emulator.seed_release("Other", "2.0.0")
    with pytest.raises(OctopusConflict, match="another project"):
        client.set_auto_deploy_override(
            seeded.project["Id"], seeded.environment["Id"], tenants[0]["Id"], foreign["Id"]
        )
    assert overrides(octopus_emulator) == []


def test_parallel_writers_in_one_process_lose_nothing(
    octopus_emulator: OctopusEmulator, seeded: Seeded, tenants: list[dict]
) -> None:
    octopus_emulator.latency = 0.005  # widen the read-modify-write window

    def write(tenant: dict) -> None:
        with make_client(octopus_emulator) as octopus:
            octopus.set_auto_deploy_override(
                seeded.project["Id"], seeded.environment["Id"], tenant["Id"], seeded.release["Id"]
            )

    with ThreadPoolExecutor(max_workers=len(tenants)) as pool:
        list(pool.map(write, tenants))
    assert sorted(e["TenantId"] for e in overrides(octopus_emulator)) == sorted(t["Id"] for t in tenants)


def test_a_stale_writer_from_another_process_is_detected_and_repaired(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    """Another process read the project before our PUT and writes it back right after."""
    project, environment, release = seeded.project["Id"], seeded.environment["Id"], seeded.release["Id"]
    theirs = {"EnvironmentId": environment, "TenantId": tenants[1]["Id"], "ReleaseId": release}

    def stale_write() -> None:
        stale = octopus_emulator.project("Phoenix Web")
        stale["AutoDeployReleaseOverrides"] = [theirs]
        octopus_emulator.state.modify("Spaces-1", "projects", project, stale)

    octopus_emulator.after_next("PUT", rf"/projects/{project}$", stale_write)
    client.set_auto_deploy_override(project, environment, tenants[0]["Id"], release)
    assert sorted(e["TenantId"] for e in overrides(octopus_emulator)) == sorted(
        [tenants[0]["Id"], tenants[1]["Id"]]
    )
    assert octopus_emulator.count("PUT", rf"/projects/{project}$") == 2


def test_a_removal_undone_by_a_stale_writer_is_removed_again(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    project, environment, release = seeded.project["Id"], seeded.environment["Id"], seeded.release["Id"]
    client.set_auto_deploy_override(project, environment, tenants[0]["Id"], release)
    before = octopus_emulator.project("Phoenix Web")

    octopus_emulator.after_next(
        "PUT", rf"/projects/{project}$",
        lambda: octopus_emulator.state.modify("Spaces-1", "projects", project, before),
    )
    assert client.remove_auto_deploy_override(project, environment, tenants[0]["Id"]) is True
    assert overrides(octopus_emulator) == []


def test_a_write_refused_for_a_stale_copy_is_read_again_and_applied(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    """Between our read and our PUT another feature is destroyed: its override goes, then its tenant.

    Our PUT, built from the stale read, still names the deleted tenant and is refused;
    the write must be re-read and re-applied, not fail (nor resurrect the dead entry).
    """
    project, environment, release = seeded.project["Id"], seeded.environment["Id"], seeded.release["Id"]
    gone = tenants[1]["Id"]
    client.set_auto_deploy_override(project, environment, gone, release)

    def other_feature_destroyed() -> None:
        current = octopus_emulator.project("Phoenix Web")
        current["AutoDeployReleaseOverrides"] = [
            e for e in current["AutoDeployReleaseOverrides"] if e["TenantId"] != gone
        ]
        octopus_emulator.state.modify("Spaces-1", "projects", project, current)
        octopus_emulator.state.delete("Spaces-1", "tenants", gone)

    octopus_emulator.clear_log()
    octopus_emulator.after_next("GET", rf"/projects/{project}$", other_feature_destroyed)
    client.set_auto_deploy_override(project, environment, tenants[0]["Id"], release)

    assert [e["TenantId"] for e in overrides(octopus_emulator)] == [tenants[0]["Id"]]
    refused = [r for r in octopus_emulator.request_log if r.method == "PUT" and r.status == 400]
    assert len(refused) == 1, "the stale write reached the server once and was refused"


def test_a_failed_write_is_rebuilt_from_a_fresh_read_not_resent(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    """Another writer adds its entry right after our read; our PUT is answered 503.

    Re-sending our copy after a backoff would write back the project as it was
    before their entry, long after they verified it; every attempt must start
    from a fresh read instead.
    """
    project, environment, release = seeded.project["Id"], seeded.environment["Id"], seeded.release["Id"]
    theirs = {"EnvironmentId": environment, "TenantId": tenants[1]["Id"], "ReleaseId": release}

    def another_writer() -> None:
        current = octopus_emulator.project("Phoenix Web")
        current["AutoDeployReleaseOverrides"] = [*current["AutoDeployReleaseOverrides"], theirs]
        octopus_emulator.state.modify("Spaces-1", "projects", project, current)

    octopus_emulator.after_next("GET", rf"/projects/{project}$", another_writer)
    octopus_emulator.fail_next("PUT", rf"/projects/{project}$", status=503)
    client.set_auto_deploy_override(project, environment, tenants[0]["Id"], release)
    assert sorted(e["TenantId"] for e in overrides(octopus_emulator)) == sorted(
        [tenants[0]["Id"], tenants[1]["Id"]]
    )


def test_a_writer_that_never_stops_is_reported(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    project = seeded.project["Id"]
    empty = octopus_emulator.project("Phoenix Web")
    octopus_emulator.after_next(
        "PUT", rf"/projects/{project}$",
        lambda: octopus_emulator.state.modify("Spaces-1", "projects", project, empty),
        count=100,
    )
    with pytest.raises(OctopusError, match="kept being overwritten"):
        client.set_auto_deploy_override(
            project, seeded.environment["Id"], tenants[0]["Id"], seeded.release["Id"]
        )


def test_a_refusal_of_our_own_write_fails_at_once(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    """The release belongs to another project: no fresh read can fix that, so one PUT and Octopus' text."""
    octopus_emulator.seed_project("Other")
    foreign = octopus_emulator.seed_release("Other", "2.0.0")
    project = seeded.project["Id"]
    octopus_emulator.clear_log()
    with pytest.raises(OctopusConflict) as refused:
        client.set_auto_deploy_override(project, seeded.environment["Id"], tenants[0]["Id"], foreign["Id"])
    assert refused.value.errors == [f"The release '{foreign['Id']}' belongs to another project."]
    assert octopus_emulator.count("PUT", rf"/projects/{project}$") == 1


@pytest.mark.parametrize(
    "errors",
    [
        ["This project is version controlled: change its settings on a branch."],
        ["You cannot modify a project that is read-only."],
    ],
)
def test_a_400_for_octopus_own_reasons_is_not_taken_for_a_stale_copy(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator,
    errors: list[str],
) -> None:
    project = seeded.project["Id"]
    octopus_emulator.fail_next("PUT", rf"/projects/{project}$", status=400, count=10, errors=errors)
    octopus_emulator.clear_log()
    with pytest.raises(OctopusConflict) as refused:
        client.set_auto_deploy_override(project, seeded.environment["Id"], tenants[0]["Id"], seeded.release["Id"])
    assert refused.value.status == 400 and refused.value.errors == errors
    assert errors[0] in str(refused.value)
    assert octopus_emulator.count("PUT", rf"/projects/{project}$") == 1
    assert overrides(octopus_emulator) == []


def test_a_409_is_read_again_and_applied(
    client: OctopusClient, seeded: Seeded, tenants: list[dict], octopus_emulator: OctopusEmulator
) -> None:
    project = seeded.project["Id"]
    octopus_emulator.fail_next("PUT", rf"/projects/{project}$", status=409)
    client.set_auto_deploy_override(project, seeded.environment["Id"], tenants[0]["Id"], seeded.release["Id"])
    assert [e["TenantId"] for e in overrides(octopus_emulator)] == [tenants[0]["Id"]]
    assert octopus_emulator.count("PUT", rf"/projects/{project}$") == 2
