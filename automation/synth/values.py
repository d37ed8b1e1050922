"""How recorded values are read and shown: by dotted path, on one line, in a stable order."""

from __future__ import annotations

from typing import Any, Mapping


def lookup(inputs: Mapping[str, Any], path: str) -> Any:
    """`healthCheck.path` -> inputs["healthCheck"]["path"]; None where absent."""
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def compact(value: Any) -> str:
    """One line for a value in the tree or a diagram label."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {compact(item)}" for key, item in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(compact(item) for item in value) + "]"
    return str(value)


def sorted_value(value: Any) -> Any:
    """A copy with every mapping's keys in order, so the same synthesis always writes the same JSON."""
    if isinstance(value, Mapping):
        return {key: sorted_value(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_value(item) for item in value]
    return value
