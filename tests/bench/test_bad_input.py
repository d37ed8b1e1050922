"""The bad-input table's verdicts: a row passes only when the input is refused by name and nothing exists."""

from __future__ import annotations

import pytest

from bench.bad_input import Case, Outcome, Row, cases, check, cli, run_cases
from bench.sandbox import sandbox
from components.octopus.client import OctopusClient


def row(outcome: Outcome, *, needle: str = "ryan/0001", created=(), leaked=(), prop=None) -> Row:
    case = Case("argument", "label", needle, lambda box: outcome, expect_property=prop)
    return Row(case, outcome, list(created), list(leaked))


def test_exit_2_naming_the_input_with_nothing_created_passes() -> None:
    result = row(Outcome(code=2, output="usage: ...\nerror: feature id 'ryan/0001' is invalid"))
    assert result.ok
    assert result.message() == "error: feature id 'ryan/0001' is invalid"


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (row(Outcome(code=1, output="ryan/0001 failed")), "expected exit 2, got exit 1"),
        (row(Outcome(code=2, output="error: invalid")), "does not name 'ryan/0001'"),
        (row(Outcome(code=2, output="ryan/0001"), created=["tenant ryan0001"]), "created: tenant ryan0001"),
        (row(Outcome(code=2, output="ryan/0001"), leaked=["API-SECR..."]), "leaked: API-SECR..."),
        (row(Outcome(failures=()), prop="tenant_name"), "expected a CheckFailure on tenant_name, got accepted"),
        (row(Outcome(failures=(("projects", "ryan/0001"),)), prop="tenant_name"), "CheckFailure on tenant_name"),
        (row(Outcome(failures=(("tenant_name", "bad"),)), prop="tenant_name"), "does not name"),
    ],
)
def test_a_row_that_is_not_a_clean_refusal_fails(result: Row, problem: str) -> None:
    assert not result.ok
    assert any(problem in text for text in result.problems()), result.problems()


def test_the_table_has_at_least_30_hostile_inputs_through_every_door() -> None:
    table = cases()
    hostile = [case for case in table if case.expect_code != 0 or case.expect_property]
    assert len(hostile) >= 30
    assert {case.area for case in hostile} == {
        "argument", "registration key", "defaults.yaml", "Octopus (preflight)", "provider check()"
    }
    assert len([case for case in hostile if case.area == "registration key"]) >= 4
    assert len({case.label for case in table}) == len(table), "each row names its own input"


def test_good_input_and_a_write_to_octopus_fail_their_rows() -> None:
    def writes_a_tenant(box) -> Outcome:
        with OctopusClient(box.emulator.url, box.emulator.api_key) as client:
            client.create_tenant({"Name": "sneaky"})
        return Outcome(code=2, output="error: sneaky")

    with sandbox() as box:
        rows = run_cases(box, [
            Case("provider check()", "good tenant inputs", "x", check("tenant"), expect_property="tenant_name"),
            Case("argument", "good list", "x", cli("list")),
            Case("argument", "writes", "sneaky", writes_a_tenant),
            Case("argument", "bad feature", "ryan/0001", cli("create", "ryan/0001")),
        ])
    accepted, listed, wrote, refused = rows
    assert accepted.outcome.summary == "accepted" and not accepted.ok
    assert listed.outcome.code == 0 and not listed.ok
    assert not wrote.ok and "created: tenant sneaky" in wrote.problems()
    assert any(problem.startswith("created: POST /api/") for problem in wrote.problems())
    assert refused.ok, refused.problems()
