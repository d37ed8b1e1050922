"""feature.maxCostPerDay: over it, create and preview refuse with exit 2 and nothing is created."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from automation.cli import main
from automation.cost import ledger
from automation.cost.budget import OverBudget, check, suggestions, with_instance_type
from automation.cost.estimate import estimate
from automation.cost.prices import load_prices
from automation.pulumi_cli import PROJECT_ROOT
from tests.octopus_emulator.fixtures import TEST_REGISTRATION_KEY
from tests.synth import sample

TABLE = load_prices()
EU = TABLE.region("eu-west-1")


@pytest.fixture(scope="module")
def defaults():
    return estimate(sample.synthesize(), TABLE, ttl_hours=72)


@pytest.fixture(scope="module")
def without_nat():
    return estimate(sample.synthesize(overrides=("phoenix:network.nat=none",)), TABLE, ttl_hours=72)


def test_under_or_at_the_budget_passes_and_no_budget_is_none(defaults) -> None:
    check(defaults, defaults.per_day, EU, origin="test")
    check(defaults, defaults.per_day + 0.01, EU, origin="test")
    check(defaults, None, EU, origin="test")


def test_over_names_the_largest_items_and_what_brings_it_under(defaults, without_nat) -> None:
    budget = without_nat.per_day + 0.01  # nat none fits; t3.micro alone does not
    assert with_instance_type(defaults, "t3.micro", EU).per_day > budget
    with pytest.raises(OverBudget) as refused:
        check(defaults, budget, EU, origin="stacks/defaults.yaml: feature.maxCostPerDay",
              without_nat=lambda: without_nat)
    message = str(refused.value)
    assert f"estimated at {defaults.per_day:.2f} USD/day" in message
    assert "budget: stacks/defaults.yaml: feature.maxCostPerDay" in message and "nothing was created" in message
    assert "largest items: NAT gateway 1.15/day, load balancer" in message
    assert f"network.nat: none ({without_nat.per_day:.2f}/day)" in message
    assert "fleet.instanceType" not in message
    assert refused.value.code == 2


def test_a_smaller_instance_type_is_priced_on_the_same_resources(defaults) -> None:
    budget = with_instance_type(defaults, "t3.micro", EU).per_day + 0.001
    found = suggestions(defaults, budget, EU, without_nat=None)
    assert found == [f"fleet.instanceType: t3.micro ({with_instance_type(defaults, 't3.micro', EU).per_day:.2f}/day)"]
    micro = with_instance_type(defaults, "t3.micro", EU)
    assert defaults.per_hour - micro.per_hour == pytest.approx(
        EU.instances["t3.small"]["linux"] - EU.instances["t3.micro"]["linux"]
    )


def test_both_together_when_neither_alone_is_enough(defaults, without_nat) -> None:
    both = with_instance_type(without_nat, "t3.micro", EU).per_day
    found = suggestions(defaults, both + 0.001, EU, without_nat=lambda: without_nat)
    assert found == [f"network.nat: none with fleet.instanceType: t3.micro ({both:.2f}/day)"]


def test_nothing_fits_says_so(defaults, without_nat) -> None:
    with pytest.raises(OverBudget, match="no single setting brings it under"):
        check(defaults, 0.5, EU, origin="test", without_nat=lambda: without_nat)


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the phoenix program and its defaults: the budget is checked on what it declares."""
    work = tmp_path / "project"
    (work / "stacks").mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py", "stacks/defaults.yaml"):
        shutil.copy(PROJECT_ROOT / name, work / name)
    return work


@pytest.fixture
def cli_env(monkeypatch, octopus_emulator, tmp_path: Path) -> Path:
    for name in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "GITHUB_STEP_SUMMARY", "CI",
                 "PHOENIX_WORK_DIR", "PHOENIX_DEFAULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCTOPUS_API_KEY", octopus_emulator.api_key)
    monkeypatch.setenv("OCTOPUS_REGISTRATION_API_KEY", TEST_REGISTRATION_KEY)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "phrase")
    state = tmp_path / "state"
    state.mkdir()
    return state


@pytest.mark.parametrize("command", ["create", "preview"])
def test_over_budget_exits_2_and_nothing_is_created(command, project, cli_env, octopus_emulator, capsys) -> None:
    summary = project.parent / "summary.md"
    code = main([
        command, "1.0.0-ryan0001", "--work-dir", str(project), "--backend", f"file://{cli_env}",
        "--set", f"octopus:serverUrl={octopus_emulator.url}", "--set", "phoenix:maxCostPerDay=2.5",
        "--json", "--summary", str(summary),
    ])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "Traceback" not in captured.err
    document = json.loads(captured.out)
    assert document["exitCode"] == 2
    assert "over feature.maxCostPerDay 2.50; nothing was created" in document["error"]
    assert "budget: --set: phoenix:maxCostPerDay" in document["error"]
    assert "network.nat: none" in document["error"] and "fleet.instanceType: t3.micro" in document["error"]
    assert list(cli_env.iterdir()) == [], "the file backend stayed empty"
    assert sorted(p.name for p in project.iterdir()) == ["Pulumi.yaml", "__main__.py", "stacks"]
    assert octopus_emulator.request_log == [], "Octopus was not even asked"
    assert "failed" in summary.read_text() and "maxCostPerDay" in summary.read_text()


def test_the_budget_in_defaults_yaml_is_named_where_it_was_written(project, cli_env, octopus_emulator, capsys) -> None:
    defaults = project / "stacks" / "defaults.yaml"
    defaults.write_text(defaults.read_text().replace("maxCostPerDay: 10", "maxCostPerDay: 1.5"))
    code = main(["preview", "1.0.0-ryan0001", "--work-dir", str(project), "--backend", f"file://{cli_env}",
                 "--set", f"octopus:serverUrl={octopus_emulator.url}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "over feature.maxCostPerDay 1.50" in err and "stacks/defaults.yaml: feature.maxCostPerDay\n" in err
    assert "network.nat: none with fleet.instanceType: t3.micro" in err
    assert octopus_emulator.request_log == []


@pytest.mark.parametrize(
    ("value", "needle"),
    [("0", "not a budget"), ("-3", "not a budget"), ("lots", "must be a number of USD a day"),
     ("[1]", "must be a number")],
)
def test_a_bad_budget_is_refused_by_name(value, needle, project, cli_env, octopus_emulator, capsys) -> None:
    code = main(["create", "1.0.0-ryan0001", "--work-dir", str(project), "--backend", f"file://{cli_env}",
                 "--set", f"phoenix:maxCostPerDay={value}"])
    err = capsys.readouterr().err
    assert code == 2 and "phoenix:maxCostPerDay" in err and needle in err, err
    assert list(cli_env.iterdir()) == [] and octopus_emulator.request_log == []


def test_a_budget_without_prices_for_the_region_is_refused(project, cli_env, octopus_emulator, capsys) -> None:
    code = main(["create", "1.0.0-ryan0001", "--work-dir", str(project), "--backend", f"file://{cli_env}",
                 "--set", "aws:region=ap-south-2"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot hold feature 'ryan0001' to feature.maxCostPerDay" in err
    assert "has no prices for region 'ap-south-2'" in err
    assert list(cli_env.iterdir()) == [] and octopus_emulator.request_log == []


# --- what list shows -------------------------------------------------------------------------


def test_the_ledger_accrues_each_estimate_for_as_long_as_it_was_deployed() -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    first = ledger.next_record(None, 2.4, start)
    assert first == {"perDay": 2.4, "since": "2026-03-02T09:00:00+00:00", "accrued": 0.0}
    assert ledger.accumulated(first, start + timedelta(hours=12)) == pytest.approx(1.2)
    # Asleep after a day: the second record carries the first day on and accrues at its own rate.
    second = ledger.next_record(first, 0.6, start + timedelta(days=1))
    assert second["accrued"] == pytest.approx(2.4)
    assert ledger.accumulated(second, start + timedelta(days=2)) == pytest.approx(3.0)
    assert ledger.per_day(second) == 0.6
    # What the history hands back from the stack config: text or nothing usable.
    assert ledger.accumulated({"perDay": "0.6", "since": second["since"], "accrued": "2.4"},
                              start + timedelta(days=2)) == pytest.approx(3.0)
    assert ledger.accumulated({"perDay": "x"}, start) is None and ledger.accumulated(None, start) is None
