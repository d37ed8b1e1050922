"""AWS checks: a region the SDK knows, credentials found locally and accepted by STS (moto)."""

from __future__ import annotations

import socket
import time

from moto import mock_aws

from automation import doctor
from tests.doctor.conftest import assert_named, run_one


def _set_credentials(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def test_known_region(make_context) -> None:
    check = run_one(make_context(), "aws.region")
    assert (check.status, check.found.startswith("eu-west-1")) == ("ok", True)


def test_region_no_sdk_knows_warns(make_context) -> None:
    check = run_one(make_context("aws:region=eu-middle-7"), "aws.region")
    assert check.status == "warn"
    assert_named(check.fix, "aws:region", "--set")


def test_missing_region_fails(make_context) -> None:
    ctx = make_context()
    config = {key: value for key, value in ctx.config.items() if key != "aws:region"}
    ctx = doctor.DoctorContext(
        config=config, sources=ctx.sources, package_version=None,
        backend_url=ctx.backend_url, work_dir=ctx.work_dir,
    )
    checks = doctor.run_checks(ctx, only=["aws.credentials"])
    assert [(c.name, c.status) for c in checks] == [("aws.region", "fail"), ("aws.credentials", "warn")]


@mock_aws
def test_credentials_accepted_name_the_account(make_context, monkeypatch) -> None:
    _set_credentials(monkeypatch)
    check = run_one(make_context(), "aws.credentials")
    assert check.status == "ok"
    assert_named(check.found, "account 123456789012", "credentials from env")
    assert "wJalrXUtnFEMI" not in doctor.render_json([check])


def test_no_credentials_fail_without_a_network_call(make_context, monkeypatch) -> None:
    # Any STS call would go here and fail differently; none may be made.
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    check = run_one(make_context(), "aws.credentials")
    assert check.status == "fail"
    assert check.found.startswith("no AWS credentials")
    assert_named(check.fix, "AWS_ACCESS_KEY_ID", "AWS_PROFILE")


def test_unknown_profile_fails_naming_it(make_context, monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "phoenix-ci")
    check = run_one(make_context(), "aws.credentials")
    assert (check.status, "phoenix-ci" in check.found) == ("fail", True)


def test_sts_out_of_reach_fails(make_context, monkeypatch) -> None:
    _set_credentials(monkeypatch)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    check = run_one(make_context(), "aws.credentials")
    assert time.monotonic() - started < 15
    assert check.status == "fail"
    assert_named(check.found, "credentials from env", "did not answer")
