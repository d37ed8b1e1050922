"""Where the providers' Octopus settings come from, and that none of it is pickled into state."""

from __future__ import annotations

import base64

import dill
import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from components.octopus.machine_policy import MachinePolicyProvider
from components.octopus.override import AutoDeployOverrideProvider
from components.octopus.provider import ProviderConfig, ProviderConfigError
from components.octopus.tenant import TenantProvider

KEY = "API-SERIALIZEDNEVER0001"
PROVIDERS = [TenantProvider, AutoDeployOverrideProvider, MachinePolicyProvider]


def configured(provider_class: type, config: dict) -> object:
    provider = provider_class()
    provider.configure(ConfigureRequest(Config(raw_config=config, project_name="phoenix")))
    return provider


def test_the_key_of_this_run_wins_over_the_recorded_one_and_the_stack_config_over_the_url() -> None:
    """destroy and refresh configure providers with the config recorded at the last update:
    a rotated key must come from the environment of this run, never from there."""
    config = ProviderConfig.from_sources(
        {"octopus:serverUrl": "https://stack.example", "octopus:apiKey": KEY, "octopus:space": "Features"},
        {"OCTOPUS_URL": "https://env.example", "OCTOPUS_API_KEY": "API-ENV"},
    )
    assert (config.server_url, config.api_key, config.space) == ("https://stack.example", "API-ENV", "Features")


def test_the_recorded_key_serves_only_when_the_run_has_none() -> None:
    config = ProviderConfig.from_sources({"octopus:apiKey": KEY}, {"OCTOPUS_API_KEY": "  "})
    assert config.api_key == KEY


def test_environment_fills_what_the_stack_config_lacks() -> None:
    config = ProviderConfig.from_sources(
        {"octopus:serverUrl": "https://stack.example"}, {"OCTOPUS_API_KEY": "API-ENV"}
    )
    assert (config.server_url, config.api_key, config.space) == ("https://stack.example", "API-ENV", "Default")


def test_missing_settings_name_the_keys_and_env_vars() -> None:
    with pytest.raises(ProviderConfigError) as raised:
        ProviderConfig.from_sources({}, {}).require()
    message = str(raised.value)
    for name in ("octopus:serverUrl", "OCTOPUS_URL", "octopus:apiKey", "OCTOPUS_API_KEY"):
        assert name in message


def test_an_unconfigured_provider_fails_clearly_before_any_request(monkeypatch) -> None:
    monkeypatch.delenv("OCTOPUS_URL", raising=False)
    monkeypatch.delenv("OCTOPUS_API_KEY", raising=False)
    with pytest.raises(ProviderConfigError, match="octopus:serverUrl"):
        TenantProvider().create({"tenant_name": "x", "space": "Default", "projects": [], "environments": []})


def test_the_key_is_not_in_the_config_repr() -> None:
    config = ProviderConfig.from_sources({"octopus:serverUrl": "https://o.example", "octopus:apiKey": KEY}, {})
    assert KEY not in repr(config)


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_a_configured_provider_serializes_without_the_key(provider_class, monkeypatch) -> None:
    monkeypatch.delenv("OCTOPUS_API_KEY", raising=False)
    provider = configured(
        provider_class, {"octopus:serverUrl": "https://o.example", "octopus:apiKey": KEY}
    )
    assert provider.config.api_key == KEY, "configure() must have read the key"
    serialized = serialize_provider(provider)
    raw = base64.b64decode(serialized)
    assert KEY.encode() not in raw and KEY not in serialized
    assert b"o.example" not in raw, "nothing configure() read is pickled"
    restored = dill.loads(raw)
    assert type(restored) is provider_class
    assert restored.config.api_key is None, "the restored provider waits for configure()"


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_providers_pickle_by_reference_to_an_importable_module(provider_class) -> None:
    raw = base64.b64decode(serialize_provider(provider_class()))
    assert provider_class.__module__.encode() in raw
    assert b"__main__" not in raw
    assert len(raw) < 1000, "the class is referenced, not its code copied into the state"
