"""Validation and normalisation of the Octopus resources' inputs, for `check()`.

Pure: no HTTP. Each bad field yields one CheckFailure naming the property, so
`pulumi preview` lists every problem at once. Values still unknown during a
preview (outputs of resources not yet created) pass through unchecked.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable, Optional

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from components.feature import is_semver

#: Longest name accepted for what we create (Octopus stores names in 200-char columns).
MAX_NAME_LENGTH = 200

# Names we create are used verbatim as Tentacle `--tenant`/`--policy` arguments and in
# machine names, and `/` separates a canonical tag name: keep them to a plain set.
_CREATED_NAME = re.compile(r"^[\w][\w .,()\[\]@+'&-]*$")


def is_unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (preview of a dependent resource).

    The provider process hands check/diff `pulumi.output.Unknown` objects; the
    wire form is the UNKNOWN sentinel string. Either counts.
    """
    if isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN):
        return True
    if isinstance(value, (list, tuple)):
        return any(is_unknown(item) for item in value)
    return False


def name_problem(text: str, *, created: bool) -> Optional[str]:
    """Why `text` is not an acceptable Octopus name, or None.

    `created` names (a tenant, a policy we create) must match the plain set above;
    names we only look up (projects, environments) may hold anything printable.
    """
    if not text:
        return "must not be empty"
    if len(text) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters, got {len(text)}"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        return "must not contain control characters"
    if created and not _CREATED_NAME.match(text):
        return (
            f"{text!r} has characters Octopus names here may not hold: use letters, digits,"
            " spaces and . , ( ) [ ] @ + ' & - _ , starting with a letter or digit"
        )
    return None


class InputCheck:
    """Collects normalised inputs and one failure per bad property."""

    def __init__(self, news: dict[str, Any], known: Iterable[str]) -> None:
        self.inputs: dict[str, Any] = {}
        self.failures: list[CheckFailure] = []
        allowed = set(known)
        unexpected = sorted(k for k in news if k not in allowed and not k.startswith("__"))
        for key in unexpected:
            self.fail(key, f"unknown property {key!r}")
        self._news = news

    def fail(self, prop: str, reason: str) -> None:
        self.failures.append(CheckFailure(prop, reason))

    @property
    def ok(self) -> bool:
        return not self.failures

    def failed(self, prop: str) -> bool:
        return any(f.property == prop for f in self.failures)

    def result(self) -> CheckResult:
        return CheckResult(self.inputs, self.failures)

    def _raw(self, prop: str, default: Any) -> tuple[Any, bool]:
        value = self._news.get(prop, default)
        if is_unknown(value):
            self.inputs[prop] = value
            return value, False
        return value, True

    def name(self, prop: str, *, created: bool = False, default: Any = None) -> Any:
        value, known = self._raw(prop, default)
        if not known:
            return value
        if not isinstance(value, str):
            self.fail(prop, f"must be a string, got {_type_name(value)}")
            return None
        text = value.strip()
        problem = name_problem(text, created=created)
        if problem:
            self.fail(prop, problem)
        self.inputs[prop] = text
        return text

    def text(self, prop: str, *, default: str = "", limit: int = 2000) -> Any:
        value, known = self._raw(prop, default)
        if not known:
            return value
        if value is None:
            value = default
        if not isinstance(value, str):
            self.fail(prop, f"must be a string, got {_type_name(value)}")
            return None
        if len(value) > limit:
            self.fail(prop, f"must be at most {limit} characters, got {len(value)}")
        self.inputs[prop] = value
        return value

    def names(self, prop: str, *, minimum: int = 1, tags: bool = False) -> Any:
        """A list of names, trimmed, de-duplicated and sorted so order never diffs."""
        value, known = self._raw(prop, [])
        if not known:
            return value
        if value is None:
            value = []
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            self.fail(prop, f"must be a list of strings, got {_type_name(value)}")
            return None
        cleaned: set[str] = set()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(prop, f"item {index} must be a string, got {_type_name(item)}")
                return None
            text = item.strip()
            problem = _tag_problem(text) if tags else name_problem(text, created=False)
            if problem:
                self.fail(prop, f"item {index} {problem}")
                return None
            cleaned.add(text)
        if len(cleaned) < minimum:
            self.fail(prop, f"needs at least {minimum} name(s)")
        result = sorted(cleaned)
        self.inputs[prop] = result
        return result

    def version(self, prop: str) -> Any:
        value, known = self._raw(prop, None)
        if not known:
            return value
        if not isinstance(value, str) or not value.strip():
            self.fail(prop, "a release version is required, e.g. 1.0.0-ryan0001")
            return None
        text = value.strip()
        if not is_semver(text):
            self.fail(prop, f"{text!r} is not a semantic version (e.g. 1.0.0-ryan0001)")
        self.inputs[prop] = text
        return text

    def resource_id(self, prop: str, collection: str) -> Any:
        value, known = self._raw(prop, None)
        if not known:
            return value
        text = value.strip() if isinstance(value, str) else value
        if not isinstance(text, str) or not re.fullmatch(rf"{collection}-\d+", text):
            self.fail(prop, f"must be an Octopus id like {collection}-1, got {value!r}")
            return None
        self.inputs[prop] = text
        return text

    def boolean(self, prop: str, *, default: bool = False) -> Any:
        value, known = self._raw(prop, default)
        if not known:
            return value
        if value is None:
            value = default
        if not isinstance(value, bool):
            self.fail(prop, f"must be true or false, got {_type_name(value)}")
            return None
        self.inputs[prop] = value
        return value

    def integer(self, prop: str, *, default: int, minimum: int, maximum: int) -> Any:
        value, known = self._raw(prop, default)
        if not known:
            return value
        if value is None:
            value = default
        # The wire format has only doubles: 20.0 is a fine 20, 20.5 is not.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(prop, f"must be a whole number, got {value!r}")
            return None
        if not minimum <= value <= maximum:
            self.fail(prop, f"must be between {minimum} and {maximum}, got {value}")
        self.inputs[prop] = value
        return value

    def space(self, prop: str, default: str) -> Any:
        """The space as given, else the configured one: recorded, so changing it replaces."""
        value, known = self._raw(prop, None)
        if not known:
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            self.inputs[prop] = default
            return default
        return self.name(prop)


def diff_inputs(
    olds: dict[str, Any],
    news: dict[str, Any],
    *,
    compared: Iterable[str],
    replacing: Iterable[str] = (),
    delete_before_replace: bool = False,
) -> DiffResult:
    """Changed when a compared input differs (or is not known yet); replaces only those listed.

    `olds` are the previous outputs, which always carry the checked inputs, so a
    refresh that wrote live values there makes the next diff show real drift only.
    """
    changed = [
        key for key in compared if is_unknown(news.get(key)) or olds.get(key) != news.get(key)
    ]
    replaces = [key for key in changed if key in set(replacing)]
    return DiffResult(
        changes=bool(changed),
        replaces=replaces,
        delete_before_replace=delete_before_replace if replaces else None,
    )


def resource_identity(id_: str, props: dict[str, Any], keys: tuple[str, ...], example: str) -> tuple[str, ...]:
    """The ids a resource lives at: from the state's outputs, else from its `/`-joined resource id.

    An imported resource (`pulumi import`) has only its id; `example` shows its form.
    """
    if all(props.get(key) for key in keys):
        return tuple(props[key] for key in keys)
    parts = tuple(id_.split("/"))
    if len(parts) != len(keys) or not all(parts):
        raise ValueError(f"{id_!r} is not an id of this resource ({example})")
    return parts


def _tag_problem(text: str) -> Optional[str]:
    parts = text.split("/")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        return f"{text!r} is not a canonical tag name like 'Feature/Branch'"
    return name_problem(text, created=False)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
