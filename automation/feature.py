"""Feature ids and package versions: what CI hands the command line.

A feature is named by its id (`ryan0001`) or by a package version whose
pre-release tag starts with that id (`1.0.0-ryan0001`, `1.0.0-ryan0001.7`).
The id becomes the stack name and the Octopus tenant name, so it is held to
the strictest of their rules here, once, before anything is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

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
class Feature:
    """One feature branch's environment: its stack, its tenant and (if known) its package."""

    id: str
    stack_name: str
    tenant_name: str
    package_version: Optional[str] = None


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
            "lower-case letters, digits and hyphens (e.g. ryan0001)"
        )
    if text.endswith("-") or "--" in text:
        raise FeatureError(
            f"feature id {text!r} is invalid: no trailing or doubled hyphens"
        )
    return text


def _feature_of_version(version_text: str) -> str:
    version = parse_version(version_text)
    if version.feature_tag is None:
        raise FeatureError(
            f"package version {version_text!r} has no pre-release tag; a feature's package "
            "version names the feature there (e.g. 1.0.0-ryan0001)"
        )
    try:
        return validate_feature_id(version.feature_tag)
    except FeatureError as error:
        raise FeatureError(
            f"the pre-release tag of {version_text!r} does not name a feature: {error}"
        ) from None


def _looks_like_version(text: str) -> bool:
    return bool(text) and text[0].isdigit() and "." in text


def parse_feature(text: str, version: Optional[str] = None) -> Feature:
    """A feature from CI's argument: a feature id, or a package version naming one.

    `version` (from --version) must name the same feature; a FEATURE that is
    itself a version must not be contradicted by another one.
    """
    text = (text or "").strip()
    version = version.strip() if version is not None else None
    if version == "":
        raise FeatureError("--version is empty")
    if _looks_like_version(text):
        feature_id = _feature_of_version(text)
        if version is not None and version != text:
            raise FeatureError(
                f"two package versions given: {text!r} and --version {version!r}"
            )
        package_version: Optional[str] = text
    else:
        feature_id = validate_feature_id(text)
        package_version = version
        if version is not None:
            named = _feature_of_version(version)
            if named != feature_id:
                raise FeatureError(
                    f"--version {version!r} belongs to feature {named!r}, not {feature_id!r}"
                )
    return Feature(
        id=feature_id,
        stack_name=feature_id,
        tenant_name=feature_id,
        package_version=package_version,
    )


def newest_version(versions: Iterable[str], feature_id: str) -> Optional[str]:
    """The highest-precedence version whose pre-release tag names the feature.

    Versions that are not semantic versions (Octopus allows any text) are
    ignored rather than failing the look-up.
    """
    best: Optional[tuple[tuple, str]] = None
    for text in versions:
        try:
            parsed = parse_version(text)
        except FeatureError:
            continue
        if parsed.feature_tag != feature_id:
            continue
        key = parsed.precedence_key()
        if best is None or key > best[0]:
            best = (key, text)
    return best[1] if best else None
