"""The emulator's command line seeds everything doctor checks, so a newcomer needs no Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automation import doctor
from automation.pulumi_cli import PROJECT_ROOT
from automation.stacks import Options, Session
from tests.octopus_emulator import OctopusEmulator
from tests.octopus_emulator.__main__ import parse_args, seed

KEY = "API-EMULATORCLI000000000001"


def seeded(*argv: str) -> OctopusEmulator:
    emulator = OctopusEmulator(api_key=KEY)
    seed(emulator, parse_args(list(argv)))
    return emulator


def test_ready_seeds_what_the_defaults_name_and_doctor_finds_it_all(monkeypatch, tmp_path: Path) -> None:
    with seeded("--ready", "--release", "Phoenix Web=1.0.0-ryan0001", "--extra-api-key", "API-REGISTER0000000001") as emu:
        monkeypatch.setenv("OCTOPUS_API_KEY", KEY)
        monkeypatch.setenv("OCTOPUS_REGISTRATION_API_KEY", "API-REGISTER0000000001")
        session = Session(Options(work_dir=PROJECT_ROOT, backend=f"file://{tmp_path}",
                                  overrides=(f"octopus:serverUrl={emu.url}",)), log=lambda line: None)
        ctx = doctor.context_for_doctor(session, "ryan0001", None)
        checks = doctor.run_checks(ctx, only=[spec.name for spec in doctor.CHECKS if spec.name.startswith("octopus.")])
    assert {check.name: check.status for check in checks if check.status != "ok"} == {}, checks
    [policy] = [p for p in emu.machine_policies() if p["Name"] == "Feature environments"]
    assert policy["MachineCleanupPolicy"]["DeleteMachinesBehavior"] == "DeleteUnavailableMachines"


def test_single_flags_seed_one_thing_each() -> None:
    emu = seeded(
        "--project", "Web", "--environment", "Test", "--machine-policy", "Keep", "--machine-policy", "Clean=1h",
        "--trigger", "Web=Test:web,api", "--trigger", "Web=Test", "--template", "Web=App.Url",
        "--template", "Web=App.DbPassword:sensitive",
    )
    templates = {t["Name"]: t["DisplaySettings"]["Octopus.ControlType"] for t in emu.project("Web")["Templates"]}
    assert templates == {"App.Url": "SingleLineText", "App.DbPassword": "Sensitive"}
    policies = {p["Name"]: p.get("MachineCleanupPolicy", {}).get("DeleteMachinesBehavior") for p in emu.machine_policies()}
    assert policies["Clean"] == "DeleteUnavailableMachines" and policies["Keep"] != "DeleteUnavailableMachines"
    triggers = emu.state.query(emu.default_space["Id"], "projecttriggers", {})
    assert sorted(t["Filter"]["Roles"] for t in triggers) == [[], ["web", "api"]]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--trigger", "Web"], "PROJECT=ENVIRONMENT"),
        (["--machine-policy", "P=soon"], "not a duration"),
        (["--trigger", "Nope=Test"], "Nope"),
        (["--template", "Web=X:secret"], "PROJECT=NAME[:sensitive]"),
    ],
)
def test_a_bad_seeding_flag_exits_2_naming_it(argv: list[str], needle: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.octopus_emulator", "--port", "0", *argv],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr
