"""The synth's output formats, by name."""

from __future__ import annotations

from automation.synth.json_document import render_json
from automation.synth.mermaid import render_mermaid
from automation.synth.model import Synthesis
from automation.synth.tree import render_tree

FORMATS = ("tree", "json", "mermaid")


def render(synthesis: Synthesis, fmt: str) -> str:
    """The synthesis as `tree`, `json` or `mermaid` text, ending with a newline."""
    renderers = {"tree": render_tree, "json": render_json, "mermaid": render_mermaid}
    if fmt not in renderers:
        raise ValueError(f"unknown synth format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderers[fmt](synthesis)
