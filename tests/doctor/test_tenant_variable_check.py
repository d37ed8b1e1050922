"""octopus.tenantVariables: every template the tenant gets a value for is on the project, of the right kind."""

from __future__ import annotations

from tests.doctor.conftest import PROJECT, assert_named, run_one

CHECK = "octopus.tenantVariables"


def test_the_templates_of_the_defaults_on_the_project_pass(ready_octopus, make_context) -> None:
    check = run_one(make_context(), CHECK)
    assert check.status == "ok"
    assert_named(check.found, repr(PROJECT), "'Phoenix.Url'", "'Phoenix.Feature'", "'Phoenix.PackageVersion'")


def test_a_missing_template_fails_with_the_fix(ready_octopus, make_context) -> None:
    check = run_one(make_context("phoenix:octopus.tenantVariables.values={App.Region: eu-west-1}"), CHECK)
    assert check.status == "fail"
    assert_named(check.found, repr(PROJECT), "'App.Region'")
    assert_named(check.fix, f"add a project variable template named 'App.Region' to project {PROJECT!r}")


def test_a_renamed_builtin_is_looked_for_by_its_new_name(ready_octopus, make_context) -> None:
    check = run_one(make_context("phoenix:octopus.tenantVariables.url=App.BaseUrl"), CHECK)
    assert check.status == "fail"
    assert_named(check.fix, "named 'App.BaseUrl'")
    assert "Phoenix.Url" not in check.found


def test_a_sensitive_value_needs_a_sensitive_template(ready_octopus, make_context, monkeypatch) -> None:
    monkeypatch.setenv("PHOENIX_DB_PASSWORD", "s3cret-db-password")
    ready_octopus.seed_project_template(PROJECT, "App.DbPassword")  # plain: would show the secret
    ready_octopus.seed_project_template(PROJECT, "App.Token", sensitive=True)
    overrides = ("phoenix:octopus.tenantVariables.sensitive={App.DbPassword: PHOENIX_DB_PASSWORD}",
                 "phoenix:octopus.tenantVariables.values={App.Token: plain}")
    check = run_one(make_context(*overrides), CHECK)
    assert check.status == "fail"
    assert_named(check.fix, "'App.DbPassword' of project", "is not Sensitive", "'App.Token' of project",
                 "is Sensitive: give its value through an environment variable")
    assert "s3cret-db-password" not in check.found + check.fix


def test_without_templates_named_the_check_passes(octopus_emulator, make_context) -> None:
    octopus_emulator.seed_project(PROJECT)  # no templates at all
    overrides = [f"phoenix:octopus.tenantVariables.{key}=" for key in ("url", "feature", "packageVersion")]
    check = run_one(make_context(*overrides), CHECK)
    assert (check.status, check.found) == ("ok", "no tenant variables configured")
