"""A feature's DNS names: its host name in the zone, its certificate's names, and the rules they obey.

With `dns.zone` a feature is served at `https://FEATURE.<zone>`. The feature
id rules (`components.feature`) keep FEATURE one legal DNS label; these
functions hold the zone to the rest, so that every legal feature id gets a
name Route 53 and ACM accept: labels of letters, digits and hyphens (RFC 1123
host names, what browsers and certificates take), at most 63 characters a
label and 253 a name, and a certificate whose first name (its Common Name) is
at most 64 characters (ACM's RequestCertificate, after RFC 5280). A host name
longer than that becomes the certificate's second name, behind a short first
name of its own, `phx-<hash>.<zone>`.

Pure: no I/O, no Pulumi; settings, the program, doctor and synth share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from components import naming

MAX_LABEL = 63
MAX_NAME = 253
#: ACM: "the length of the domain name (technically, the Common Name) ... cannot exceed 64 octets".
MAX_CERTIFICATE_FIRST_NAME = 64
#: The certificate's first name when the host name is too long for it: `phx-<hash>`, the same for a feature always.
SHORT_LABEL_LENGTH = len(naming.PREFIX) + 1 + naming.HASH_LENGTH
#: The longest zone every legal feature id fits: the short first name must fit 64 characters.
MAX_ZONE_NAME = MAX_CERTIFICATE_FIRST_NAME - SHORT_LABEL_LENGTH - 1

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
#: A Route 53 hosted zone id (upper-case letters and digits, `Z...` as AWS issues them), bare or as the
#: API's resource path (`/hostedzone/Z...`). A zone name has a dot, and is written in lower case.
_ZONE_ID = re.compile(r"^(?:/hostedzone/)?([A-Z0-9]{1,32})$")


class ZoneError(ValueError):
    """A `dns.zone` that names no public hosted zone a feature can live in."""


@dataclass(frozen=True)
class ZoneRef:
    """`dns.zone` as written: a zone name (normalized) or a hosted zone id, exactly one of them."""

    name: Optional[str] = None
    id: Optional[str] = None

    def __str__(self) -> str:
        return self.name or self.id or ""


def label_problem(label: str) -> Optional[str]:
    """Why `label` is no DNS host label, or None."""
    if not label:
        return "has an empty label (two dots, or a leading dot)"
    if len(label) > MAX_LABEL:
        return f"label {label[:20]!r}... is {len(label)} characters; a DNS label holds at most {MAX_LABEL}"
    if not _LABEL.match(label):
        return (f"label {label!r} is not a DNS host label (letters, digits and hyphens, "
                "neither starting nor ending with a hyphen)")
    return None


def name_problem(name: str) -> Optional[str]:
    """Why `name` (lower case, no trailing dot) is no DNS host name, or None."""
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters; a DNS name holds at most {MAX_NAME}"
    for label in name.split("."):
        problem = label_problem(label)
        if problem:
            return problem
    return None


def zone_name_problem(name: str) -> Optional[str]:
    """Why a zone name (normalized) cannot hold every feature's name, or None."""
    problem = name_problem(name)
    if problem:
        return problem
    labels = name.split(".")
    if len(labels) < 2:
        return "is not a domain name: a public hosted zone has at least two labels (features.example.com)"
    if labels[-1].isdigit():
        return "is an IP address, not a domain name"
    if len(name) > MAX_ZONE_NAME:
        return (
            f"is {len(name)} characters: a feature's certificate is first named FEATURE.<zone> or "
            f"{naming.PREFIX}-<hash>.<zone>, which ACM limits to {MAX_CERTIFICATE_FIRST_NAME} characters, "
            f"so the zone may have at most {MAX_ZONE_NAME}"
        )
    return None


def normalized_zone_name(text: str) -> str:
    """DNS names are case-insensitive and Route 53 reports them with a trailing dot: neither matters."""
    return text.strip().lower().rstrip(".")


def parse_zone(text: str) -> ZoneRef:
    """`dns.zone` as written: a hosted zone id (`Z...`, `/hostedzone/Z...`) or a zone name; ZoneError says why not."""
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise ZoneError(f"{text!r} holds spaces; write the zone's name (features.example.com) or id (Z...)")
    found = _ZONE_ID.match(text)
    if found:
        return ZoneRef(id=found.group(1))
    if "://" in text or "/" in text:
        raise ZoneError(f"{text!r} is a URL or a path, not a zone: write the zone's name "
                        "(features.example.com) or id (Z...)")
    name = normalized_zone_name(text)
    problem = zone_name_problem(name)
    if problem:
        raise ZoneError(f"{text!r} {problem}")
    return ZoneRef(name=name)


def host_name(feature: str, zone: str) -> str:
    """The feature's name in the zone: its record, its URL, its certificate's name."""
    return f"{feature}.{zone}"


def feature_url(feature: str, zone: str) -> str:
    return f"https://{host_name(feature, zone)}"


def short_name(feature: str, zone: str) -> str:
    """The certificate's first name for a host name too long to be it; stable for a feature."""
    return f"{naming.PREFIX}-{naming.digest(feature)}.{zone}"


def certificate_names(feature: str, zone: str) -> tuple[str, ...]:
    """The certificate's names, first name first; the host name is always one of them."""
    host = host_name(feature, zone)
    if len(host) <= MAX_CERTIFICATE_FIRST_NAME:
        return (host,)
    return (short_name(feature, zone), host)
