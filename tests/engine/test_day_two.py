"""After the demo: failed creates, a taken tenant name, a wrong passphrase, a person at a terminal.

Each runs the real command line, engine and emulator (the Octopus test project), as CI or a
person would, and checks what they are told and what is left behind.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Optional

import pytest

from automation.pulumi_cli import PROJECT_ROOT
from tests.engine.test_cli_end_to_end import (  # noqa: F401 - `cli` is a fixture
    ENVIRONMENT, PROJECT, Cli, cli, error_lines, overrides, own_traceback,
)

pytestmark = pytest.mark.engine

#: `python -m automation` with AWS answered by moto in the same process (doctor's AWS checks).
WITH_MOTO = (
    "import sys; from moto import mock_aws; from automation.cli import main; "
    "sys.exit(mock_aws(main)(sys.argv[1:]))"
)


def one_failure(stderr: str) -> tuple[str, str, Path]:
    """The failure as printed: exactly one `error:` line, then `hint:` and `log:`; (error, hint, log)."""
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr[-3000:]
    lines = stderr.splitlines()
    at = lines.index(errors[0])
    hint, log = lines[at + 1], lines[at + 2]
    assert hint.startswith("hint: ") and log.startswith("log: "), stderr[-3000:]
    assert "Traceback" not in stderr and "pulumi stack rm" not in stderr and "pulumi cancel" not in stderr
    return errors[0], hint, Path(log[len("log: "):])


def test_list_tells_a_failed_create_from_a_live_environment_and_keeps_the_deployed_version(cli: Cli) -> None:
    emulator = cli.emulator
    emulator.seed_release(PROJECT, "1.0.0-ryan0001")

    # --skip-preflight: the release is found missing only by the override, after the tenant was made.
    never = cli.run("create", "ryan0001", "--version", "9.9.9-ryan0001")
    assert never.returncode == 1, never.stderr[-3000:]
    error, hint, log = one_failure(never.stderr)
    assert "has no release '9.9.9-ryan0001'" in error and "publish the package" in hint
    assert log.is_file() and log.parent == cli.work_dir / ".state" / "logs"
    [row] = cli.json("list")
    assert (row["status"], row["packageVersion"]) == ("create failed", None)
    assert (row["lastOperation"]["command"], row["lastOperation"]["result"]) == ("create", "failed")

    assert cli.run("create", "1.0.0-ryan0001").returncode == 0
    [row] = cli.json("list")
    assert (row["status"], row["packageVersion"]) == ("live", "1.0.0-ryan0001")
    failed = cli.run("create", "ryan0001", "--version", "9.9.9-ryan0001")
    assert failed.returncode == 1, failed.stderr[-3000:]
    [row] = cli.json("list")
    assert (row["status"], row["packageVersion"]) == ("create failed", "1.0.0-ryan0001")
    table = cli.run("list").stdout
    assert "create failed" in table and "1.0.0-ryan0001" in table and "9.9.9" not in table

    destroyed = cli.json("destroy", "ryan0001")
    assert destroyed["packageVersion"] == "1.0.0-ryan0001", "the deployed version, not the one that failed"
    assert emulator.tenants() == [] and overrides(emulator) == []


def test_a_taken_tenant_name_stops_create_in_the_preflight(cli: Cli) -> None:
    emulator = cli.emulator
    emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    emulator.seed_machine_policy("Feature environments", delete_unavailable_after=timedelta(minutes=20))
    emulator.seed_trigger(PROJECT, environments=[ENVIRONMENT], roles=["web"])
    taken = emulator.seed_tenant("ryan0001", projects=[PROJECT], environments=[ENVIRONMENT])
    env = {k: v for k, v in cli.env.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    argv = [sys.executable, "-c", WITH_MOTO, "create", "1.0.0-ryan0001", "--work-dir", str(cli.work_dir),
            "--set", f"octopus:serverUrl={emulator.url}"]
    emulator.clear_log()
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "1 preflight check(s) failed" in result.stderr
    assert "octopus.tenant:" in result.stderr and taken["Id"] in result.stderr
    assert "adoptExistingTenant" in result.stderr
    assert not cli.has_stack("ryan0001")
    assert [r for r in emulator.request_log if r.method != "GET"] == []
    assert emulator.tenants() == [taken]


def test_a_provider_failure_is_one_message_and_the_traceback_goes_to_the_log(cli: Cli) -> None:
    emulator = cli.emulator
    emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    emulator.seed_tenant("ryan0001", projects=[PROJECT], environments=[ENVIRONMENT])

    quiet = cli.run("create", "1.0.0-ryan0001")  # --skip-preflight: the provider finds the name taken
    assert quiet.returncode == 1, quiet.stderr[-3000:]
    error, hint, log = one_failure(quiet.stderr)
    assert error.startswith("error: ryan0001: TenantNameTaken: an Octopus tenant named 'ryan0001' already exists")
    assert "adoptExistingTenant" in hint
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "TenantNameTaken" in text
    assert emulator.api_key not in text
    assert not cli.has_stack("ryan0001"), "nothing was created: the stack went too"

    verbose = cli.run("create", "1.0.0-ryan0001", "--verbose")
    assert verbose.returncode == 1
    assert "[ryan0001]       File " in verbose.stderr and "Traceback" in verbose.stderr


def test_a_wrong_passphrase_is_bad_input_with_a_hint_and_list_needs_none(cli: Cli) -> None:
    cli.emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    assert cli.run("create", "1.0.0-ryan0001", "--quiet").returncode == 0
    config_file = cli.work_dir / "Pulumi.ryan0001.yaml"
    before = config_file.read_text()
    wrong = dict(cli.env, PULUMI_CONFIG_PASSPHRASE="not-the-passphrase-at-all")
    result = subprocess.run(cli.argv("destroy", "ryan0001"), cwd=PROJECT_ROOT, env=wrong, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "incorrect passphrase" in result.stderr and "PULUMI_CONFIG_PASSPHRASE" in result.stderr
    assert not own_traceback(result.stderr)
    assert config_file.read_text() == before, "nothing was written"
    assert [t["Name"] for t in cli.emulator.tenants()] == ["ryan0001"]

    no_passphrase = {k: v for k, v in cli.env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    listed = subprocess.run(cli.argv("list", "--json"), cwd=PROJECT_ROOT, env=no_passphrase,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert [row["feature"] for row in json.loads(listed.stdout)] == ["ryan0001"]


def on_a_terminal(cli: Cli, *args: str, answer: Optional[str], **env: str) -> tuple[int, str]:
    """Run with stdin a pseudo-terminal (`answer` typed in advance); (exit code, stderr)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            cli.argv(*args), cwd=PROJECT_ROOT, env={**cli.env, **env}, stdin=terminal,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        os.close(terminal)
        terminal = -1
        if answer is not None:
            os.write(controller, answer.encode())
        _, err = process.communicate(timeout=240)
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    return process.returncode, err


def test_destroy_and_reap_ask_a_person_at_a_terminal_and_no_one_else(cli: Cli) -> None:
    emulator = cli.emulator
    for feature in ("ryan0001", "bob0001"):
        emulator.seed_release(PROJECT, f"1.0.0-{feature}")
        assert cli.run("create", f"1.0.0-{feature}", "--quiet").returncode == 0

    code, err = on_a_terminal(cli, "destroy", "ryan0001", answer="n\n")
    assert code == 1, err[-3000:]
    assert "Destroy feature 'ryan0001' (stack ryan0001, package 1.0.0-ryan0001)" in err and "[y/N]" in err
    assert "not confirmed: nothing was changed" in err
    code, err = on_a_terminal(cli, "reap", "--older-than", "0s", answer="no\n")
    assert code == 1 and "Destroy 2 expired features (bob0001, ryan0001)? [y/N]" in err
    assert sorted(t["Name"] for t in emulator.tenants()) == ["bob0001", "ryan0001"]
    assert cli.has_stack("ryan0001") and cli.has_stack("bob0001")

    code, err = on_a_terminal(cli, "destroy", "ryan0001", "--yes", answer=None)
    assert code == 0 and "[y/N]" not in err, err[-3000:]
    code, err = on_a_terminal(cli, "destroy", "bob0001", answer=None, CI="true")
    assert code == 0 and "[y/N]" not in err, err[-3000:]
    assert emulator.tenants() == []
