"""What one synth recorded: the resources a feature's program registered, and its outputs.

Plain frozen values, so every renderer reads the same thing and none can
change it under another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from automation.errors import PhoenixError


class SynthError(PhoenixError):
    """The program could not be synthesized offline; the message says why."""


@dataclass(frozen=True, kw_only=True)
class SynthResource:
    """One resource the program registered, as the engine would have received it."""

    urn: str
    type: str
    name: str
    parent: Optional[str]
    """URN of the parent; None for the stack itself."""
    custom: bool
    inputs: Mapping[str, Any]
    """Inputs as sent to the engine, secrets masked, the dynamic provider's pickle left out."""
    dependencies: Mapping[str, tuple[str, ...]]
    """Input property -> URNs of the resources its value came from."""
    physical_name: Optional[str]


@dataclass(frozen=True, kw_only=True)
class Synthesis:
    """What one feature's program would create, with no cloud call made."""

    project: str
    stack: str
    config: Mapping[str, Any]
    """The stack config the program ran with, secrets masked."""
    resources: tuple[SynthResource, ...]
    outputs: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    """What the program logged as warnings while it ran."""
    notes: tuple[str, ...] = ()
    """What synth assumed that create would not (shown in the tree, not in the JSON)."""

    def by_urn(self) -> dict[str, SynthResource]:
        return {resource.urn: resource for resource in self.resources}

    def children(self, urn: Optional[str]) -> list[SynthResource]:
        """Direct children of `urn`, in a stable order (type, then name)."""
        return sorted(
            (r for r in self.resources if r.parent == urn), key=lambda r: (r.type, r.name)
        )

    def of_type(self, type_: str) -> list[SynthResource]:
        return sorted((r for r in self.resources if r.type == type_), key=lambda r: r.name)

    def root(self) -> SynthResource:
        return next(r for r in self.resources if r.parent is None)


def short_type(type_: str) -> str:
    """`aws:ec2/subnet:Subnet` -> `Subnet`."""
    return type_.rsplit(":", 1)[-1]


def address(resource: SynthResource) -> str:
    """`Subnet:ryan0001-public-0`: how documents and placeholders refer to a resource."""
    return f"{short_type(resource.type)}:{resource.name}"
