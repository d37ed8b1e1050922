"""Fixtures of the rollout tests: a fake clock, AWS credentials that reach nothing, the Auto Scaling stand-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import boto3
import botocore.loaders
import botocore.session
import pytest

from tests.rollout.autoscaling_server import HEALTHY, REGION, AutoScalingStandIn, Hook, Template

ACCESS_KEY_ID = "AKIAROLLOUTGATETEST1"
SECRET_ACCESS_KEY = "rollout-gate-secret-access-key-never-logged"
GROUP = "phoenix-ryan0001-fleet"
HOOK = "phoenix-bootstrap"
#: Reads of an unmoving clock that mean a busy loop (a waiter reads it a few times per poll).
SPIN_READS = 1000


@dataclass
class FakeClock:
    """Time that moves only when the waiter sleeps (or a test says an AWS call took time)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Optional[Callable[[int], None]] = None
    _still: tuple[float, int] = (1000.0, 0)
    """The time last read and how often in a row: a waiter that never lets it move is spinning."""

    def __call__(self) -> float:
        last, reads = self._still
        self._still = (self.now, reads + 1 if self.now == last else 1)
        assert self._still[1] <= SPIN_READS, f"the waiter read the clock {SPIN_READS} times while no time passed: it spins"
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, "the waiter asked to sleep a negative time"
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


@dataclass
class Fleet:
    """A launch template and the group created on its version 1, in the stand-in."""

    stand_in: AutoScalingStandIn
    template: Template
    name: str = GROUP

    def new_version(self, boots: str = HEALTHY) -> str:
        with self.stand_in.state() as aws:
            return aws.add_version(self.template, boots)

    def saved_version(self) -> str:
        with self.stand_in.state() as aws:
            return aws.groups[self.name].template["Version"]

    def versions(self) -> dict[str, int]:
        with self.stand_in.state() as aws:
            return aws.versions(self.name)

    def active_refresh(self) -> Any:
        with self.stand_in.state() as aws:
            return aws.groups[self.name].active_refresh

    def refreshes(self) -> list[Any]:
        with self.stand_in.state() as aws:
            return list(aws.groups[self.name].refreshes)


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


@pytest.fixture
def stand_in() -> Iterator[AutoScalingStandIn]:
    with AutoScalingStandIn(access_key_id=ACCESS_KEY_ID) as server:
        yield server


#: One loader for every test's client: reading the service model once saves a second per test.
_LOADER = botocore.loaders.create_loader()


def boto3_session(**credentials: str) -> boto3.session.Session:
    """A fresh boto3 session (its own credential look-up) sharing the loaded service models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, **credentials)


@pytest.fixture
def client(stand_in: AutoScalingStandIn) -> Any:
    return boto3_session().client("autoscaling", region_name=REGION, endpoint_url=stand_in.url)


@pytest.fixture
def fleet(stand_in: AutoScalingStandIn) -> Fleet:
    """Version 1 boots healthy; a group of two runs it, behind the launch hook."""
    with stand_in.state() as aws:
        template = aws.add_template(GROUP)
        aws.create_group(GROUP, template, "1", desired=2, hook=Hook(HOOK, heartbeat_timeout=300))
    return Fleet(stand_in, template)
