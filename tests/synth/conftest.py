"""One synthesis of the sample feature, shared by the synth tests (it is read, never changed)."""

from __future__ import annotations

import pytest

from automation import synth
from tests.synth import sample


@pytest.fixture(scope="session")
def synthesis() -> synth.Synthesis:
    return sample.synthesize()


@pytest.fixture(scope="session")
def sample_document(synthesis: synth.Synthesis) -> dict:
    return sample.document(synthesis)
