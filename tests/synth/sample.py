"""The sample feature the synth tests (and the golden file) are built from.

It goes through the same path as `python -m automation synth`: the repository's
stacks/defaults.yaml, --set style overrides and an explicit environment, so
nothing from the machine running the tests (a real OCTOPUS_API_KEY, a
PHOENIX_DEFAULTS) can change what is synthesized.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from automation import config, synth
from automation.feature import parse_feature
from automation.pulumi_cli import PROJECT_ROOT

FEATURE = "ryan0001"
VERSION = "1.0.0-ryan0001"
#: The sample is named in a zone, so the golden file and the diagram hold the name and certificate too.
ZONE = "features.example.com"
SAMPLE_OVERRIDES = (f"phoenix:dns.zone={ZONE}",)
GOLDEN = Path(__file__).resolve().parent / "golden" / f"{FEATURE}.json"
#: Rewrites the golden file instead of comparing with it.
UPDATE_VARIABLE = "PHOENIX_UPDATE_GOLDEN"
UPDATE_COMMAND = f"{UPDATE_VARIABLE}=1 .venv/bin/python -m pytest tests/synth -k golden"


def synthesize(
    feature: str = FEATURE,
    version: Optional[str] = VERSION,
    *,
    overrides: Sequence[str] = (),
    environ: Optional[Mapping[str, str]] = None,
) -> synth.Synthesis:
    sources = config.load(PROJECT_ROOT, (*SAMPLE_OVERRIDES, *overrides))
    return synth.synth_feature(
        parse_feature(feature, version), sources=sources, environ=dict(environ or {})
    )


def document(synthesis: synth.Synthesis) -> dict[str, Any]:
    """The JSON document exactly as written to a file and read back."""
    return json.loads(synth.render(synthesis, "json"))


def resources(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource node of a document by `Type:name`, children included."""
    found: dict[str, dict[str, Any]] = {}
    pending = [doc["resources"]]
    while pending:
        node = pending.pop()
        found[f"{node['type'].rsplit(':', 1)[-1]}:{node['name']}"] = node
        pending.extend(node.get("children", []))
    return found


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path: `a.b[0].c`."""
    if isinstance(value, Mapping):
        items = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return {path: value}
    flat: dict[str, Any] = {}
    for child, item in items:
        flat.update(flatten(item, child))
    return flat


def flat_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document flattened, with each resource under `resources.<Type:name>`."""
    flat = flatten({key: value for key, value in doc.items() if key != "resources"})
    for address, node in resources(doc).items():
        body = {key: value for key, value in node.items() if key != "children"}
        flat.update(flatten(body, f"resources.{address}"))
    return flat
