"""AWS names and tags for a feature's resources.

AWS limits names per service (load balancers and target groups: 32
characters, letters, digits and hyphens) while feature ids run to 63. Every
name is therefore the project prefix, as much of the feature as fits, a short
hash of the full feature and a kind: readable in the console, within every
limit, and distinct for two features however long a prefix they share.
Cutting a name down without the hash would let such features collide.
"""

from __future__ import annotations

import hashlib
import re
from typing import Mapping

PREFIX = "phx"
#: Hex digits of SHA-256 kept in a name: 32 bits, ample for a handful of live features.
HASH_LENGTH = 8

LOAD_BALANCER_LIMIT = 32
TARGET_GROUP_LIMIT = 32
#: IAM role names allow 64; the other names used here allow more, but shorter reads better.
DEFAULT_LIMIT = 64

FEATURE_TAG = "phoenix:feature"

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def digest(*parts: str, length: int = HASH_LENGTH) -> str:
    """A short, stable hash of the parts (NUL-joined so ("a", "b") != ("ab",))."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def slug(text: str) -> str:
    """Lower-case letters and digits joined by single hyphens: valid in every AWS name."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")


def aws_name(feature: str, kind: str, *, limit: int = DEFAULT_LIMIT, variant: str = "") -> str:
    """`phx-<feature>-<hash>-<kind>`, the feature shortened to fit `limit`.

    `variant` joins the hash for resources whose replacement must not reuse the
    old name (AWS refuses a duplicate while the old one still exists). `kind` is
    one of this module's own lower-case words, already valid in every name.
    """
    tail = f"{digest(feature, variant)}-{kind}"
    room = limit - len(PREFIX) - len(tail) - 2
    if room < 1:
        raise ValueError(f"no room for a feature in a {limit}-character {kind!r} name")
    cut = slug(feature)[:room].rstrip("-")
    return "-".join(part for part in (PREFIX, cut, tail) if part)


def load_balancer_name(feature: str) -> str:
    return aws_name(feature, "alb", limit=LOAD_BALANCER_LIMIT)


def target_group_name(feature: str, *, port: int, vpc_cidr: str) -> str:
    """Port and VPC force a new target group, so they choose a new name too."""
    return aws_name(feature, "tg", limit=TARGET_GROUP_LIMIT, variant=f"{port}/{vpc_cidr}")


def group_name(feature: str) -> str:
    """The auto scaling group: fixed before it exists, for the userdata and IAM policy."""
    return aws_name(feature, "asg")


def role_name(feature: str) -> str:
    return aws_name(feature, "instance")


def launch_template_name(feature: str) -> str:
    return aws_name(feature, "lt")


def security_group_name(feature: str, kind: str) -> str:
    return aws_name(feature, f"{kind}-sg")


def registration_key_parameter(feature: str) -> str:
    """The SSM parameter holding the Tentacle registration key (a path, not the key)."""
    return f"/phoenix/{aws_name(feature, 'octopus')}/registration-key"


def key_alias(feature: str) -> str:
    """The alias of the feature's KMS key: names the feature, as the console lists keys by alias."""
    return f"alias/phoenix/{aws_name(feature, 'key')}"


def resource_tags(feature: str, extra: Mapping[str, str]) -> dict[str, str]:
    """Tags on every AWS resource of a feature; the project's key wins over `extra`."""
    return {**extra, FEATURE_TAG: feature}


def named(tags: Mapping[str, str], name: str) -> dict[str, str]:
    """`tags` plus the `Name` tag the AWS console shows."""
    return {**tags, "Name": name}
