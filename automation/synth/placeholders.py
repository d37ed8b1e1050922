"""Stand-ins for what only AWS, Octopus or the operator know, so synth needs none of them.

Values the cloud assigns become marked placeholders (`<az-1>`,
`<LoadBalancer:phoenix-fleet-alb.dnsName>`), secrets become one marker, and a
data source gets a fixed answer, so the output is the same on every machine.
What a type computes and how it is auto-named is read from the SDK's own
classes, not listed by hand.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Mapping, Optional

from automation.config import TENANT_VARIABLE_SECRETS
from automation.synth.model import short_type


#: How a secret appears in synth output: the same mask the other commands print.
SECRET_MARKER = "[secret]"
#: The registration key when it is not the API key: a marker of its own, so that
#: the program's refusal of the deploy key as registration key judges the keys given.
REGISTRATION_MARKER = "[secret:registration]"


#: The image synth pins where create would pin the newest match of fleet.amiNamePattern (an id's shape: it
#: goes through the same validation as a real one).
PLACEHOLDER_IMAGE = "ami-00000000000000000"

#: Placeholders for what only AWS knows, explained under every output.
PLACEHOLDERS = {
    "<az-N>": "availability zone names AWS picks for the region",
    PLACEHOLDER_IMAGE: "a stand-in for the image create pins (the newest match of fleet.amiNamePattern)",
    "<root-device>": "the image's root device name, whose volume the launch template encrypts",
    "<account-id>": "the AWS account the credentials belong to",
    "<Type:NAME.id>, <Type:NAME.prop>": "an id or attribute assigned when resource NAME is created",
    "<random>": "the random suffix Pulumi appends to an auto-named resource",
    SECRET_MARKER: "a secret: never read or printed by synth",
    REGISTRATION_MARKER: "the registration key, a secret other than the API key",
}

#: Pulumi's auto-naming: the logical name, a hyphen and seven random hex digits.
AUTONAME_SUFFIX = "-<random>"


def placeholder_version(feature_id: str) -> str:
    """The package version synth assumes when none is given (create would ask Octopus)."""
    return f"0.0.0-{feature_id}"




def secret_stand_ins(secrets: Mapping[str, Optional[str]], *, shares_deploy_key: bool) -> dict[str, str]:
    """What synth holds for each secret config key create would write.

    The API key is always "set" (create refuses to run without it), even on a
    fresh machine; so is the registration key, which create requires unless
    the org opted in to sharing the deploy key (`shares_deploy_key`). Equal keys
    get equal stand-ins, so synth refuses the deploy key as registration key
    exactly as create does. Markers map to themselves: masking is idempotent.
    """
    api_key = (secrets.get("octopus:apiKey") or "").strip()
    registration = (secrets.get("octopus:registrationApiKey") or "").strip()
    stand_ins = {"octopus:apiKey": SECRET_MARKER}
    if registration and registration == api_key:
        stand_ins["octopus:registrationApiKey"] = SECRET_MARKER
    elif registration or not shares_deploy_key:
        stand_ins["octopus:registrationApiKey"] = REGISTRATION_MARKER
    tenant_secrets = (secrets.get(TENANT_VARIABLE_SECRETS) or "").strip()
    if tenant_secrets:
        # A JSON object of template -> value: each value masked, the names kept.
        stand_ins[TENANT_VARIABLE_SECRETS] = json.dumps({name: SECRET_MARKER for name in json.loads(tenant_secrets)})
    return stand_ins


def shares_deploy_key(octopus: Any) -> bool:
    """The org's opt-in as written (`phoenix:octopus` object); validation judges its type later."""
    return isinstance(octopus, Mapping) and octopus.get("shareDeployKeyWithInstances") is True


def data_source_answer(
    token: str, args: Mapping[str, Any], *, az_count: int, region: str
) -> Optional[dict[str, Any]]:
    """What a data source returns offline: placeholders for what only AWS knows; None if unknown."""
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        count = max(az_count, 2)
        return {
            "id": region,
            "names": [f"<az-{index}>" for index in range(1, count + 1)],
            "zoneIds": [f"<az-id-{index}>" for index in range(1, count + 1)],
            "groupNames": [region],
            "state": args.get("state", "available"),
        }
    if token == "aws:ec2/getAmi:getAmi":
        # Only the root device look-up asks, by the pinned image's id.
        ids = [value for item in args.get("filters") or () if item.get("name") == "image-id"
               for value in item.get("values") or ()]
        image = ids[0] if ids else PLACEHOLDER_IMAGE
        return {
            "id": image,
            "imageId": image,
            "name": "<ami-name>",
            "architecture": "x86_64",
            "owners": list(args.get("owners") or []),
            "mostRecent": bool(args.get("mostRecent")),
            "rootDeviceName": "<root-device>",
        }
    if token == "aws:index/getRegion:getRegion":
        return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "id": "<account-id>",
            "accountId": "<account-id>",
            "arn": "<caller-arn>",
            "userId": "<caller-user-id>",
        }
    if token == "aws:index/getPartition:getPartition":
        return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
    return None


def resource_class(type_: str) -> Optional[type]:
    """The Python class behind a type token, when it is importable here."""
    import importlib

    if type_.startswith("pulumi-python:"):
        from pulumi.dynamic import Resource

        wanted = type_.split(":", 1)[1]
        pending = list(Resource.__subclasses__())
        while pending:
            cls = pending.pop()
            if getattr(cls, "_resource_type_name", None) == wanted:
                return cls
            pending.extend(cls.__subclasses__())
        return None
    try:
        package, module, name = type_.split(":")
    except ValueError:
        return None
    if package == "pulumi":
        return None
    first = module.split("/")[0]
    path = f"pulumi_{package.replace('-', '_')}" + ("" if first == "index" else f".{first}")
    try:
        return getattr(importlib.import_module(path), name, None)
    except ImportError:
        return None


@functools.lru_cache(maxsize=None)
def _wire_properties(cls: Optional[type]) -> tuple[str, ...]:
    """The engine-side names of a class's `@pulumi.getter` properties."""
    if cls is None:
        return ()
    names = []
    for attr in dir(cls):
        prop = getattr(cls, attr, None)
        wire = getattr(getattr(prop, "fget", None), "_pulumi_name", None)
        if isinstance(prop, property) and wire:
            names.append(wire)
    return tuple(names)


def computed_outputs(type_: str) -> list[str]:
    """Output properties the cloud assigns (not inputs of the type): placeholders offline."""
    cls = resource_class(type_)
    if cls is None:
        return []
    if type_.startswith("pulumi-python:"):
        annotations: dict[str, Any] = {}
        for base in reversed(cls.__mro__):
            annotations.update(getattr(base, "__annotations__", {}))
        return sorted(name for name, hint in annotations.items() if "Output" in str(hint))
    inputs = set(_wire_properties(_args_class(cls)))
    return sorted(set(_wire_properties(cls)) - inputs - {"tagsAll", "id", "urn"})


def autonamed(type_: str) -> bool:
    """Pulumi names the resource itself (`name` plus a random suffix) unless told a name."""
    if type_.startswith("pulumi-python:"):
        return False
    return "name" in _wire_properties(_args_class(resource_class(type_)))


def _args_class(cls: Optional[type]) -> Optional[type]:
    """`LoadBalancer` -> `LoadBalancerArgs`: the generated class holding the type's inputs."""
    return getattr(sys.modules[cls.__module__], f"{cls.__name__}Args", None) if cls else None


def placeholder(type_: str, name: str, prop: str) -> str:
    """`<Subnet:ryan0001-public-0.id>`: a value the cloud assigns, naming who assigns it.

    The type is part of it because Pulumi lets two types share a logical name
    (a subnet and its route table association, an EIP and its NAT gateway).
    """
    return f"<{short_type(type_)}:{name}.{prop}>"


#: Inputs that name what a dynamic resource manages where it lives (the Octopus tenant).
DYNAMIC_NAME_INPUTS = ("tenant_name",)


def physical_name(type_: str, name: str, inputs: Mapping[str, Any], *, custom: bool) -> Optional[str]:
    """The name the resource will have where it lives, as far as it is known offline."""
    if not custom:
        return None
    if isinstance(inputs.get("name"), str) and inputs["name"]:
        return inputs["name"]
    if isinstance(inputs.get("namePrefix"), str) and inputs["namePrefix"]:
        return f"{inputs['namePrefix']}<random>"
    if type_.startswith("pulumi-python:"):
        found = [inputs[key] for key in DYNAMIC_NAME_INPUTS if isinstance(inputs.get(key), str)]
        return found[0] if found else None
    if autonamed(type_):
        return f"{name}{AUTONAME_SUFFIX}"
    tags = inputs.get("tags")
    if isinstance(tags, Mapping) and isinstance(tags.get("Name"), str):
        return f"{placeholder(type_, name, 'id')} tagged Name={tags['Name']}"
    return placeholder(type_, name, "id")
