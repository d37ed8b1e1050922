"""The synth JSON of the sample feature is committed; any change to what it creates fails here.

A change under components/, bootstrap/ or stacks/defaults.yaml that alters the
sample environment fails with a unified diff of the document. When the change
is intended, update the golden file and commit it with the change:

    PHOENIX_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/synth -k golden

(or, equivalently, with OCTOPUS_REGISTRATION_API_KEY and PHOENIX_DEFAULTS unset:
python -m automation synth ryan0001 --version 1.0.0-ryan0001 --set phoenix:dns.zone=features.example.com
--format json --output tests/synth/golden/ryan0001.json)
"""

from __future__ import annotations

import difflib
import os

import pytest

from automation import synth
from tests.synth import sample

MAX_DIFF_LINES = 200


def golden_diff(expected: str, actual: str) -> str:
    """A unified diff of the golden file against the new document, cut to a readable length."""
    lines = list(
        difflib.unified_diff(
            expected.splitlines(), actual.splitlines(),
            fromfile=f"{sample.GOLDEN.name} (committed)", tofile=f"{sample.GOLDEN.name} (synthesized now)",
            lineterm="", n=4,
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more diff lines"]
    return "\n".join(lines)


def check_golden(actual: str, *, update: bool) -> None:
    if update:
        sample.GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        sample.GOLDEN.write_text(actual, encoding="utf-8")
        return
    assert sample.GOLDEN.is_file(), f"no golden file at {sample.GOLDEN}; create it with: {sample.UPDATE_COMMAND}"
    expected = sample.GOLDEN.read_text(encoding="utf-8")
    if expected != actual:
        pytest.fail(
            "the synthesized sample environment differs from the committed golden file.\n"
            f"If the change is intended, update it: {sample.UPDATE_COMMAND}\n\n{golden_diff(expected, actual)}",
            pytrace=False,
        )


def test_sample_matches_golden(synthesis: synth.Synthesis) -> None:
    check_golden(synth.render(synthesis, "json"), update=bool(os.environ.get(sample.UPDATE_VARIABLE)))


def test_golden_is_stable_across_runs(synthesis: synth.Synthesis) -> None:
    """No random id, timestamp or registration order reaches the document."""
    again = sample.synthesize()
    assert synth.render(again, "json") == synth.render(synthesis, "json")


def test_a_changed_environment_fails_with_a_readable_diff() -> None:
    changed = synth.render(sample.synthesize(overrides=["phoenix:network.cidr=10.30.0.0/16"]), "json")
    with pytest.raises(pytest.fail.Exception) as failure:
        check_golden(changed, update=False)
    message = str(failure.value)
    assert sample.UPDATE_COMMAND in message
    assert '-                  "cidrBlock": "10.20.0.0/16",' in message
    assert '+                  "cidrBlock": "10.30.0.0/16",' in message
    # Only what moved is shown, with a little context: not the whole document.
    assert message.count("\n") < MAX_DIFF_LINES + 20
