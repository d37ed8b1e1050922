"""The report: which checks run for which command, the table, the JSON document, the exit code."""

from __future__ import annotations

import json

import pytest

from automation import doctor
from automation.errors import ExitCode, InputError, classify
from tests.doctor.conftest import VERSION, assert_named, check_named, run_one

SAMPLE = [
    doctor.Check("pulumi.cli", "ok", "pulumi 3.260.0 at /opt/pulumi/bin/pulumi, SDK 3.260.0"),
    doctor.Check("octopus.registrationKey", "warn", "octopus:registrationApiKey is not set", "export it"),
    doctor.Check("octopus.trigger", "fail", "project 'Phoenix Web' has no trigger", "add one"),
]


def test_check_order_puts_each_prerequisite_first_and_in_the_same_scopes() -> None:
    names = [spec.name for spec in doctor.CHECKS]
    assert len(names) == len(set(names))
    for index, spec in enumerate(doctor.CHECKS):
        for need in spec.needs:
            assert need in names[:index], f"{spec.name} needs {need}, which runs later"
            assert spec.scopes <= doctor.CHECKS[names.index(need)].scopes, (spec.name, need)


def test_preview_runs_no_octopus_check_and_create_runs_them_all() -> None:
    preview = {spec.name for spec in doctor.CHECKS if "preview" in spec.scopes}
    create = {spec.name for spec in doctor.CHECKS if "create" in spec.scopes}
    assert not any(name.startswith("octopus.") for name in preview)
    assert {"pulumi.cli", "pulumi.backend", "pulumi.passphrase", "aws.credentials"} <= preview
    assert create == {spec.name for spec in doctor.CHECKS}


def test_unknown_scope_or_check_is_refused(make_context) -> None:
    with pytest.raises(ValueError, match="scope"):
        doctor.run_checks(make_context(), "destroy")
    with pytest.raises(ValueError, match="octopus.nope"):
        doctor.run_checks(make_context(), only=["octopus.nope"])


def test_valid_settings_pass(make_context) -> None:
    assert run_one(make_context(), "settings").status == "ok"


def test_bad_settings_fail_naming_key_and_source_and_block_octopus(ready_octopus, make_context) -> None:
    ready_octopus.clear_log()
    checks = doctor.run_checks(make_context("phoenix:network.nat=double"), only=["octopus.project"])
    settings = check_named(checks, "settings")
    assert settings.status == "fail"
    assert_named(settings.found, "phoenix:network.nat", "'double'")
    assert_named(settings.fix, "--set: phoenix:network.nat")
    assert check_named(checks, "octopus.project").found.startswith("not checked")
    assert ready_octopus.request_log == []


def test_exit_code_is_two_only_when_a_check_fails() -> None:
    assert doctor.exit_code(SAMPLE[:2]) == 0
    assert doctor.exit_code(SAMPLE) == 2 == ExitCode.BAD_INPUT


def test_a_check_status_is_one_of_three() -> None:
    with pytest.raises(ValueError, match="ok, warn, fail"):
        doctor.Check("pulumi.cli", "skipped", "")


def test_json_document_is_stable_and_documented_shape() -> None:
    text = doctor.render_json(SAMPLE)
    assert text == doctor.render_json(list(SAMPLE))
    document = json.loads(text)
    assert document == {
        "schema": 1,
        "ok": False,
        "counts": {"ok": 1, "warn": 1, "fail": 1},
        "checks": [
            {"name": c.name, "status": c.status, "found": c.found, "fix": c.fix} for c in SAMPLE
        ],
    }
    assert text == json.dumps(document, indent=2, sort_keys=True), "keys sorted, two-space indent"
    assert json.loads(doctor.render_json(SAMPLE[:2]))["ok"] is True


def test_table_shows_fixes_only_where_something_is_wrong() -> None:
    lines = doctor.render_table(SAMPLE).splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "FOUND"]
    assert lines[1].split()[:2] == ["pulumi.cli", "ok"]
    assert lines[2].split()[:2] == ["octopus.registrationKey", "warn"]
    assert lines[3].strip() == "fix: export it"
    assert lines[4].split()[:2] == ["octopus.trigger", "fail"]
    assert lines[5].strip() == "fix: add one"
    assert lines[-1] == "3 checks: 1 ok, 1 warn, 1 fail"
    assert lines[3].index("fix:") == lines[1].index("pulumi 3.260.0"), "fixes align under FOUND"


def test_preflight_stops_with_bad_input_naming_each_failure(make_context) -> None:
    with pytest.raises(doctor.PreflightFailed) as caught:
        doctor.preflight(make_context(api_key=None), "create")
    error = caught.value
    assert isinstance(error, InputError)
    failure = classify(error)
    assert failure.code == ExitCode.BAD_INPUT
    assert_named(failure.message, "create stopped before touching the stack", "octopus.apiKey", "OCTOPUS_API_KEY")
    assert {c.name for c in error.checks if c.status == "fail"} >= {"octopus.apiKey", "pulumi.passphrase"}


def test_preflight_returns_warnings_when_nothing_fails(
    ready_octopus, make_context, monkeypatch, pulumi_bin, phoenix_plugins
) -> None:
    from moto import mock_aws

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        # The org shares the deploy key with instances: the one warning, and it does not stop create.
        checks = doctor.preflight(
            make_context("phoenix:octopus.shareDeployKeyWithInstances=true", registration_key=None), "create"
        )
    assert [c.name for c in checks] == [spec.name for spec in doctor.CHECKS]
    assert {c.name for c in checks if c.status != "ok"} == {"octopus.registrationKey"}


def test_context_repr_holds_no_secret(make_context) -> None:
    ctx = make_context(registration_key="API-REGISTERONLY000000000000001")
    assert ctx.config["octopus:apiKey"]
    text = repr(ctx)
    assert "API-" not in text


@pytest.fixture
def ready_machine(monkeypatch, pulumi_bin, phoenix_plugins):
    from moto import mock_aws

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_preview_with_a_version_asks_octopus_nothing(ready_octopus, make_context, ready_machine) -> None:
    ready_octopus.clear_log()
    checks = doctor.preflight(make_context(), "preview")
    assert not any(c.name.startswith("octopus.") for c in checks)
    assert ready_octopus.request_log == []


def test_preview_without_a_version_runs_the_release_check_and_what_it_needs(
    ready_octopus, make_context, ready_machine
) -> None:
    checks = doctor.preflight(make_context(version=None), "preview")
    octopus = [c.name for c in checks if c.name.startswith("octopus.")]
    assert octopus == ["octopus.apiKey", "octopus.server", "octopus.user", "octopus.space",
                       "octopus.project", "octopus.release"]
    assert check_named(checks, "octopus.release").found == f"{VERSION} is Releases-1"


def test_preflight_without_a_version_fails_on_a_feature_without_release(ready_octopus, make_context) -> None:
    with pytest.raises(doctor.PreflightFailed) as caught:
        doctor.preflight(make_context(feature="other01", version=None), "preview")
    release = check_named(caught.value.checks, "octopus.release")
    assert release.status == "fail"
    assert_named(release.found, "'other01'")


def test_failure_message_indents_every_line_of_a_finding() -> None:
    check = doctor.Check("pulumi.plugins", "fail", "first line\nsecond line", "do this")
    lines = doctor.render_failures([check], "create").splitlines()
    assert lines[1:4] == ["  pulumi.plugins: first line", "    second line", "    fix: do this"]
