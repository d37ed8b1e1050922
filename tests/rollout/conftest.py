"""Fixtures of the rollout gate's tests: a fake clock and an AWS environment that reaches nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.rollout.shapes import REGION

ACCESS_KEY_ID = "AKIAROLLOUTGATETEST1"
SECRET_ACCESS_KEY = "rollout-gate-secret-access-key-never-logged"


@dataclass
class FakeClock:
    """Time that moves only when the waiter sleeps (or a test says an AWS call took time)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Optional[Callable[[int], None]] = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, "the waiter asked to sleep a negative time"
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Credentials for boto3's standard chain, and no way for it to find real ones."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_AUTO_SCALING"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
