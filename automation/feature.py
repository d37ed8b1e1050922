"""Feature ids and package versions: what CI hands the command line.

A feature is named by its id (`ryan0001`) or by a package version whose
pre-release tag starts with that id (`1.0.0-ryan0001`, `1.0.0-ryan0001.7`).
The rules for ids and versions themselves live in `components.feature`, which
the program shares; this module turns CI's arguments into a `Feature`, once,
before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from components.feature import (
    MAX_FEATURE_LENGTH,
    FeatureError,
    is_semver,
    parse_version,
    validate_feature_id,
)

__all__ = [
    "MAX_FEATURE_LENGTH",
    "Feature",
    "FeatureError",
    "is_semver",
    "newest_version",
    "parse_feature",
    "parse_version",
    "validate_feature_id",
]


@dataclass(frozen=True)
class Feature:
    """One feature branch's environment: its stack, its tenant and (if known) its package."""

    id: str
    stack_name: str
    tenant_name: str
    package_version: Optional[str] = None


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
    ignored rather than failing the look-up. Of versions equal in precedence (they
    differ in build metadata) the first wins: Octopus lists releases newest first.
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
