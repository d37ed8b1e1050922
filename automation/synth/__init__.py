"""Offline synth: a feature environment's resources and picture, with no credentials.

Pulumi has no `synth`, so phoenix runs its own program in-process under
Pulumi's mocks with the stack config `create` would write (secrets replaced by
a marker) and records every resource it registers. Nothing reaches AWS,
Octopus, the network or a Pulumi CLI. Values only the cloud knows become
marked placeholders, so the output is the same on every machine and the JSON
form can serve as a golden file.

`command` is what the CLI runs, `run` drives the program under `monitor`'s
mocks with `placeholders` standing in for the cloud, `model` is what it
records, and `tree`, `json_document` and `mermaid` render it.
"""

from automation.synth.command import masked_environ, run_cli, synth_feature
from automation.synth.formats import FORMATS, render
from automation.synth.mermaid import (
    DRAWN,
    OVERRIDE_TYPE,
    TENANT_TYPE,
    mermaid_label,
    mermaid_text,
    node_id,
    render_mermaid,
)
from automation.synth.json_document import document, render_json
from automation.synth.model import SynthError, SynthResource, Synthesis, address, short_type
from automation.synth.placeholders import PLACEHOLDER_IMAGE, PLACEHOLDERS, SECRET_MARKER, placeholder_version
from automation.synth.run import synthesize
from automation.synth.tree import render_tree

__all__ = [
    "DRAWN",
    "FORMATS",
    "OVERRIDE_TYPE",
    "PLACEHOLDERS",
    "SECRET_MARKER",
    "TENANT_TYPE",
    "SynthError",
    "SynthResource",
    "Synthesis",
    "address",
    "document",
    "masked_environ",
    "mermaid_label",
    "mermaid_text",
    "node_id",
    "placeholder_version",
    "PLACEHOLDER_IMAGE",
    "render",
    "render_json",
    "render_mermaid",
    "render_tree",
    "run_cli",
    "short_type",
    "synth_feature",
    "synthesize",
]
