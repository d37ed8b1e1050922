"""Every failure family maps to its own exit code and a message a CI log can act on."""

from __future__ import annotations

import pytest
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import create_command_error

from automation.config import ConfigError
from automation.errors import (
    ChangesFound,
    ExitCode,
    InputError,
    Interrupted,
    StackLocked,
    classify,
    engine_message,
    lock_holder,
)
from automation.feature import FeatureError
from automation.pulumi_cli import PulumiCliMissing
from components.octopus.errors import OctopusAuthError, OctopusConflict, OctopusUnavailable
from components.settings import SettingsError

DIY_LOCK = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
    "or delete the lock file with `pulumi cancel`.\n"
    "  file:///state/.pulumi/locks/organization/phoenix/ryan0001/1b2c.json: "
    "created by ci@runner-7 (pid 4242) at 2026-01-01T00:00:00Z"
)


def command_error(stderr: str, stdout: str = "", code: int = 255):
    """The exception the Automation API raises for a failed `pulumi` run with this output."""
    return create_command_error(CommandResult(stdout=stdout, stderr=stderr, code=code))


def test_a_file_backend_lock_is_exit_4_naming_stack_and_holder() -> None:
    error = command_error(DIY_LOCK)
    assert type(error).__name__ == "ConcurrentUpdateError"
    failure = classify(error, stack="ryan0001")
    assert failure.code == ExitCode.LOCKED == 4
    assert "'ryan0001'" in failure.message
    assert "ci@runner-7, pid 4242" in failure.message
    assert "--wait-lock" in failure.message


def test_a_service_backend_conflict_is_exit_4_too() -> None:
    error = command_error("error: [409] Conflict: Another update is currently in progress.")
    assert type(error).__name__ == "ConcurrentUpdateError"
    assert classify(error, stack="ryan0001").code == ExitCode.LOCKED


def test_a_missing_stack_is_exit_1_and_named() -> None:
    error = command_error("error: no stack named 'ryan0001' found")
    assert type(error).__name__ == "StackNotFoundError"
    failure = classify(error, stack="ryan0001")
    assert failure.code == ExitCode.FAILED and "'ryan0001' does not exist" in failure.message


def test_an_existing_stack_error_keeps_the_engine_message() -> None:
    error = command_error("error: stack 'ryan0001' already exists")
    assert type(error).__name__ == "StackAlreadyExistsError"
    failure = classify(error, stack="ryan0001")
    assert failure.code == ExitCode.FAILED and "already exists" in failure.message


def test_a_failed_update_shows_the_engines_error_lines_not_its_progress() -> None:
    stdout = "\n".join([
        "Updating (ryan0001):",
        " +  pulumi-python:dynamic/octopus:Tenant ryan0001-tenant creating (0s)",
        " +  pulumi-python:dynamic/octopus:Tenant ryan0001-tenant **creating failed** error: "
        "Octopus refused: A tenant with this name already exists.",
        "Diagnostics:",
        "  pulumi-python:dynamic/octopus:Tenant (ryan0001-tenant):",
        "    error: Octopus refused: A tenant with this name already exists.",
        "Resources:",
        "    1 errored",
    ])
    error = command_error("", stdout=stdout)
    assert type(error).__name__ == "CommandError"
    failure = classify(error, stack="ryan0001")
    assert failure.code == ExitCode.FAILED
    assert failure.message == "ryan0001: Octopus refused: A tenant with this name already exists."


def test_a_program_error_is_exit_1_with_its_message() -> None:
    stdout = (
        "error: an unhandled error occurred: Program exited with non-zero exit code: 1\n"
        "    error: python inline source runtime error: KeyError: 'octopus'"
    )
    error = command_error("", stdout=stdout)
    assert type(error).__name__ in ("InlineSourceRuntimeError", "RuntimeError")
    failure = classify(error, stack="ryan0001")
    assert failure.code == ExitCode.FAILED and "KeyError: 'octopus'" in failure.message


def test_the_result_attached_by_the_engine_wins_over_parsing_text() -> None:
    error = command_error("error: from text")
    error.command_result = CommandResult(stdout="", stderr="error: from the result", code=1)
    assert classify(error).message == "from the result"


def test_engine_message_without_error_lines_keeps_the_tail_without_noise() -> None:
    stderr = "Updating (ryan0001):\nsomething broke\nDuration: 3s\n"
    assert engine_message("", stderr) == "something broke"
    assert engine_message("", "") == "the Pulumi CLI failed without a message"


def test_lock_holder_is_read_from_the_lock_message() -> None:
    assert lock_holder(DIY_LOCK).startswith("ci@runner-7, pid 4242, taken ")
    assert lock_holder(DIY_LOCK).endswith(" ago at 2026-01-01 00:00:00 UTC")
    assert lock_holder("error: something else") is None


def test_the_exit_4_detail_gives_each_holders_host_pid_and_age() -> None:
    from datetime import datetime, timezone

    from automation.locks import holders_text

    now = datetime(2026, 1, 1, 2, 5, 30, tzinfo=timezone.utc)
    assert holders_text(DIY_LOCK, now) == "ci@runner-7, pid 4242, taken 2h5m30s ago at 2026-01-01 00:00:00 UTC"
    s3 = (
        "error: the stack is currently locked by 2 lock(s). Either wait ...\n"
        "  s3://state/phoenix/.pulumi/locks/organization/phoenix/ryan0001/a.json?endpoint=http%3A%2F%2F127.0.0.1%3A9000"
        "&use_path_style=true: created by ci@runner-7 (pid 4242) at 2026-01-01T02:05:29.123456789+00:00\n"
        "  s3://state/phoenix/.pulumi/locks/organization/phoenix/ryan0001/b.json: "
        "created by ci@runner-8 (pid 7) at 2026-01-01T01:00:00Z"
    )
    assert holders_text(s3, now) == (
        "ci@runner-7, pid 4242, taken 0s ago at 2026-01-01 02:05:29 UTC; "
        "ci@runner-8, pid 7, taken 1h5m30s ago at 2026-01-01 01:00:00 UTC"
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (FeatureError("bad feature"), ExitCode.BAD_INPUT),
        (ConfigError("stacks/defaults.yaml", "network.nat", "bad"), ExitCode.BAD_INPUT),
        (SettingsError("phoenix:network.nat", "bad"), ExitCode.BAD_INPUT),
        (InputError("bad input"), ExitCode.BAD_INPUT),
        (PulumiCliMissing("the Pulumi CLI was not found: run scripts/install-pulumi"), ExitCode.BAD_INPUT),
        (OctopusAuthError("401 Unauthorized", method="GET", path="/api/users/me", status=401), ExitCode.BAD_INPUT),
        (OctopusConflict("duplicate", method="POST", path="/api/Spaces-1/tenants", status=400), ExitCode.FAILED),
        (OctopusUnavailable("503 after 4 retries", method="GET", path="/api", status=503), ExitCode.FAILED),
        (ChangesFound("changes"), ExitCode.CHANGES),
        (StackLocked("ryan0001"), ExitCode.LOCKED),
        (Interrupted("stop"), ExitCode.INTERRUPTED),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (PermissionError(13, "Permission denied"), ExitCode.FAILED),
        (ZeroDivisionError("boom"), ExitCode.FAILED),
    ],
)
def test_exit_code_of_each_error_family(error: BaseException, code: ExitCode) -> None:
    failure = classify(error)
    assert failure.code == code
    assert failure.message


def test_exit_codes_are_the_documented_numbers() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130]


def test_the_cli_missing_message_says_how_to_install_it() -> None:
    message = classify(PulumiCliMissing("the Pulumi CLI was not found: run scripts/install-pulumi")).message
    assert "scripts/install-pulumi" in message


def test_an_unexpected_error_names_its_type() -> None:
    assert classify(ZeroDivisionError("boom")).message == "unexpected error: ZeroDivisionError: boom"


def test_a_provider_traceback_is_reduced_to_its_exception() -> None:
    stdout = "\n".join([
        "Updating (ryan0001):",
        "    pulumi-python:dynamic/octopus:Tenant ryan0001-tenant  error: Traceback (most recent call last):",
        "    pulumi-python:dynamic/octopus:Tenant ryan0001-tenant **failed** 1 error",
        "Diagnostics:",
        "  pulumi-python:dynamic/octopus:Tenant (ryan0001-tenant):",
        "    error: Traceback (most recent call last):",
        '      File "/work/main/components/octopus/client.py", line 233, in find_project',
        '        found = self._find_by_name("projects", name_or_slug)',
        "                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "    components.octopus.errors.OctopusAuthError: GET /api/spaces -> 401: You must be logged in.",
        "Resources:",
        "    1 errored",
    ])
    failure = classify(command_error("", stdout=stdout), stack="ryan0001")
    assert failure.code == ExitCode.FAILED
    assert failure.message == "ryan0001: OctopusAuthError: GET /api/spaces -> 401: You must be logged in."


def test_a_provider_failure_is_one_line_of_cause_and_one_of_advice() -> None:
    stdout = "\n".join([
        "Diagnostics:",
        "  pulumi-python:dynamic/octopus:AutoDeployOverride (ryan0001-override):",
        "    error: Traceback (most recent call last):",
        '      File "/x/client.py", line 1, in get',
        "    components.octopus.errors.OctopusAuthError: GET /api/spaces/Spaces-1 -> 401: You must be logged in.",
        "  pulumi:pulumi:Stack (phoenix-octopus-ryan0001):",
        "    error: update failed",
    ])
    failure = classify(command_error("", stdout=stdout), stack="ryan0001")
    assert failure.message == "ryan0001: OctopusAuthError: GET /api/spaces/Spaces-1 -> 401: You must be logged in."
    assert "\n" not in failure.message and "OCTOPUS_API_KEY" in failure.advice and "\n" not in failure.advice


@pytest.mark.parametrize(
    ("cause", "code", "advice"),
    [
        ("error: pulumi-python:dynamic/octopus:AutoDeployOverride resource 'x' has a problem: Octopus project "
         "'Phoenix Web' has no release '9.9.9-ryan0001': create the release", ExitCode.FAILED, "publish the package"),
        ("error: TenantNameTaken: an Octopus tenant named 'ryan0001' already exists in space 'Default'",
         ExitCode.FAILED, "adoptExistingTenant"),
        ("error: no resource plugin 'pulumi-resource-aws' found in the workspace at version v7.51.1",
         ExitCode.FAILED, "install the provider plugin"),
        ("error: failed to decrypt: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE", ExitCode.BAD_INPUT,
         "the passphrase this feature's stack was created with"),
        ("error: something nobody foresaw", ExitCode.FAILED, "run the same command again"),
    ],
)
def test_each_known_engine_cause_gets_its_own_advice(cause: str, code: ExitCode, advice: str) -> None:
    failure = classify(command_error(cause), stack="ryan0001")
    assert failure.code == code and advice in failure.advice
    assert "pulumi stack rm" not in failure.advice and "pulumi cancel" not in failure.advice


def test_several_errors_name_the_first_and_count_the_rest() -> None:
    stdout = "Diagnostics:\n  a:\n    error: first cause\n  b:\n    error: second cause\n  c:\n    error: update failed"
    assert engine_message(stdout, "") == "first cause (and 1 more error)"


def test_a_huge_value_is_cut_in_the_middle_not_echoed_whole() -> None:
    value = "x" * 5000
    failure = classify(ConfigError("--set", "phoenix:fleet.os", f"{value!r} is not one of linux, windows"))
    assert failure.code == ExitCode.BAD_INPUT
    assert len(failure.message) < 400 and "(50" in failure.message
    assert failure.message.startswith("--set: phoenix:fleet.os: 'xxx") and "is not one of linux, windows" in failure.message
