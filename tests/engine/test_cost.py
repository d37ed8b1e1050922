"""The estimate through the real CLI and engine: create and preview carry it, list accrues it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.test_cli_end_to_end import PROJECT, Cli, cli  # noqa: F401 - the fixture

pytestmark = pytest.mark.engine


def test_under_the_budget_create_proceeds_and_list_shows_the_estimate(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    cli.emulator.seed_release(PROJECT, "1.0.0-ryan0001")
    summary = tmp_path / "summary.md"
    # This project declares only the Octopus half: every resource is free, well under any budget.
    created = cli.run("create", "1.0.0-ryan0001", "--json", "--summary", str(summary),
                      "--set", "phoenix:maxCostPerDay=0.01")
    assert created.returncode == 0, created.stderr[-3000:]
    report = json.loads(created.stdout)
    assert report["result"] == "succeeded"
    estimate = report["estimate"]
    assert (estimate["perDay"], estimate["currency"], estimate["region"]) == (0.0, "USD", "eu-west-1")
    assert estimate["prices"]["taken"] and estimate["lines"] == []
    assert "[ryan0001] estimated cost: 0.000 USD/hour" in created.stderr
    assert "**Estimated cost** (eu-west-1, USD, prices of" in summary.read_text()

    [row] = cli.json("list")
    assert row["estimate"] == {"perDay": 0.0, "accumulated": 0.0, "currency": "USD"}
    listed = cli.run("list")
    header, line = listed.stdout.splitlines()
    assert header.endswith("USD/DAY  USD SO FAR") and line.split()[-2:] == ["0.000", "0.000"]

    previewed = cli.json("preview", "ryan0001", "--version", "1.0.0-ryan0001")
    assert previewed["estimate"]["perDay"] == 0.0
