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
        "argument", "registration key", "defaults.yaml", "DNS zone", "Octopus (preflight)", "provider check()"
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


#: The rows of issue 14 ("day two"): each must exit 2 naming the real cause, create nothing, print no traceback.
DAY_TWO = {
    "FEATURE 'ryan_0001' (underscore)", "--backend foo", "PULUMI_BACKEND_URL=bucket/phoenix",
    "--set phoenix:fleet.minSize=0x10 (hex)", "--set phoenix:fleet={} (blames --set)",
    "--set of 5,000 characters (cut short)", "--set tag with a newline", "--set tag '$(id)'",
    "synth --output into a missing folder", "synth --json --format mermaid", "outputs nosuch0001 (no stack)",
    "wrong passphrase for an existing stack", "network.nat given twice", "fleet.minSize: 0x10 (hex)",
    "the file is not UTF-8", "the file is empty", "tags: {owner: 'a;b'} (AWS tag rules)",
    "tenant name 'taken0001' taken, not managed", "destroy with a key Octopus refuses",
    "reap with a key Octopus refuses",
}


def run_prepared(labels: set[str]) -> tuple[list[Row], set[str]]:
    """The rows named, in a sandbox prepared as the bench prepares it; (rows, the stacks left)."""
    from bench.bad_input import prepare

    selected = [case for case in cases() if case.label in labels]
    assert {case.label for case in selected} == labels
    with sandbox() as box:
        box.ready_for_preflight()
        prepare(box)
        rows = run_cases(box, selected)
        existing = box.stacks()
    assert {row.case.label: row.problems() for row in rows if not row.ok} == {}
    return rows, existing


def test_the_day_two_bad_inputs_are_refused_by_name_with_nothing_created() -> None:
    rows, existing = run_prepared(DAY_TWO)
    for row in rows:
        assert "Traceback" not in row.outcome.output, row.case.label
        assert len(row.message()) < 400, row.case.label
    assert "keep0001" in existing, "the existing stack survived the rows about it"


#: The rows of issue 19: a keep-list reap cannot trust stops it, exit 2 naming why, before anything changes.
KEEP_LIST = {
    "reap --keep-file that does not exist", "reap --keep-file /dev/null (empty: the SCM answered nothing)",
    "reap --keep-file of a folder (unreadable)", "reap --orphans --keep-file /dev/null", "reap --max-destroy -1",
}


def test_the_keep_list_rows_refuse_reap_with_nothing_destroyed() -> None:
    rows, existing = run_prepared(KEEP_LIST)
    assert all("Traceback" not in row.outcome.output for row in rows)
    assert "keep0001" in existing, "reap --older-than 0s destroyed nothing"
