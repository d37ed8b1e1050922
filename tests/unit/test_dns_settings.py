"""The `dns` settings: a zone by name or id, a TLS policy that accepts nothing older than TLS 1.2."""

from __future__ import annotations

import pytest
from moto.elbv2.ssl_policies import SSL_POLICIES

from components.dns_names import ZoneRef
from components.settings import (
    DEFAULT_TLS_POLICY, FleetSettings, SettingsError, is_private_cidr, parse_settings, tls_minimum,
    tls_policy_problem,
)
from tests.unit.sample_config import sample_config


def settings_with(dns: dict, **fleet):
    config = sample_config({"phoenix:dns": dns})
    config["phoenix:fleet"].update(fleet)
    return parse_settings(config)


def test_without_a_dns_section_there_is_no_zone_and_the_default_policy() -> None:
    settings = parse_settings(sample_config())
    assert settings.dns.zone is None
    assert settings.dns.tls_policy == DEFAULT_TLS_POLICY


def test_an_empty_zone_is_no_zone() -> None:
    assert settings_with({"zone": ""}).dns.zone is None


def test_a_zone_by_name_is_normalized_and_by_id_kept() -> None:
    assert settings_with({"zone": "Features.Example.com."}).dns.zone == ZoneRef(name="features.example.com")
    assert settings_with({"zone": "/hostedzone/Z0123456789ABCDEFGHIJ"}).dns.zone == ZoneRef(id="Z0123456789ABCDEFGHIJ")


@pytest.mark.parametrize(
    ("dns", "key", "reason"),
    [
        ({"zone": "https://features.example.com"}, "phoenix:dns.zone", "URL or a path"),
        ({"zone": "features"}, "phoenix:dns.zone", "at least two labels"),
        ({"zone": 7}, "phoenix:dns.zone", "must be a string"),
        ({"tlsPolicy": "ELBSecurityPolicy-2016-08"}, "phoenix:dns.tlsPolicy", "accepts TLS 1.0"),
        ({"tlsPolicy": "ELBSecurityPolicy-TLS13-1-1-2021-06"}, "phoenix:dns.tlsPolicy", "accepts TLS 1.1"),
        ({"tlsPolicy": "TLS1.2"}, "phoenix:dns.tlsPolicy", "not an Elastic Load Balancing security policy"),
        ({"tlsPolicy": "ELBSecurityPolicy-Strongest"}, "phoenix:dns.tlsPolicy", "does not show the oldest TLS"),
        ({"zone": "features.example.com", "ttl": 60}, "phoenix:dns.ttl", "unknown setting"),
    ],
)
def test_bad_dns_settings_name_the_key(dns: dict, key: str, reason: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_with(dns)
    assert refused.value.key == key
    assert reason in refused.value.reason


def test_the_http_listener_cannot_take_the_https_port_when_there_is_a_name() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_with({"zone": "features.example.com"}, listenerPort=443)
    assert refused.value.key == "phoenix:fleet.listenerPort"
    assert refused.value.reason.startswith("443 is the HTTPS listener's port")
    # Without a name, 443 is just a port for plain HTTP, as before.
    assert settings_with({"zone": ""}, listenerPort=443).fleet.listener_port == 443


def test_the_minimum_tls_read_from_a_policys_name_is_what_elb_publishes_for_it() -> None:
    """moto carries Elastic Load Balancing's published table of policies and their protocols."""
    assert len(SSL_POLICIES) >= 15
    for name, policy in SSL_POLICIES.items():
        published = min(tuple(int(part) for part in (p.removeprefix("TLSv") + ".0").split(".")[:2])
                        for p in policy["ssl_protocols"])
        assert tls_minimum(name) == published, name
        assert (tls_policy_problem(name) is None) == (published >= (1, 2)), name


def test_the_default_policy_accepts_tls_1_2_and_1_3_only() -> None:
    assert sorted(SSL_POLICIES[DEFAULT_TLS_POLICY]["ssl_protocols"]) == ["TLSv1.2", "TLSv1.3"]


@pytest.mark.parametrize(
    ("cidr", "private"),
    [("0.0.0.0/0", False), ("10.0.0.0/8", True), ("10.20.0.0/16", True), ("172.16.0.0/12", True),
     ("172.32.0.0/16", False), ("192.168.1.0/24", True), ("100.64.0.0/10", True), ("203.0.113.0/24", False),
     ("8.0.0.0/7", False)],
)
def test_which_listener_cidrs_are_private(cidr: str, private: bool) -> None:
    assert is_private_cidr(cidr) is private


def test_public_cidrs_are_those_beyond_private_space() -> None:
    fleet: FleetSettings = settings_with({}, listenerCidrs=["10.0.0.0/8", "198.51.100.0/24"]).fleet
    assert fleet.public_cidrs == ("198.51.100.0/24",)


def test_a_stricter_policy_of_the_users_is_kept() -> None:
    assert settings_with({"tlsPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06"}).dns.tls_policy == (
        "ELBSecurityPolicy-TLS13-1-3-2021-06")


def test_a_refused_policy_says_which_tls_versions_to_accept_instead() -> None:
    problem = tls_policy_problem("ELBSecurityPolicy-TLS-1-1-2017-01")
    assert problem is not None and f"accepts TLS 1.2 and newer only, such as {DEFAULT_TLS_POLICY}" in problem
