"""Mermaid's own parser, run by node on the diagrams synth renders.

The parser is the npm package pinned in tests/synth/mermaid/package-lock.json.
Without it the tests fail (never skip) and say how to install it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

PARSER_DIR = Path(__file__).resolve().parent / "mermaid"
INSTALL_HINT = "npm ci --prefix tests/synth/mermaid (scripts/install-test-tools does it)"


@dataclass(frozen=True)
class Parsed:
    ok: bool
    error: str
    graph: dict[str, Any]

    def vertices(self) -> dict[str, dict[str, Any]]:
        return {vertex["id"]: vertex for vertex in self.graph.get("vertices", [])}

    def subgraphs(self) -> dict[str, dict[str, Any]]:
        return {subgraph["id"]: subgraph for subgraph in self.graph.get("subgraphs", [])}

    def edges(self) -> list[dict[str, Any]]:
        return list(self.graph.get("edges", []))


def parse(text: str, *, parser_dir: Optional[Path] = None) -> Parsed:
    parser_dir = parser_dir or PARSER_DIR
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed; the Mermaid check needs it and then: {INSTALL_HINT}")
    if not (parser_dir / "node_modules" / "mermaid").is_dir():
        pytest.fail(f"the Mermaid parser is not installed in {parser_dir}: run {INSTALL_HINT}")
    done = subprocess.run(
        [node, str(parser_dir / "parse.mjs")],
        input=text, capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        return Parsed(ok=False, error=done.stderr.strip(), graph={})
    return Parsed(ok=True, error="", graph=json.loads(done.stdout))
