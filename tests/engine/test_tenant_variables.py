"""TenantVariables under the real engine against the emulator: create, change, drift, delete; secrets kept secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.octopus.client import OctopusClient
from tests.engine.projects.octopus.program import PROJECT_NAME, copy_project, feature_url, program, stack_config
from tests.engine.test_octopus_resources import plain_occurrences

pytestmark = pytest.mark.engine

PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"
FEATURE = "ryan0001"
VERSION = "1.0.0-ryan0001"
NEXT_VERSION = "1.0.1-ryan0001"
SECRET = "s3cret-db-password-for-ryan0001"
ROTATED = "r0tated-db-password-for-ryan0001"
BUILTINS = {"url": "Phoenix.Url", "feature": "Phoenix.Feature", "packageVersion": "Phoenix.PackageVersion"}


def values(emulator) -> dict[str, str]:
    return {v["Template"]: v["Value"] for v in emulator.tenant_values(FEATURE)}


def test_tenant_variables_through_the_engine(engine, octopus_emulator, tmp_path: Path) -> None:
    """On the per-project API; the whole-document one is driven over gRPC in tests/providers."""
    from pulumi import automation as auto

    emulator = octopus_emulator
    emulator.seed_project(PROJECT)
    emulator.seed_environment(ENVIRONMENT)
    for version in (VERSION, NEXT_VERSION):
        emulator.seed_release(PROJECT, version)
    for name in BUILTINS.values():
        emulator.seed_project_template(PROJECT, name)
    emulator.seed_project_template(PROJECT, "App.DbPassword", sensitive=True)

    stack = auto.create_or_select_stack(
        stack_name=FEATURE, project_name=PROJECT_NAME, program=program,
        opts=engine.workspace_options(copy_project(tmp_path / "project"), secrets_provider="passphrase"),
    )
    config = dict(
        server_url=emulator.url, api_key=emulator.api_key, feature=FEATURE, package_version=VERSION,
        project=PROJECT, environment=ENVIRONMENT,
        tenant_variables={**BUILTINS, "values": {"Team.Owner": "web"},
                          "sensitive": {"App.DbPassword": "PHOENIX_DB_PASSWORD"}},
        sensitive_values={"App.DbPassword": SECRET},
    )
    printed: list[str] = []

    # A template missing from the project stops the preview, before anything changes.
    stack.set_all_config(stack_config(**config))
    with pytest.raises(auto.CommandError) as refused:
        stack.preview(on_output=printed.append)
    assert "add a project variable template named 'Team.Owner' to project 'Phoenix Web'" in str(refused.value)
    printed.append(str(refused.value))
    assert emulator.tenants() == []
    emulator.seed_project_template(PROJECT, "Team.Owner")

    up = stack.up(on_output=printed.append)
    assert up.summary.resource_changes == {"create": 4}
    assert values(emulator) == {
        "Phoenix.Url": feature_url(FEATURE), "Phoenix.Feature": FEATURE, "Phoenix.PackageVersion": VERSION,
        "Team.Owner": "web", "App.DbPassword": SECRET,
    }
    assert up.outputs["url"].value == values(emulator)["Phoenix.Url"], "the output and the variable: one value"

    # A new release changes the override and the package version the tenant carries.
    stack.set_all_config(stack_config(**{**config, "package_version": NEXT_VERSION}))
    bumped = stack.up(on_output=printed.append)
    assert bumped.summary.resource_changes == {"same": 2, "update": 2}
    assert values(emulator)["Phoenix.PackageVersion"] == NEXT_VERSION

    # A rotated secret is an update, and reaches Octopus.
    stack.set_all_config(stack_config(**{**config, "package_version": NEXT_VERSION,
                                         "sensitive_values": {"App.DbPassword": ROTATED}}))
    rotated = stack.up(on_output=printed.append)
    assert rotated.summary.resource_changes == {"same": 3, "update": 1}
    assert values(emulator)["App.DbPassword"] == ROTATED
    config = {**config, "package_version": NEXT_VERSION, "sensitive_values": {"App.DbPassword": ROTATED}}

    # Someone edits a value in Octopus: preview shows it, up puts it back.
    tenant_id = up.outputs["tenant_id"].value
    with OctopusClient(emulator.url, emulator.api_key) as client:
        project = client.find_project(PROJECT)
        template = next(t["Id"] for t in project["Templates"] if t["Name"] == "Phoenix.Url")
        environment = client.find_environment(ENVIRONMENT)["Id"]
        client.set_tenant_variable_values(tenant_id, project["Id"], environment, {template: "http://by-hand"})
    drift = stack.preview(on_output=printed.append)
    assert drift.change_summary == {"same": 3, "update": 1}
    assert values(emulator)["Phoenix.Url"] == "http://by-hand", "preview changed nothing"
    repaired = stack.up(on_output=printed.append)
    assert repaired.summary.resource_changes == {"same": 3, "update": 1}
    assert values(emulator)["Phoenix.Url"] == feature_url(FEATURE)
    assert stack.preview(on_output=printed.append).change_summary == {"same": 4}

    # Nothing of the secret in the state but inside its encrypted envelope.
    deployment = stack.export_stack().deployment
    assert plain_occurrences(deployment, ROTATED) == [] and plain_occurrences(deployment, SECRET) == []
    stored = Path(engine.backend_url.removeprefix("file://"))
    for state_file in stored.rglob("*.json"):
        text = state_file.read_text()
        assert SECRET not in text and ROTATED not in text, state_file

    # Dropping a value from the program deletes it in Octopus; the others stay.
    stack.set_all_config(stack_config(**{**config, "tenant_variables": {**BUILTINS, "values": {},
                                                                         "sensitive": {}}}))
    shrunk = stack.up(on_output=printed.append)
    assert shrunk.summary.resource_changes == {"same": 3, "update": 1}
    assert set(values(emulator)) == set(BUILTINS.values())

    destroyed = stack.destroy(on_output=printed.append)
    assert destroyed.summary.result == "succeeded"
    assert emulator.tenants() == [] and emulator.state.tenant_values == {}

    printed.extend(r.stderr for r in (up, bumped, rotated, drift, repaired, shrunk, destroyed))
    text = "\n".join(printed)
    assert SECRET not in text and ROTATED not in text, "a sensitive value was printed by the engine"
    assert emulator.api_key not in text
    stack.workspace.remove_stack(FEATURE)


def test_no_templates_named_makes_no_tenant_variables(engine, octopus_emulator, tmp_path: Path) -> None:
    from pulumi import automation as auto

    emulator = octopus_emulator
    emulator.seed_project(PROJECT)
    emulator.seed_environment(ENVIRONMENT)
    emulator.seed_release(PROJECT, VERSION)
    stack = auto.create_or_select_stack(
        stack_name=FEATURE, project_name=PROJECT_NAME, program=program,
        opts=engine.workspace_options(copy_project(tmp_path / "project"), secrets_provider="passphrase"),
    )
    stack.set_all_config(stack_config(server_url=emulator.url, api_key=emulator.api_key, feature=FEATURE,
                                      package_version=VERSION, project=PROJECT, environment=ENVIRONMENT))
    up = stack.up()
    assert up.summary.resource_changes == {"create": 3}
    assert "url" not in up.outputs
    assert json.dumps(emulator.state.tenant_values) == "{}"
    stack.destroy()
    stack.workspace.remove_stack(FEATURE)
