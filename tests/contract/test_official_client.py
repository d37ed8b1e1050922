"""Octopus' official TypeScript client against the emulator: every flow phoenix depends on.

The client is the npm package pinned in tests/contract/package-lock.json
(`scripts/install-test-tools` installs it with `npm ci`); `flows.cjs` runs one
flow with it and prints what the client saw. A flow that fails here is an
emulator that answers differently from Octopus Server: the fix goes in the
emulator (noted in its docstring where the reference says otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.octopus_emulator import OctopusEmulator

HERE = Path(__file__).resolve().parent
INSTALL_HINT = "npm ci --prefix tests/contract (scripts/install-test-tools does it)"
PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"
VERSION = "1.0.0-ryan0001"


def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is needed for the contract tests (Node 20, as scripts/install-test-tools expects)"
    assert (HERE / "node_modules" / "@octopusdeploy" / "api-client").is_dir(), f"not installed: {INSTALL_HINT}"
    return found


@pytest.fixture
def world(octopus_emulator: OctopusEmulator) -> dict[str, Any]:
    emulator = octopus_emulator
    emulator.seed_space("zeta")
    emulator.seed_space("Alpha")
    project = emulator.seed_project(PROJECT)
    environment = emulator.seed_environment(ENVIRONMENT)
    release = emulator.seed_release(PROJECT, VERSION)
    emulator.seed_release(PROJECT, "1.0.1-ryan0002")
    url = emulator.seed_project_template(PROJECT, "Phoenix.Url")
    secret = emulator.seed_project_template(PROJECT, "App.DbPassword", sensitive=True)
    tenant = emulator.seed_tenant("ryan0001", [PROJECT], [ENVIRONMENT])
    return {
        "project": project["Id"], "environment": environment["Id"], "release": release["Id"],
        "tenant": tenant["Id"], "version": VERSION, "urlTemplate": url["Id"], "secretTemplate": secret["Id"],
    }


def run_flow(emulator: OctopusEmulator, world: dict[str, Any], flow: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OCTOPUS_URL": emulator.url,
        "OCTOPUS_API_KEY": emulator.api_key,
        "CONTRACT_SEED": json.dumps(world),
    }
    done = subprocess.run(
        [node(), str(HERE / "flows.cjs"), flow], env=env, cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"the official client's {flow} flow failed: {done.stderr.strip()}"
    return json.loads(done.stdout)


def test_spaces_are_listed_by_name_and_found(octopus_emulator: OctopusEmulator, world: dict) -> None:
    seen = run_flow(octopus_emulator, world, "spaces")
    assert seen["names"] == ["Alpha", "Default", "zeta"] and seen["total"] == 3
    assert seen["found"] == ["Default"] and (seen["byId"], seen["isDefault"]) == ("Default", True)


def test_projects_read_by_id_and_slug_and_updated_with_overrides(octopus_emulator: OctopusEmulator, world: dict) -> None:
    seen = run_flow(octopus_emulator, world, "projects")
    assert seen["id"] == seen["slug"] == world["project"]
    assert seen["overrides"] == [
        {"EnvironmentId": world["environment"], "TenantId": world["tenant"], "ReleaseId": world["release"]}
    ]
    assert seen["cleared"] == [] and octopus_emulator.project(PROJECT)["AutoDeployReleaseOverrides"] == []
    assert seen["templates"] == ["Phoenix.Url", "App.DbPassword"], "templates survive the client's round trip"


def test_tenants_with_and_without_tags_connected_found_updated_deleted(
    octopus_emulator: OctopusEmulator, world: dict
) -> None:
    seen = run_flow(octopus_emulator, world, "tenants")
    connection = {world["project"]: [world["environment"]]}
    assert seen["bare"]["tags"] == [] and seen["bare"]["projects"] == {}
    assert seen["tagged"] == {"tags": ["Feature/Branch"], "projects": connection}
    assert seen["duplicate"]["status"] == 400
    assert "A tenant with this name already exists" in seen["duplicate"]["message"]
    assert seen["connected"] == connection
    assert seen["found"] == [seen["bare"]["id"]]
    assert seen["updated"] == {"description": "updated by the TypeScript client", "tags": ["Feature/Branch"]}
    assert seen["byProject"] == ["ryan0001", "ts-bare", "ts-tagged"]
    assert seen["gone"]["status"] == 404
    assert sorted(t["Name"] for t in octopus_emulator.tenants()) == ["ryan0001", "ts-bare"]


def test_machine_policies_from_the_template_created_and_deleted(octopus_emulator: OctopusEmulator, world: dict) -> None:
    seen = run_flow(octopus_emulator, world, "machinePolicies")
    assert seen["template"] == {"cleanup": "DoNotDelete", "retries": 5}
    assert seen["created"]["cleanup"] == {
        "DeleteMachinesBehavior": "DeleteUnavailableMachines", "DeleteMachinesElapsedTimeSpan": "00:20:00"
    }
    assert seen["created"]["isDefault"] is False and seen["gone"]["status"] == 404
    assert [p["Name"] for p in octopus_emulator.machine_policies()] == ["Default Machine Policy"]


def test_project_triggers_created_updated_deleted(octopus_emulator: OctopusEmulator, world: dict) -> None:
    seen = run_flow(octopus_emulator, world, "triggers")
    assert seen["updated"] == {"disabled": True, "roles": ["web", "api"]}
    assert seen["listed"] == [seen["created"]] and seen["after"] == 0
    log = [(r.method, r.path) for r in octopus_emulator.request_log if "/triggers/" in r.path]
    trigger = f"/api/{'Spaces-1'}/projects/{world['project']}/triggers/{seen['created']}"
    assert ("PUT", trigger) in log and ("DELETE", trigger) in log


def test_releases_by_version(octopus_emulator: OctopusEmulator, world: dict) -> None:
    seen = run_flow(octopus_emulator, world, "releases")
    assert seen["byVersion"] == world["release"] and seen["searched"] == [VERSION]
    assert seen["missing"]["status"] == 404


def test_machines_by_tenant(octopus_emulator: OctopusEmulator, world: dict) -> None:
    octopus_emulator.register_machine("ryan0001-i-1", [ENVIRONMENT], ["web"], ["ryan0001"])
    octopus_emulator.register_machine("ryan0001-i-2", [ENVIRONMENT], ["web"], ["ryan0001"])
    octopus_emulator.register_machine("shared-i-1", [ENVIRONMENT], ["web"])
    seen = run_flow(octopus_emulator, world, "machines")
    assert seen["names"] == ["ryan0001-i-1", "ryan0001-i-2"]
    assert seen["tenants"] == [[world["tenant"]], [world["tenant"]]]


def test_tenant_variables_in_both_apis(octopus_emulator: OctopusEmulator, world: dict) -> None:
    seen = run_flow(octopus_emulator, world, "tenantVariables")
    assert seen["missing"] == ["App.DbPassword", "Phoenix.Url"]
    hidden = {"HasValue": True, "NewValue": None, "Hint": None}
    assert sorted(seen["written"]) == [["App.DbPassword", hidden], ["Phoenix.Url", "https://ts.example"]]
    assert seen["document"] == {world["urlTemplate"]: "https://ts.example/v2", world["secretTemplate"]: hidden}
    assert "ts-s3cret" not in json.dumps(seen)
    values = {v["Template"]: (v["Value"], v["Environments"]) for v in octopus_emulator.tenant_values("ryan0001")}
    assert values == {"Phoenix.Url": ("https://ts.example/v2", [ENVIRONMENT]),
                      "App.DbPassword": ("ts-s3cret", [ENVIRONMENT])}
