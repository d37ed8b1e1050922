"""`octopus.tenant`: a tenant with the feature's name that its stack does not manage stops create up front.

Without the check, create finds the name taken only midway, when the tenant
provider refuses it after the stack was made.
"""

from __future__ import annotations

from dataclasses import replace

from automation import doctor
from tests.doctor.conftest import ENVIRONMENT, FEATURE, PROJECT, assert_named, run_one


def test_no_tenant_of_that_name_passes(ready_octopus, make_context) -> None:
    check = run_one(make_context(), "octopus.tenant")
    assert (check.status, check.found) == ("ok", f"no tenant named {FEATURE!r} yet: create makes it")


def test_a_taken_name_the_stack_does_not_manage_fails_naming_the_tenant_and_the_ways_out(
    ready_octopus, make_context
) -> None:
    taken = ready_octopus.seed_tenant(FEATURE, projects=[PROJECT], environments=[ENVIRONMENT])
    ctx = replace(make_context(), stack_tenant_ids=frozenset())
    check = run_one(ctx, "octopus.tenant")
    assert check.status == "fail"
    assert_named(check.found, repr(FEATURE), taken["Id"], "does not manage it")
    assert_named(check.fix, "adoptExistingTenant", "delete or rename")
    assert "octopus.tenant" in {spec.name for spec in doctor.CHECKS if "create" in spec.scopes}


def test_the_stacks_own_tenant_an_interrupted_create_or_adoption_pass(ready_octopus, make_context) -> None:
    taken = ready_octopus.seed_tenant(FEATURE, projects=[PROJECT], environments=[ENVIRONMENT])
    own = run_one(replace(make_context(), stack_tenant_ids=frozenset({taken["Id"]})), "octopus.tenant")
    assert own.status == "ok" and "managed by stack" in own.found
    interrupted = replace(make_context(), stack_tenant_ids=frozenset(), stack_creating_tenants=frozenset({FEATURE}))
    assert run_one(interrupted, "octopus.tenant").status == "ok"
    adopting = replace(make_context("phoenix:octopus.adoptExistingTenant=true"), stack_tenant_ids=frozenset())
    check = run_one(adopting, "octopus.tenant")
    assert check.status == "ok" and "takes it over" in check.found


def test_a_stack_that_could_not_be_read_only_warns(ready_octopus, make_context) -> None:
    ready_octopus.seed_tenant(FEATURE, projects=[PROJECT], environments=[ENVIRONMENT])
    check = run_one(make_context(), "octopus.tenant")  # stack_tenant_ids None: not known
    assert check.status == "warn" and "not checked" in check.found


def test_without_a_feature_there_is_nothing_to_check(ready_octopus, make_context) -> None:
    check = run_one(make_context(feature=None, version=None), "octopus.tenant")
    assert (check.status, check.found) == ("ok", "not checked: no feature given")
