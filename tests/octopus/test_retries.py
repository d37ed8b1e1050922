"""Transient failures: what is retried, what is not, and how long giving up takes."""

from __future__ import annotations

import time

import pytest

from components.octopus import session as session_module
from components.octopus.errors import OctopusConflict, OctopusUnavailable
from components.octopus.session import IDEMPOTENT_METHODS, retry_policy
from tests.octopus.conftest import Seeded, make_client
from tests.octopus_emulator import OctopusEmulator


def test_policy_never_repeats_a_post() -> None:
    policy = retry_policy(retries=4, backoff_factor=0.25)
    assert "POST" not in policy.allowed_methods
    assert {"GET", "PUT", "DELETE"} <= set(policy.allowed_methods) == IDEMPOTENT_METHODS
    assert set(policy.status_forcelist) == {429, 502, 503, 504}


def test_503_twice_then_success(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"^/api/users/me$", status=503, count=2)
    with make_client(octopus_emulator) as octopus:
        assert octopus.current_user()["Username"] == "phoenix"
    statuses = [r.status for r in octopus_emulator.request_log if r.path == "/api/users/me"]
    assert statuses == [503, 503, 200]


def test_503_forever_gives_up_in_bounded_time(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"^/api/users/me$", status=503, count=1000)
    started = time.monotonic()
    with make_client(octopus_emulator, retries=3, backoff_factor=0.05) as octopus:
        with pytest.raises(OctopusUnavailable) as unavailable:
            octopus.current_user()
    assert time.monotonic() - started < 5
    assert unavailable.value.status == 503
    assert "maintenance" in unavailable.value.message
    assert octopus_emulator.count("GET", r"^/api/users/me$") == 4  # first try + 3 retries


def test_retry_after_is_honoured(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"^/api/users/me$", status=429, retry_after=1)
    started = time.monotonic()
    with make_client(octopus_emulator) as octopus:
        octopus.current_user()
    assert time.monotonic() - started >= 0.9


def test_a_huge_retry_after_is_capped(
    octopus_emulator: OctopusEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "RETRY_AFTER_MAX_SECONDS", 1)
    octopus_emulator.fail_next("GET", r"^/api/users/me$", status=429, retry_after=3600)
    started = time.monotonic()
    with make_client(octopus_emulator) as octopus:
        octopus.current_user()
    assert 0.9 <= time.monotonic() - started < 5


def test_dropped_connections_on_reads_are_retried(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"^/api/users/me$", drop=True, count=2)
    with make_client(octopus_emulator) as octopus:
        assert octopus.current_user()["Username"] == "phoenix"
    assert [r.status for r in octopus_emulator.request_log if r.path == "/api/users/me"] == [0, 0, 200]


def test_a_slow_server_times_out_and_is_retried(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.latency = 0.5
    started = time.monotonic()
    with make_client(octopus_emulator, timeout=(1.0, 0.2), retries=2) as octopus:
        with pytest.raises(OctopusUnavailable, match="ReadTimeout|timed out") as slow:
            octopus.root()
    assert slow.value.status is None
    assert time.monotonic() - started < 3
    octopus_emulator.latency = 0.0


def test_an_unreachable_server_is_unavailable() -> None:
    started = time.monotonic()
    with make_client_at("http://127.0.0.1:9") as octopus:
        with pytest.raises(OctopusUnavailable, match="no response"):
            octopus.root()
    assert time.monotonic() - started < 3


def make_client_at(url: str):
    from components.octopus.client import OctopusClient

    return OctopusClient(url, "API-NOWHERE", retries=2, backoff_factor=0.01, timeout=(0.5, 0.5))


def test_put_is_retried_after_a_503(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    tenant = octopus_emulator.seed_tenant("ryan0001", ["Phoenix Web"], ["Feature"])
    octopus_emulator.fail_next("PUT", r"/tenants/", status=503)
    with make_client(octopus_emulator) as octopus:
        octopus.modify_tenant({**tenant, "Description": "changed"})
    assert octopus_emulator.tenants()[0]["Description"] == "changed"
    assert octopus_emulator.count("PUT") == 2


def test_post_is_not_retried_on_503(octopus_emulator: OctopusEmulator, seeded: Seeded) -> None:
    octopus_emulator.fail_next("POST", r"/tenants$", status=503)
    with make_client(octopus_emulator, retries=3) as octopus:
        tenant = octopus.create_tenant({"Name": "ryan0001"})
    assert tenant["Name"] == "ryan0001"
    assert len(octopus_emulator.tenants()) == 1
    methods = [r.method for r in octopus_emulator.request_log if "/tenants" in r.path]
    assert methods == ["POST", "GET", "POST"]  # the look-up stands between the two POSTs


def test_a_post_whose_answer_was_lost_is_found_not_repeated(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    """The server created the tenant, then the connection dropped before the answer."""
    octopus_emulator.fail_next("POST", r"/tenants$", drop=True, processed=True)
    with make_client(octopus_emulator) as octopus:
        tenant = octopus.create_tenant({"Name": "ryan0001"})
    assert [t["Id"] for t in octopus_emulator.tenants()] == [tenant["Id"]]
    assert octopus_emulator.count("POST", r"/tenants$") == 1


def test_a_post_that_never_arrived_is_sent_once_more(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    octopus_emulator.fail_next("POST", r"/tenants$", drop=True)
    with make_client(octopus_emulator) as octopus:
        tenant = octopus.create_tenant({"Name": "ryan0001"})
    assert [t["Id"] for t in octopus_emulator.tenants()] == [tenant["Id"]]
    assert octopus_emulator.count("POST", r"/tenants$") == 2


def test_a_late_landing_first_post_is_adopted_not_duplicated(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    """The first POST lands only after our look-up: the retry meets "name exists"."""
    octopus_emulator.fail_next("POST", r"/tenants$", drop=True)
    octopus_emulator.after_next(
        "GET", r"/tenants$", lambda: octopus_emulator.seed_tenant("ryan0001")
    )
    with make_client(octopus_emulator) as octopus:
        tenant = octopus.create_tenant({"Name": "ryan0001"})
    assert [t["Id"] for t in octopus_emulator.tenants()] == [tenant["Id"]]


def test_a_name_clash_on_the_first_post_is_a_real_conflict(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    octopus_emulator.seed_tenant("ryan0001")
    with make_client(octopus_emulator) as octopus:
        with pytest.raises(OctopusConflict):
            octopus.create_tenant({"Name": "ryan0001"})
    assert octopus_emulator.count("GET", r"/tenants$") == 0


def test_create_gives_up_when_posts_keep_failing(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    octopus_emulator.fail_next("POST", r"/tenants$", status=503, count=100)
    with make_client(octopus_emulator, retries=2) as octopus:
        with pytest.raises(OctopusUnavailable):
            octopus.create_tenant({"Name": "ryan0001"})
    assert octopus_emulator.tenants() == []
    assert octopus_emulator.count("POST", r"/tenants$") == 3


def test_machine_policy_create_recovers_the_same_way(
    octopus_emulator: OctopusEmulator,
) -> None:
    octopus_emulator.fail_next("POST", r"/machinepolicies$", status=504, processed=True)
    with make_client(octopus_emulator) as octopus:
        policy = octopus.create_machine_policy({"Name": "Feature environments"})
    names = [p["Name"] for p in octopus_emulator.machine_policies()]
    assert sorted(names) == ["Default Machine Policy", "Feature environments"]
    assert policy["Name"] == "Feature environments"
