"""Fixtures for the bootstrap tier: a scratch instance per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bootstrap.host import FakeHost


@pytest.fixture
def host(tmp_path: Path):
    """An Amazon Linux-like instance (dnf) with the fakes on PATH."""
    instance = FakeHost(tmp_path / "instance", package_manager="dnf")
    yield instance
    instance.close()


@pytest.fixture
def debian_host(tmp_path: Path):
    """A Debian-like instance (apt-get) with the fakes on PATH."""
    instance = FakeHost(tmp_path / "debian", package_manager="apt-get")
    yield instance
    instance.close()
