"""octopus.tenantVariables: template names and values from defaults.yaml, sensitive values only from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation import config
from components.settings import TENANT_VARIABLE_SECRETS_KEY, SettingsError, parse_settings
from tests.cli.test_config import ENV, build
from tests.unit.sample_config import sample_config

SECRET = "s3cret-db-password-value"


def with_sensitive(document: dict, **sensitive: str) -> None:
    document["octopus"]["tenantVariables"]["sensitive"] = sensitive


def test_the_repository_defaults_name_the_three_builtin_templates(tmp_path: Path) -> None:
    variables = build(tmp_path).settings.octopus.tenant_variables
    assert variables.builtins == {"url": "Phoenix.Url", "feature": "Phoenix.Feature",
                                  "packageVersion": "Phoenix.PackageVersion"}
    assert variables.templates == ("Phoenix.Url", "Phoenix.Feature", "Phoenix.PackageVersion")
    assert dict(variables.sensitive_values) == {}


def test_a_sensitive_value_comes_from_the_variable_it_names_and_is_kept_secret(tmp_path: Path) -> None:
    stack = build(tmp_path, edit=lambda d: with_sensitive(d, **{"App.DbPassword": "PHOENIX_DB_PASSWORD"}),
                  environ={**ENV, "PHOENIX_DB_PASSWORD": SECRET})
    assert json.loads(stack.secrets[config.TENANT_VARIABLE_SECRETS]) == {"App.DbPassword": SECRET}
    assert stack.settings.octopus.tenant_variables.sensitive_values == {"App.DbPassword": SECRET}
    assert SECRET not in stack.plain_json(), "the plain stack config holds only the variable's name"
    assert "PHOENIX_DB_PASSWORD" in stack.plain_json()
    assert SECRET not in repr(stack) and SECRET not in repr(stack.settings)


def test_a_missing_sensitive_variable_names_the_template_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as caught:
        build(tmp_path, edit=lambda d: with_sensitive(d, **{"App.DbPassword": "PHOENIX_DB_PASSWORD"}))
    assert caught.value.source.endswith("defaults.yaml")
    assert caught.value.key == "octopus.tenantVariables.sensitive.App.DbPassword"
    assert caught.value.reason == "environment variable PHOENIX_DB_PASSWORD is not set"


def test_destroy_needs_no_sensitive_variable_and_writes_none(tmp_path: Path) -> None:
    """destroy and reap never run the program: a feature stays destroyable after its secrets are gone."""
    stack = build(tmp_path, edit=lambda d: with_sensitive(d, **{"App.DbPassword": "PHOENIX_DB_PASSWORD"}),
                  runs_program=False)
    assert json.loads(stack.secrets.get(config.TENANT_VARIABLE_SECRETS, "{}")) == {}
    assert config.REGISTRATION_STAND_IN not in stack.plain_json() + json.dumps(stack.secrets)


@pytest.mark.parametrize(
    ("edit", "key", "reason"),
    [
        (lambda v: v.update(sensitive={"App.DbPassword": "s3cret value!"}), "sensitive.App.DbPassword",
         "is not an environment variable name"),
        (lambda v: v.update(values={"Phoenix.Url": "x"}), "values.Phoenix.Url", "also given by"),
        (lambda v: v.update(values={"App.Port": 8080}), "values.App.Port", "must be text"),
        (lambda v: v.update(values=["App.Port"]), "values", "must be an object"),
        (lambda v: v.update(colour="blue"), "colour", "unknown setting"),
        (lambda v: v.update(url=" Phoenix.Url"), "url", "not a template name"),
    ],
)
def test_bad_tenant_variable_settings_name_their_key(tmp_path: Path, edit, key: str, reason: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        build(tmp_path, edit=lambda d: edit(d["octopus"]["tenantVariables"]))
    assert caught.value.key == f"octopus.tenantVariables.{key}"
    assert reason in caught.value.reason
    assert "s3cret value!" not in str(caught.value)


def test_the_secret_config_key_is_never_taken_from_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="never taken from the command line"):
        build(tmp_path, overrides=[f'{TENANT_VARIABLE_SECRETS_KEY}={{"App.DbPassword": "x"}}'])


def test_an_empty_name_leaves_a_builtin_out() -> None:
    settings = parse_settings(sample_config({"phoenix:octopus.tenantVariables": {"url": "", "feature": "Feature.Id"}}))
    assert settings.octopus.tenant_variables.builtins == {"feature": "Feature.Id"}


def test_secret_config_that_is_not_an_object_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(sample_config({TENANT_VARIABLE_SECRETS_KEY: "not json " + SECRET}))
    assert caught.value.key == TENANT_VARIABLE_SECRETS_KEY and SECRET not in str(caught.value)
