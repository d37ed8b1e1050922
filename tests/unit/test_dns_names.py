"""A feature's DNS names: every legal feature id, in every zone phoenix accepts, gets names Route 53 and ACM take.

The property runs over the feature id rules themselves (`validate_feature_id`),
not over a list of examples: any id they let through must make a host name of
legal labels within 253 characters, and a certificate whose first name fits
ACM's 64 and whose names include the host name.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from components import dns_names
from components.dns_names import MAX_ZONE_NAME, ZoneError, ZoneRef, parse_zone
from components.feature import MAX_FEATURE_LENGTH, FeatureError, validate_feature_id

#: RFC 1123 host label: what a browser, a certificate and Route 53 all accept.
HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Hypothesis' own timing and example database are off: the machine is shared, the tree stays clean.
PROPERTY = settings(max_examples=200, deadline=None, database=None)


def legal(feature: str) -> bool:
    try:
        validate_feature_id(feature)
    except FeatureError:
        return False
    return True


#: Candidates over the alphabet and lengths the id rules speak of; the rules decide which are ids.
feature_ids = st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True).filter(legal)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)


def accepted(zone: str) -> bool:
    try:
        return parse_zone(zone).name == zone
    except ZoneError:
        return False


#: Zone names the settings accept (they are normalized already, so they come back unchanged).
zones = st.lists(labels, min_size=2, max_size=4).map(".".join).filter(accepted)


def assert_host_name(name: str) -> None:
    assert len(name) <= dns_names.MAX_NAME, name
    for label in name.split("."):
        assert HOST_LABEL.fullmatch(label), (label, name)


LONGEST_ZONE = ".".join(["z" * 24, "y" * 22, "com"])[:MAX_ZONE_NAME]


@PROPERTY
@given(feature=feature_ids, zone=zones)
@example(feature="r" + "a" * (MAX_FEATURE_LENGTH - 1), zone=LONGEST_ZONE)
@example(feature="a", zone="features.example.com")
def test_every_legal_feature_gets_names_route53_and_acm_accept(feature: str, zone: str) -> None:
    host = dns_names.host_name(feature, zone)
    assert_host_name(host)
    assert host.split(".", 1) == [feature, zone]
    names = dns_names.certificate_names(feature, zone)
    assert len(names[0]) <= dns_names.MAX_CERTIFICATE_FIRST_NAME, names
    assert host in names
    for name in names:
        assert_host_name(name)
    assert dns_names.feature_url(feature, zone) == f"https://{host}"


@PROPERTY
@given(feature=feature_ids, other=feature_ids, zone=zones)
def test_two_features_never_share_a_name(feature: str, other: str, zone: str) -> None:
    assume(feature != other)
    assert set(dns_names.certificate_names(feature, zone)).isdisjoint(dns_names.certificate_names(other, zone))


def test_the_longest_feature_in_the_longest_zone() -> None:
    feature = "r" + "a" * (MAX_FEATURE_LENGTH - 1)
    zone = parse_zone(LONGEST_ZONE).name
    assert zone is not None and len(zone) == MAX_ZONE_NAME == 51
    first, second = dns_names.certificate_names(feature, zone)
    assert len(first) == 64 and first.startswith("phx-") and first.endswith(f".{zone}")
    assert second == f"{feature}.{zone}" and len(second) == 63 + 1 + 51
    # A name short enough is the certificate's only name.
    assert dns_names.certificate_names("ryan0001", "features.example.com") == ("ryan0001.features.example.com",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("features.example.com", ZoneRef(name="features.example.com")),
        ("Features.Example.COM.", ZoneRef(name="features.example.com")),
        ("Z0123456789ABCDEFGHIJ", ZoneRef(id="Z0123456789ABCDEFGHIJ")),
        ("/hostedzone/Z0123456789ABCDEFGHIJ", ZoneRef(id="Z0123456789ABCDEFGHIJ")),
        ("xn--bcher-kva.example", ZoneRef(name="xn--bcher-kva.example")),
    ],
)
def test_a_zone_is_a_name_or_an_id(text: str, expected: ZoneRef) -> None:
    assert parse_zone(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("features", "at least two labels"),
        ("https://features.example.com", "URL or a path"),
        ("features.example.com/", "URL or a path"),
        ("features example.com", "spaces"),
        ("features..example.com", "empty label"),
        ("-features.example.com", "not a DNS host label"),
        ("features_1.example.com", "not a DNS host label"),
        ("fëatures.example.com", "not a DNS host label"),
        ("10.0.0.1", "IP address"),
        ("a" * 64 + ".com", "at most 63"),
        ("z" * 48 + ".com", "at most 51"),
    ],
)
def test_a_zone_no_feature_can_live_in_is_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(ZoneError) as refused:
        parse_zone(text)
    assert reason in str(refused.value)
    assert repr(text) in str(refused.value)


def test_every_accepted_zone_leaves_room_for_the_longest_feature() -> None:
    assert MAX_ZONE_NAME + 1 + MAX_FEATURE_LENGTH <= dns_names.MAX_NAME
    assert dns_names.SHORT_LABEL_LENGTH + 1 + MAX_ZONE_NAME == dns_names.MAX_CERTIFICATE_FIRST_NAME
