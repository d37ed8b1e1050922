"""`python -m automation doctor`, and `create` stopping at a failed preflight check, through the real CLI entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from automation.cli import main
from tests.doctor.conftest import ENVIRONMENT, FEATURE, POLICY, PROJECT, ROLE, VERSION, assert_named
from tests.octopus_emulator.fixtures import TEST_API_KEY, TEST_REGISTRATION_KEY


@pytest.fixture
def ready_machine(monkeypatch, tmp_path: Path, pulumi_bin: Path, phoenix_plugins: Path):
    """Everything but Octopus in order: passphrase, AWS credentials (moto), the Pulumi CLI and its plugins."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("OCTOPUS_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("OCTOPUS_REGISTRATION_API_KEY", TEST_REGISTRATION_KEY)
    with mock_aws():
        yield tmp_path / "state"


def _args(emulator, state: Path, *extra: str) -> list[str]:
    return [
        *extra,
        "--backend", f"file://{state}",
        "--set", f"octopus:serverUrl={emulator.url}",
        "--set", f"phoenix:octopus.project={PROJECT}",
        "--set", f"phoenix:octopus.environment={ENVIRONMENT}",
        "--set", f"phoenix:octopus.roles=[{ROLE}]",
        "--set", f"phoenix:octopus.machinePolicy={POLICY}",
    ]


def test_doctor_json_on_a_ready_setup_exits_zero(ready_octopus, ready_machine, capsys) -> None:
    code = main(_args(ready_octopus, ready_machine, "doctor", VERSION, "--json"))
    out, _ = capsys.readouterr()
    document = json.loads(out)
    assert code == 0
    assert document["ok"] is True
    assert document["counts"] == {"ok": len(document["checks"]), "warn": 0, "fail": 0}
    assert TEST_API_KEY not in out and TEST_REGISTRATION_KEY not in out


def test_doctor_table_without_trigger_exits_two(octopus_emulator, ready_machine, capsys) -> None:
    octopus_emulator.seed_project(PROJECT)
    octopus_emulator.seed_environment(ENVIRONMENT)
    code = main(_args(octopus_emulator, ready_machine, "doctor"))
    out, _ = capsys.readouterr()
    assert code == 2
    trigger_line = next(line for line in out.splitlines() if line.startswith("octopus.trigger"))
    assert trigger_line.split()[1] == "fail"
    assert "octopus.release          ok      not checked" in out


def test_create_without_autodeploy_trigger_stops_before_any_stack_operation(
    octopus_emulator, ready_machine, capsys
) -> None:
    emu = octopus_emulator
    emu.seed_project(PROJECT)
    emu.seed_environment(ENVIRONMENT)
    emu.seed_machine_policy(POLICY)
    emu.seed_release(PROJECT, VERSION)
    emu.clear_log()

    code = main(_args(emu, ready_machine, "create", VERSION))

    _, err = capsys.readouterr()
    assert code == 2, err
    assert_named(err, "octopus.trigger", repr(PROJECT), repr(ENVIRONMENT), repr(ROLE), "--skip-preflight")
    assert not (ready_machine / ".pulumi").exists(), "no stack may be created"
    assert [r for r in emu.request_log if r.method != "GET"] == [], "nothing written to Octopus"
    assert emu.tenants() == []


def test_create_without_a_version_shows_the_checks_not_the_release_look_up(
    octopus_emulator, ready_machine, capsys
) -> None:
    # No project: looking the feature's release up would stop at its first error.
    octopus_emulator.seed_environment(ENVIRONMENT)
    octopus_emulator.clear_log()

    code = main(_args(octopus_emulator, ready_machine, "create", FEATURE))

    _, err = capsys.readouterr()
    assert code == 2
    assert_named(err, "create stopped before touching the stack", f"octopus.project: no project named {PROJECT!r}",
                 "--skip-preflight")
    assert "cannot find the feature's release" not in err
    assert not (ready_machine / ".pulumi").exists(), "no stack may be created"
    assert [r for r in octopus_emulator.request_log if r.method != "GET"] == []


def test_preview_without_a_version_checks_the_release_it_would_look_up(ready_octopus, ready_machine, capsys) -> None:
    code = main(_args(ready_octopus, ready_machine, "preview", "other01"))
    _, err = capsys.readouterr()
    assert code == 2
    assert_named(err, "preview stopped before touching the stack",
                 f"octopus.release: project {PROJECT!r} has no release whose pre-release tag names 'other01'")
    assert not (ready_machine / ".pulumi").exists()


@pytest.mark.parametrize("registration", [None, TEST_API_KEY], ids=["missing", "the-deploy-key"])
def test_create_and_doctor_refuse_instances_the_deploy_key(
    ready_octopus, ready_machine, capsys, monkeypatch, registration
) -> None:
    if registration is None:
        monkeypatch.delenv("OCTOPUS_REGISTRATION_API_KEY")
    else:
        monkeypatch.setenv("OCTOPUS_REGISTRATION_API_KEY", registration)
    ready_octopus.clear_log()
    for extra in ((), ("--skip-preflight",)):
        code = main(_args(ready_octopus, ready_machine, "create", VERSION, *extra))
        _, err = capsys.readouterr()
        assert code == 2, extra
        assert_named(err, "OCTOPUS_REGISTRATION_API_KEY", "shareDeployKeyWithInstances", "deploy key")
        assert TEST_API_KEY not in err
    assert not (ready_machine / ".pulumi").exists(), "no stack may be created"
    code = main(_args(ready_octopus, ready_machine, "doctor", VERSION))
    out, _ = capsys.readouterr()
    assert code == 2
    line = next(line for line in out.splitlines() if line.startswith("octopus.registrationKey"))
    assert line.split()[1] == "fail"
    assert [r for r in ready_octopus.request_log if r.method != "GET"] == [], "nothing written to Octopus"
    assert ready_octopus.tenants() == []


def test_with_the_orgs_opt_in_every_doctor_and_create_run_warns(ready_octopus, ready_machine, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OCTOPUS_REGISTRATION_API_KEY")
    opt_in = ("--set", "phoenix:octopus.shareDeployKeyWithInstances=true")
    for _ in range(2):
        code = main(_args(ready_octopus, ready_machine, "doctor", VERSION, *opt_in))
        out, _ = capsys.readouterr()
        assert code == 0
        line = next(line for line in out.splitlines() if line.startswith("octopus.registrationKey"))
        assert line.split()[1] == "warn" and "deploy key" in line
    main(_args(ready_octopus, ready_machine, "create", VERSION, *opt_in))  # the engine fails later: no AWS here
    _, err = capsys.readouterr()
    assert_named(err, f"[{FEATURE}] warning: octopus.registrationKey:", "unsafe")
