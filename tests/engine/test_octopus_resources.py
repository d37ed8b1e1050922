"""The Octopus resources under the real engine: preview, up, refresh, destroy against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.octopus.client import OctopusClient
from tests.engine.projects.octopus.program import PROJECT_NAME, copy_project, program, stack_config

pytestmark = pytest.mark.engine

#: How a secret value is marked in Pulumi state: {SIG_KEY: SECRET_SIG, "ciphertext"|"plaintext": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"
FEATURE = "ryan0001"
VERSION = "1.0.0-ryan0001"
NEXT_VERSION = "1.0.1-ryan0001"


def overrides(emulator) -> list[dict]:
    return list(emulator.project(PROJECT).get("AutoDeployReleaseOverrides") or [])


def plain_occurrences(value: Any, secret: str, path: str = "") -> list[str]:
    """Where `secret` appears outside a Pulumi secret envelope."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return []
        return [p for k, v in value.items() for p in plain_occurrences(v, secret, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in plain_occurrences(v, secret, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and secret in value else []


def test_tenant_and_override_through_the_engine(engine, octopus_emulator, tmp_path: Path) -> None:
    from pulumi import automation as auto

    emulator = octopus_emulator
    emulator.seed_project(PROJECT)
    emulator.seed_environment(ENVIRONMENT)
    releases = {v: emulator.seed_release(PROJECT, v)["Id"] for v in (VERSION, NEXT_VERSION)}

    stack = auto.create_or_select_stack(
        stack_name=FEATURE,
        project_name=PROJECT_NAME,
        program=program,
        opts=engine.workspace_options(copy_project(tmp_path / "project"), secrets_provider="passphrase"),
    )
    config = dict(
        server_url=emulator.url, api_key=emulator.api_key, feature=FEATURE,
        package_version=VERSION, project=PROJECT, environment=ENVIRONMENT,
    )
    printed: list[str] = []

    stack.set_all_config(stack_config(**{**config, "package_version": "9.9.9-ryan0001"}))
    with pytest.raises(auto.CommandError) as refused:
        stack.preview(on_output=printed.append)
    assert f"Octopus project '{PROJECT}' has no release '9.9.9-ryan0001'" in str(refused.value)
    printed.append(str(refused.value))  # the error carries the run's stdout and stderr
    assert emulator.tenants() == [] and overrides(emulator) == []

    stack.set_all_config(stack_config(**config))

    preview = stack.preview(on_output=printed.append)
    assert preview.change_summary == {"create": 3}  # the stack, the tenant, the override
    assert emulator.tenants() == [] and overrides(emulator) == [], "preview changes nothing"

    up = stack.up(on_output=printed.append)
    assert up.summary.result == "succeeded"
    [tenant] = emulator.tenants()
    assert tenant["Name"] == FEATURE and up.outputs["tenant_id"].value == tenant["Id"]
    assert [(o["TenantId"], o["ReleaseId"]) for o in overrides(emulator)] == [(tenant["Id"], releases[VERSION])]

    again = stack.up(on_output=printed.append)
    assert again.summary.resource_changes == {"same": 3}

    stack.set_all_config(stack_config(**{**config, "package_version": NEXT_VERSION}))
    bumped = stack.up(on_output=printed.append)
    assert bumped.summary.resource_changes == {"same": 2, "update": 1}
    assert [o["ReleaseId"] for o in overrides(emulator)] == [releases[NEXT_VERSION]]

    [entry] = overrides(emulator)
    with OctopusClient(emulator.url, emulator.api_key) as client:  # someone removes it by hand
        client.remove_auto_deploy_override(emulator.project(PROJECT)["Id"], entry["EnvironmentId"], tenant["Id"])
    refreshed = stack.refresh(on_output=printed.append)
    assert refreshed.summary.resource_changes.get("delete") == 1
    restored = stack.up(on_output=printed.append)
    assert restored.summary.resource_changes == {"same": 2, "create": 1}
    assert [o["ReleaseId"] for o in overrides(emulator)] == [releases[NEXT_VERSION]]

    deployment = stack.export_stack().deployment
    assert tenant["Id"] in json.dumps(deployment), "the export holds the resources"
    ours = [r for r in deployment["resources"] if "octopus:" in r["type"]]
    assert len(ours) == 2 and emulator.api_key not in json.dumps(ours)
    # export_stack() runs `stack export --show-secrets`: a secret shows decrypted but
    # still inside its secret envelope. The key may only ever appear that way (Pulumi
    # keeps the stack config the default dynamic provider was configured with) ...
    assert plain_occurrences(deployment, emulator.api_key) == []
    # ... and what the backend actually stores holds it only encrypted.
    stored = Path(engine.backend_url.removeprefix("file://"))
    for state_file in stored.rglob("*.json"):
        assert emulator.api_key not in state_file.read_text(), state_file

    emulator.register_machine(f"{FEATURE}-i-1", environments=[ENVIRONMENT], roles=["web"], tenants=[FEATURE])
    destroyed = stack.destroy(on_output=printed.append)
    assert destroyed.summary.result == "succeeded"
    assert emulator.tenants() == [] and overrides(emulator) == [] and emulator.machines() == []

    printed.extend(r.stderr for r in (preview, up, again, bumped, refreshed, restored, destroyed))
    assert emulator.api_key not in "\n".join(printed), "the API key was printed by the engine"
    stack.workspace.remove_stack(FEATURE)
