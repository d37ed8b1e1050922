"""The soak's random faults: rates as configured, visible in the request log, survivable by the client."""

from __future__ import annotations

import re

import pytest

from bench.faults import FaultRates, RandomFaults
from components.octopus.client import OctopusClient
from components.octopus.errors import OctopusUnavailable
from tests.octopus_emulator.faults import Fault


def test_injected_faults_are_the_ones_the_log_shows(octopus_emulator) -> None:
    emulator = octopus_emulator
    plan = RandomFaults(FaultRates(unavailable=0.2, dropped=0.1, latency=(0.0, 0.0)), seed=3)
    emulator.faults = plan
    with OctopusClient(emulator.url, emulator.api_key, backoff_factor=0.001, retries=8) as client:
        for index in range(30):
            client.create_tenant({"Name": f"t{index:02d}"})
    log = emulator.request_log
    dropped = plan.injected["dropped before the work"] + plan.injected["dropped after the work"]
    assert plan.injected["503"] == sum(1 for r in log if r.status == 503) > 0
    assert dropped == sum(1 for r in log if r.status == 0) > 0
    # Retries, look-ups and posts after lost answers: every tenant exactly once.
    assert sorted(t["Name"] for t in emulator.tenants()) == [f"t{index:02d}" for index in range(30)]


def test_every_request_failing_ends_in_unavailable_not_a_hang(octopus_emulator) -> None:
    octopus_emulator.faults = RandomFaults(FaultRates(unavailable=1.0, dropped=0.0, latency=(0.0, 0.0)), seed=1)
    with OctopusClient(octopus_emulator.url, octopus_emulator.api_key, backoff_factor=0.001, retries=2) as client:
        with pytest.raises(OctopusUnavailable):
            client.find_tenant("ryan0001")
    assert [r.status for r in octopus_emulator.request_log] == [503, 503, 503]


def test_planned_faults_come_before_random_ones_and_every_request_is_delayed() -> None:
    delays: list[float] = []
    plan = RandomFaults(FaultRates(unavailable=0.0, dropped=0.0, latency=(0.01, 0.02)), seed=5, sleep=delays.append)
    plan.add(Fault(method="GET", pattern=re.compile("/tenants"), status=429, remaining=1))
    first, second = plan.take("GET", "/api/Spaces-1/tenants"), plan.take("GET", "/api/Spaces-1/tenants")
    assert first is not None and first.status == 429
    assert second is None and sum(plan.injected.values()) == 0
    assert len(delays) == 1 and 0.01 <= delays[0] <= 0.02


def test_the_same_seed_injects_the_same_faults() -> None:
    rates = FaultRates(unavailable=0.3, dropped=0.1, latency=(0.0, 0.0))

    def kinds(seed: int) -> list:
        plan = RandomFaults(rates, seed)
        return [(f.status, f.drop, f.processed) if f else None for f in (plan.take("GET", "/api") for _ in range(50))]

    assert kinds(7) == kinds(7) != kinds(8)


@pytest.mark.parametrize(
    "rates",
    [dict(unavailable=-0.1), dict(unavailable=0.6, dropped=0.5), dict(latency=(0.2, 0.1)), dict(latency=(-1.0, 0.0))],
)
def test_impossible_rates_are_refused(rates: dict) -> None:
    with pytest.raises(ValueError):
        FaultRates(**rates)
