"""The Octopus-calls benchmark's plumbing: each request gets the right purpose, and counts add up."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.calls import DOCUMENT_API, OPERATIONS, Operation, Verdict, provider_counts, purpose_of, tally, verdict_for
from components.octopus.client import OctopusClient

PROJECT = "Phoenix Web"
ENVIRONMENT = "Feature"


@pytest.mark.parametrize(
    ("method", "path", "purpose"),
    [
        ("GET", "/api/spaces", "space"),
        ("GET", "/api/spaces/Spaces-1", "space"),
        ("GET", "/api/Spaces-1/projects", "project by name"),
        ("GET", "/api/Spaces-1/projects/Projects-1", "project"),
        ("PUT", "/api/Spaces-1/projects/Projects-1", "PUT project"),
        ("GET", "/api/Spaces-1/projects/Projects-1/releases/1.0.0-ryan0001", "release by version"),
        ("GET", "/api/Spaces-1/projects/Projects-1/releases", "releases"),
        ("GET", "/api/Spaces-1/tenants", "tenant by name"),
        ("POST", "/api/Spaces-1/tenants", "POST tenant"),
        ("DELETE", "/api/Spaces-1/tenants/Tenants-3", "DELETE tenant"),
        ("GET", "/api/Spaces-1/machines", "tenant's machines"),
        ("PATCH", "/api/Spaces-1/tenants/Tenants-3", "PATCH /api/Spaces-1/tenants/Tenants-3"),
        ("GET", "/api/configuration/feature-toggles", "feature toggles"),
        ("GET", "/api/Spaces-1/tenants/Tenants-3/projectvariables", "tenant's variables"),
        ("GET", "/api/Spaces-1/tenants/Tenants-3/variables", "tenant's variables"),
        ("PUT", "/api/Spaces-1/tenants/Tenants-3/projectvariables", "PUT tenant's variables"),
        ("PUT", "/api/Spaces-1/tenants/Tenants-3/variables", "PUT tenant's variables"),
    ],
)
def test_each_request_gets_its_purpose(method: str, path: str, purpose: str) -> None:
    assert purpose_of(method, path) == purpose


def test_the_tally_counts_what_the_log_shows_failed_attempts_included(octopus_emulator) -> None:
    emulator = octopus_emulator
    emulator.seed_project(PROJECT)
    emulator.seed_environment(ENVIRONMENT)
    # The first POST gets a 503: the client looks the tenant up by name, then posts again.
    emulator.fail_next("POST", r"/tenants$", status=503)
    with OctopusClient(emulator.url, emulator.api_key, backoff_factor=0.01) as client:
        client.create_tenant({"Name": "ryan0001"})
        client.find_project(PROJECT)
    log = emulator.request_log
    counts = tally(log)
    assert sum(counts.values()) == len(log)
    assert counts == Counter({"space": 1, "POST tenant": 2, "tenant by name": 1, "project by name": 1})
    assert counts["POST tenant"] == emulator.count("POST", r"/tenants$")
    assert [t["Name"] for t in emulator.tenants()] == ["ryan0001"]


def test_requests_above_the_minimum_are_explained_or_flagged() -> None:
    operation = Operation("op", {"space": 1, "PUT project": 1}, "why", {"project": "verify"})
    verdict = Verdict(operation, Counter({"space": 1, "PUT project": 1, "project": 2, "tenant": 1}))
    assert (verdict.requests, verdict.minimum) == (5, 2)
    assert verdict.extras() == {"project": 2, "tenant": 1}
    assert verdict.unexplained() == ["tenant"]
    assert "+2 project: verify" in verdict.explanation()
    assert "+1 tenant: UNEXPLAINED" in verdict.explanation()


def test_a_minimum_the_operation_undercuts_is_reported_as_wrong() -> None:
    verdict = Verdict(Operation("op", {"space": 1, "POST tenant": 1}, "why"), Counter({"POST tenant": 1}))
    assert verdict.missing() == {"space": 1}
    assert "-1 space: below the stated minimum" in verdict.explanation()


def test_every_provider_operation_stays_within_its_explained_requests() -> None:
    from bench.sandbox import sandbox

    with sandbox() as box:
        measured = provider_counts(box)
        assert box.emulator.tenants() == [] and box.overrides() == []
    variables = {name for name in OPERATIONS if name.startswith("tenant variables")}
    assert set(measured) == set(OPERATIONS) | {name + DOCUMENT_API for name in variables}
    for name, counts in measured.items():
        verdict = verdict_for(name, counts)
        assert not verdict.unexplained() and not verdict.missing(), (name, verdict.explanation())
    # The creates each write exactly once: a second POST or PUT would be a duplicate risk.
    assert measured["tenant create"]["POST tenant"] == 1
    assert measured["override create"]["PUT project"] == 1
    for suffix in ("", DOCUMENT_API):
        assert measured["tenant variables create" + suffix]["PUT tenant's variables"] == 1
        assert measured["tenant variables delete" + suffix]["PUT tenant's variables"] == 1
