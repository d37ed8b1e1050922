"""The client's tenant variables: which API it picks, and what it says when it cannot write."""

from __future__ import annotations

import pytest

from components.octopus.client import OctopusClient
from components.octopus.errors import OctopusAuthError, OctopusNotFound
from tests.octopus.conftest import Seeded
from tests.octopus_emulator import OctopusEmulator


@pytest.fixture
def tenant(octopus_emulator: OctopusEmulator, seeded: Seeded) -> dict:
    octopus_emulator.seed_project_template("Phoenix Web", "Phoenix.Url")
    return octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])


def write(client: OctopusClient, seeded: Seeded, tenant: dict, value: str = "https://x") -> None:
    template = client.get_project(seeded.project["Id"])["Templates"][0]["Id"]
    client.set_tenant_variable_values(tenant["Id"], seeded.project["Id"], seeded.environment["Id"], {template: value})


@pytest.mark.parametrize(
    ("setup", "route"),
    [
        (lambda emulator: None, "projectvariables"),
        (lambda emulator: setattr(emulator, "project_variables", False), "variables"),
        (lambda emulator: setattr(emulator, "feature_toggles", None), "variables"),
        (lambda emulator: emulator.fail_next("GET", r"/feature-toggles$", status=403), "variables"),
    ],
    ids=["2025.2", "toggle-off", "no-toggles-document", "toggles-forbidden"],
)
def test_the_api_is_the_one_the_server_advertises(
    client: OctopusClient, octopus_emulator: OctopusEmulator, seeded: Seeded, tenant: dict, setup, route: str
) -> None:
    setup(octopus_emulator)
    octopus_emulator.clear_log()
    write(client, seeded, tenant)
    write(client, seeded, tenant, "https://y")
    puts = {r.path for r in octopus_emulator.request_log if r.method == "PUT"}
    assert puts == {f"/api/Spaces-1/tenants/{tenant['Id']}/{route}"}
    assert octopus_emulator.count("GET", r"/feature-toggles$") == 1, "asked once per client"
    assert [v["Value"] for v in octopus_emulator.tenant_values("ryan0001")] == ["https://y"]


def test_a_refused_key_on_the_toggles_is_not_taken_for_an_old_server(
    client: OctopusClient, octopus_emulator: OctopusEmulator, seeded: Seeded, tenant: dict
) -> None:
    octopus_emulator.fail_next("GET", r"/feature-toggles$", status=401)
    with pytest.raises(OctopusAuthError):
        write(client, seeded, tenant)


def test_an_environment_the_tenant_is_not_connected_to_is_named(
    client: OctopusClient, octopus_emulator: OctopusEmulator, seeded: Seeded, tenant: dict
) -> None:
    octopus_emulator.project_variables = False
    staging = octopus_emulator.seed_environment("Staging")["Id"]
    template = client.get_project(seeded.project["Id"])["Templates"][0]["Id"]
    with pytest.raises(OctopusNotFound, match=f"not connected to project {seeded.project['Id']} in environment {staging}"):
        client.set_tenant_variable_values(tenant["Id"], seeded.project["Id"], staging, {template: "x"})
