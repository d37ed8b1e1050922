"""The JSON form: sorted, free of random ids and timestamps, userdata readable; golden files use it."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
from typing import Any, Mapping

from automation.synth.model import Synthesis, SynthResource, address
from automation.synth.placeholders import PLACEHOLDERS
from automation.synth.values import sorted_value


#: Bumped when the JSON document's shape changes, so golden files say what they hold.
DOCUMENT_VERSION = 1
#: Inputs that hold userdata, shown decoded.
USERDATA_KEYS = ("userData", "user_data")


def describe_userdata(encoded: str) -> dict[str, Any]:
    """Userdata as a reviewer reads it: size, digest and the script itself, line by line."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = encoded.encode("utf-8")
        encoding = "text"
    else:
        encoding = "base64"
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
        encoding += "+gzip"
    text = raw.decode("utf-8", errors="replace")
    return {
        "encoding": encoding,
        "bytes": len(encoded.encode("utf-8")),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "lines": text.splitlines(),
    }


def document(synthesis: Synthesis) -> dict[str, Any]:
    """The JSON document: sorted, free of random ids and timestamps, userdata readable."""
    by_urn = synthesis.by_urn()

    def node(resource: SynthResource) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": resource.type, "name": resource.name}
        if resource.physical_name is not None:
            entry["physicalName"] = resource.physical_name
        if resource.inputs:
            entry["inputs"] = readable_inputs(resource.inputs)
        if resource.dependencies:
            entry["dependsOn"] = {
                key: sorted(address(by_urn[urn]) for urn in urns if urn in by_urn)
                for key, urns in resource.dependencies.items()
            }
        children = synthesis.children(resource.urn)
        if children:
            entry["children"] = [node(child) for child in children]
        return entry

    return {
        "synth": DOCUMENT_VERSION,
        "project": synthesis.project,
        "stack": synthesis.stack,
        "config": sorted_value(dict(synthesis.config)),
        "resources": node(synthesis.root()),
        "outputs": sorted_value(dict(synthesis.outputs)),
        "warnings": list(synthesis.warnings),
        "placeholders": PLACEHOLDERS,
        "estimate": _estimate(synthesis),
    }


def _estimate(synthesis: Synthesis) -> dict[str, Any]:
    from automation.cost.render import estimate_json

    return estimate_json(synthesis)


def readable_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with userdata decoded into lines, so a golden-file diff reads like the script."""
    return {
        key: describe_userdata(value) if key in USERDATA_KEYS and isinstance(value, str) else sorted_value(value)
        for key, value in sorted(inputs.items())
    }


def render_json(synthesis: Synthesis) -> str:
    return json.dumps(document(synthesis), indent=2, ensure_ascii=False) + "\n"
