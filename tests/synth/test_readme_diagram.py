"""The README's diagram of a feature is the one synth draws today, not one drawn once by hand.

Rewritten with the golden file (PHOENIX_UPDATE_GOLDEN=1), after the same review.
"""

from __future__ import annotations

import os
import re

import pytest

from automation import synth
from automation.pulumi_cli import PROJECT_ROOT
from tests.synth import mermaid_parser, sample

README = PROJECT_ROOT / "README.md"
BLOCK = re.compile(
    r"(<!-- synth ryan0001 mermaid: begin -->\n```mermaid\n)(.*?)(```\n<!-- synth ryan0001 mermaid: end -->)",
    re.DOTALL,
)


def test_readme_diagram_is_the_golden_drawing_synth_makes_today(synthesis: synth.Synthesis) -> None:
    drawn = synth.render(synthesis, "mermaid")
    text = README.read_text(encoding="utf-8")
    found = BLOCK.findall(text)
    assert len(found) == 1, "README.md must hold exactly one synth diagram block"
    if os.environ.get(sample.UPDATE_VARIABLE):
        README.write_text(BLOCK.sub(lambda m: m.group(1) + drawn + m.group(3), text), encoding="utf-8")
        return
    if found[0][1] != drawn:
        pytest.fail(
            "README.md's diagram differs from what synth draws for the sample feature.\n"
            f"If the change is intended, update it: {sample.UPDATE_COMMAND}",
            pytrace=False,
        )


def test_readme_diagram_parses_with_mermaids_own_parser() -> None:
    (block,) = BLOCK.findall(README.read_text(encoding="utf-8"))
    result = mermaid_parser.parse(block[1])
    assert result.ok, result.error
    assert result.vertices(), "the diagram draws the feature's resources"
