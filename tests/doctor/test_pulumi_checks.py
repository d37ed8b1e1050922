"""Pulumi checks: the CLI and its release line, the state backend, the secrets passphrase."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from automation import doctor, pulumi_cli
from tests.doctor.conftest import assert_named, run_one


def test_installed_cli_matches_the_sdk(make_context, pulumi_bin: Path) -> None:
    check = run_one(make_context(), "pulumi.cli")
    assert check.status == "ok"
    assert_named(check.found, str(pulumi_bin), f"pulumi {doctor.sdk_version()}")


def test_missing_cli_fails_with_the_install_hint(make_context, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pulumi_cli, "INSTALL_ROOT", tmp_path / "no-install")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    check = run_one(make_context(), "pulumi.cli")
    assert check.status == "fail"
    assert check.fix == pulumi_cli.INSTALL_HINT


@pytest.mark.parametrize(
    "found, status",
    [
        ("3.260.0", "ok"),
        ("v3.260.1", "ok"),
        ("3.261.0", "warn"),
        ("3.100.0", "warn"),
        ("4.0.0", "fail"),
        ("2.25.2", "fail"),
        ("", "fail"),
        ("warning: could not read plugins", "fail"),
    ],
)
def test_cli_version_against_the_sdk_release_line(found: str, status: str) -> None:
    check = doctor.judge_cli_version("/opt/pulumi", found, "3.260.0")
    assert check.status == status
    if status != "ok":
        assert_named(check.fix, "3.260.0", "scripts/install-pulumi")


def test_file_backend_writable(make_context, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    check = run_one(make_context(backend=f"file://{state}"), "pulumi.backend")
    assert (check.status, check.found) == ("ok", f"file://{state}: writable")
    assert list(state.iterdir()) == [], "the write probe must not leave files behind"


def test_file_backend_created_later_when_its_parent_is_writable(make_context, tmp_path: Path) -> None:
    check = run_one(make_context(backend=f"file://{tmp_path}/new/state"), "pulumi.backend")
    assert (check.status, "will be created" in check.found) == ("ok", True)
    assert not (tmp_path / "new").exists(), "doctor creates nothing"


def test_file_backend_under_a_file_fails(make_context, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    check = run_one(make_context(backend=f"file://{blocker}/state"), "pulumi.backend")
    assert check.status == "fail"
    assert_named(check.found, "is not a folder")
    assert_named(check.fix, "PULUMI_BACKEND_URL")


@mock_aws
def test_s3_backend_with_its_bucket(make_context, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="phoenix-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    check = run_one(make_context(backend="s3://phoenix-state/features?region=eu-west-1"), "pulumi.backend")
    assert (check.status, "'phoenix-state' reachable" in check.found) == ("ok", True)


@mock_aws
def test_s3_backend_without_its_bucket_fails(make_context, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    check = run_one(make_context(backend="s3://phoenix-state-gone?region=eu-west-1"), "pulumi.backend")
    assert check.status == "fail"
    assert_named(check.found, "'phoenix-state-gone'", "does not exist")


def test_service_backend_needs_a_token(make_context, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_HOME", str(Path(make_context().work_dir) / ".pulumi" / "home"))
    failed = run_one(make_context(backend="https://api.pulumi.example"), "pulumi.backend")
    assert (failed.status, "PULUMI_ACCESS_TOKEN" in failed.fix) == ("fail", True)
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-0000000000000000")
    passed = run_one(make_context(backend="https://api.pulumi.example"), "pulumi.backend")
    assert passed.status == "ok"
    assert "pul-0000000000000000" not in passed.found


def test_unknown_backend_scheme_fails(make_context) -> None:
    check = run_one(make_context(backend="ftp://state.example/phoenix"), "pulumi.backend")
    assert check.status == "fail"


def test_passphrase_from_the_environment(make_context, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse")
    check = run_one(make_context(), "pulumi.passphrase")
    assert (check.status, check.found) == ("ok", "from PULUMI_CONFIG_PASSPHRASE")
    assert "correct horse" not in doctor.render_json([check])


def test_passphrase_from_a_readable_file(make_context, monkeypatch, tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(secret))
    check = run_one(make_context(), "pulumi.passphrase")
    assert (check.status, str(secret) in check.found) == ("ok", True)


def test_no_passphrase_fails(make_context) -> None:
    check = run_one(make_context(), "pulumi.passphrase")
    assert check.status == "fail"
    assert_named(check.fix, "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


def test_passphrase_file_that_is_missing_fails(make_context, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "absent"))
    check = run_one(make_context(), "pulumi.passphrase")
    assert check.status == "fail"
    assert_named(check.found, str(tmp_path / "absent"))
