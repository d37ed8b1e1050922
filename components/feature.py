"""Feature ids and semantic versions: the rules both the command line and the program hold them to.

A feature id becomes a stack name, an Octopus tenant name, AWS names and a
package version's pre-release tag, so it is held to the strictest of their
rules. They live with the components, not the command line, because the
program validates its own config with them and must not depend on the CLI.
Pure: no I/O, no Pulumi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

#: Longest feature id: a DNS label, so it fits every name derived from it.
MAX_FEATURE_LENGTH = 63

_FEATURE_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_NUMERIC = re.compile(r"^(0|[1-9][0-9]*)$")
_IDENTIFIER = re.compile(r"^[0-9A-Za-z-]+$")
_SEMVER_RE = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?"
    r"(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)


class FeatureError(ValueError):
    """A feature id or package version that cannot name a feature."""


@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ordered by SemVer 2.0.0 precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]
    build: str = ""

    @property
    def feature_tag(self) -> Optional[str]:
        """The pre-release identifier that names a feature, if any."""
        return self.prerelease[0] if self.prerelease else None

    def precedence_key(self) -> tuple:
        """A sort key: releases after pre-releases; numeric identifiers before alphanumeric ones."""
        if not self.prerelease:
            pre: tuple = ((1,),)
        else:
            pre = tuple(
                (0, 0, int(part), "") if _NUMERIC.match(part) else (0, 1, 0, part)
                for part in self.prerelease
            )
            pre = ((0, pre),)
        return (self.major, self.minor, self.patch, pre)


def parse_version(text: str) -> Version:
    """Parse SemVer 2.0.0 text; FeatureError says what is wrong with it."""
    match = _SEMVER_RE.match(text)
    if not match:
        raise FeatureError(
            f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], "
            "no leading zeros, e.g. 1.0.0-ryan0001)"
        )
    prerelease = tuple(match.group("pre").split(".")) if match.group("pre") else ()
    for part in prerelease:
        if not part or not _IDENTIFIER.match(part):
            raise FeatureError(f"{text!r} has an empty pre-release identifier")
        if part.isdigit() and not _NUMERIC.match(part):
            raise FeatureError(
                f"{text!r} has a numeric pre-release identifier with a leading zero ({part!r})"
            )
    build = match.group("build") or ""
    if build and any(not part for part in build.split(".")):
        raise FeatureError(f"{text!r} has an empty build identifier")
    major, minor, patch = (int(match.group(i)) for i in (1, 2, 3))
    return Version(major, minor, patch, prerelease, build)


def is_semver(text: str) -> bool:
    try:
        parse_version(text)
    except FeatureError:
        return False
    return True


def validate_feature_id(text: str) -> str:
    """Return the id when it can name a stack, a tenant and a version's pre-release tag."""
    if not text:
        raise FeatureError("the feature id is empty")
    if len(text) > MAX_FEATURE_LENGTH:
        raise FeatureError(
            f"feature id {text[:20]!r}... is {len(text)} characters long; "
            f"at most {MAX_FEATURE_LENGTH} are allowed"
        )
    if text != text.lower() and _FEATURE_RE.match(text.lower()):
        raise FeatureError(
            f"feature id {text!r} has upper-case letters; use {text.lower()!r}"
        )
    if not _FEATURE_RE.match(text):
        raise FeatureError(
            f"feature id {text!r} is invalid: it must start with a letter and hold only "
            "lower-case letters, digits and hyphens (e.g. ryan0001)" + _did_you_mean(text)
        )
    if text.endswith("-") or "--" in text:
        raise FeatureError(
            f"feature id {text!r} is invalid: no trailing or doubled hyphens" + _did_you_mean(text)
        )
    return text


def _did_you_mean(text: str) -> str:
    """`; did you mean 'ryan-0001'?` when swapping separators for hyphens makes a valid id."""
    guess = re.sub(r"[\s_.]+", "-", text.strip().lower())
    guess = re.sub(r"-{2,}", "-", guess).strip("-")
    if guess != text and _FEATURE_RE.match(guess) and len(guess) <= MAX_FEATURE_LENGTH:
        return f"; did you mean {guess!r}?"
    return ""
