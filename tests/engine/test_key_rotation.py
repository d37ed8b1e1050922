"""A rotated Octopus API key: features created with the old key are destroyed and reaped with the new one.

`destroy` and `refresh` configure the dynamic providers with the config the
state recorded at the last update, the API key included; the providers must
take this run's key instead, and a key Octopus refuses must stop the command
(exit 2, naming OCTOPUS_API_KEY) before anything is touched.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from automation.pulumi_cli import PROJECT_ROOT
from components.octopus.client import OctopusClient
from tests.engine.test_cli_end_to_end import ENVIRONMENT, PROJECT, Cli, cli, overrides, own_traceback  # noqa: F401

pytestmark = pytest.mark.engine

KEY_B = "API-ROTATEDKEYB00000000000001"
WRONG_KEY = "API-NEVERISSUED0000000000001"
#: `python -m automation create 1.0.0-ryan0001` of the Octopus test project, written by the code
#: before this change (commit 10d73ed) against an emulator at the URL below, with the key
#: API-KEYBEFOREROTATION000000001 and the engine fixture's passphrase: the stack file of the
#: file backend as it was, the key encrypted in the provider's recorded config.
OLD_STATE = Path(__file__).parent / "data" / "ryan0001-created-before-rotation.json"
OLD_STATE_URL = "http://127.0.0.1:1"
SIG_KEY = "4dabf18193072939515e22adb298388d"


def run(cli: Cli, command: str, *args: str, key: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        cli.argv(command, *args), cwd=PROJECT_ROOT, env=dict(cli.env, OCTOPUS_API_KEY=key), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=240,
    )
    assert not own_traceback(result.stderr), result.stderr[-3000:]
    return result


def writes(emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.request_log if r.method not in ("GET", "HEAD")]


def test_features_created_with_a_revoked_key_are_destroyed_and_reaped_with_the_new_one(cli: Cli) -> None:
    emulator = cli.emulator
    key_a = emulator.api_key
    for feature in ("ryan0001", "bob0001"):
        emulator.seed_release(PROJECT, f"1.0.0-{feature}")
        created = run(cli, "create", f"1.0.0-{feature}", "--quiet", key=key_a)
        assert created.returncode == 0, created.stderr[-3000:]
    emulator.revoke_api_key(key_a)
    emulator.add_api_key(KEY_B, username="phoenix-rotated")

    # A key Octopus does not accept: exit 2 naming the variable, before any stack is touched.
    emulator.clear_log()
    for command, args in (("destroy", ("ryan0001",)), ("reap", ("--older-than", "0s"))):
        refused = run(cli, command, *args, key=WRONG_KEY)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert "OCTOPUS_API_KEY" in refused.stderr and "401" in refused.stderr
        assert WRONG_KEY not in refused.stderr + refused.stdout
    assert writes(emulator) == []
    assert sorted(t["Name"] for t in emulator.tenants()) == ["bob0001", "ryan0001"]
    assert len(overrides(emulator)) == 2
    assert [row["feature"] for row in cli.json("list")] == [
        "bob0001", "ryan0001",
    ]

    # The current key destroys what the revoked one created, through a busy Octopus: the key check
    # before the operation rides out 503s as the operation itself does.
    emulator.fail_next("GET", r"/users/me$", count=2)
    destroyed = run(cli, "destroy", "ryan0001", key=KEY_B)
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert [t["Name"] for t in emulator.tenants()] == ["bob0001"]
    reaped = run(cli, "reap", "--older-than", "0s", key=KEY_B)
    assert reaped.returncode == 0, reaped.stderr[-3000:]
    assert "bob0001: destroyed" in reaped.stdout
    assert emulator.tenants() == [] and overrides(emulator) == []
    assert cli.json("list") == []


def test_a_stack_written_before_the_fix_is_destroyed_with_this_runs_key(cli: Cli) -> None:
    """The committed state records a key this emulator never issued, as after a rotation."""
    emulator = cli.emulator
    release = emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    tenant = emulator.seed_tenant("ryan0001", projects=[PROJECT], environments=[ENVIRONMENT],
                                  description="Feature environment ryan0001")
    with OctopusClient(emulator.url, emulator.api_key) as client:
        project = client.find_project(PROJECT)
        environment = client.find_environment(ENVIRONMENT)
        client.set_auto_deploy_override(project["Id"], environment["Id"], tenant["Id"], release["Id"])
    text = OLD_STATE.read_text()
    recorded = json.loads(text)["checkpoint"]["latest"]["resources"]
    [provider] = [r for r in recorded if r["type"] == "pulumi:providers:pulumi-python"]
    assert SIG_KEY in provider["inputs"]["octopus:apiKey"], "the old state records the key, encrypted"
    assert {(r["type"].rsplit(":", 1)[-1], r.get("id")) for r in recorded} >= {
        ("Tenant", tenant["Id"]), ("AutoDeployOverride", f"Spaces-1/{project['Id']}/{environment['Id']}/{tenant['Id']}"),
    }, "the emulator holds what the old state names"
    stack_file = cli.state_dir / ".pulumi" / "stacks" / "phoenix-octopus" / "ryan0001.json"
    stack_file.parent.mkdir(parents=True)
    (cli.state_dir / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    stack_file.write_text(text.replace(OLD_STATE_URL, emulator.url))

    destroyed = run(cli, "destroy", "ryan0001", key=emulator.api_key)
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert "destroyed" in destroyed.stdout
    assert emulator.tenants() == [] and overrides(emulator) == []
    assert not cli.has_stack("ryan0001")
