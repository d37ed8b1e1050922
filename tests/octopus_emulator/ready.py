"""What a phoenix defaults file names in Octopus: what `--ready` seeds and the benchmarks' sandbox points at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


#: What instances' registration user holds (doctor's `octopus.registrationKey` asks for exactly this):
#: registering a machine, and deleting its own when the instance stops.
REGISTRATION_ONLY = {
    "SpacePermissions": {
        name: [{"SpaceId": "Spaces-1"}]
        for name in ("MachineCreate", "MachineEdit", "MachineView", "MachineDelete", "EnvironmentView", "TenantView",
                     "MachinePolicyView")
    },
    "SystemPermissions": ["SpaceView"],
}


@dataclass(frozen=True)
class Template:
    """A project variable template: the slot a tenant variable's value fills."""

    project: str
    name: str
    sensitive: bool = False


@dataclass(frozen=True)
class OctopusNames:
    """The Octopus names a defaults file points a feature at."""

    project: str
    environment: str
    roles: tuple[str, ...]
    machine_policy: str
    templates: tuple[Template, ...] = ()
    """The templates its tenant variables fill (`octopus.tenantVariables`)."""


def octopus_names(document: Mapping[str, Any]) -> OctopusNames:
    """The names in a parsed defaults document."""
    octopus = document.get("octopus") or {}
    project = str(octopus["project"])
    variables = octopus.get("tenantVariables") or {}
    plain = [variables.get(key) for key in ("url", "feature", "packageVersion")] + list(variables.get("values") or {})
    templates = [Template(project, str(name)) for name in plain if name]
    templates += [Template(project, str(name), sensitive=True) for name in variables.get("sensitive") or {}]
    return OctopusNames(
        project=project,
        environment=str(octopus["environment"]),
        roles=tuple(str(role) for role in octopus.get("roles") or ()),
        machine_policy=str(octopus["machinePolicy"]),
        templates=tuple(templates),
    )
