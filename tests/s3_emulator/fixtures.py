"""pytest fixtures: one moto server per session, an empty world per test, a fault proxy on demand."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.s3_emulator.emulator import S3Emulator
from tests.s3_emulator.proxy import FaultProxy


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Emulator]:
    with S3Emulator() as server:
        yield server


@pytest.fixture
def s3_emulator(s3_server: S3Emulator) -> Iterator[S3Emulator]:
    """The moto server, emptied, with the state bucket (versioned) and an administrator."""
    s3_server.reset()
    yield s3_server
    s3_server.reset()


@pytest.fixture
def s3_proxy(s3_emulator: S3Emulator) -> Iterator[FaultProxy]:
    """A fault proxy in front of the emulator; no faults until a test plans them."""
    with FaultProxy(s3_emulator.endpoint) as proxy:
        yield proxy
