"""The Markdown change summary CI shows for a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.reap import Outcome
from automation.summary import (
    Output,
    Report,
    Step,
    append,
    describe_changes,
    has_changes,
    render,
    render_reap,
    summary_targets,
)


def test_a_create_report_renders_its_table_changes_and_outputs() -> None:
    report = Report(
        command="create",
        feature="ryan0001",
        result="succeeded",
        package_version="1.0.1-ryan0001",
        changes={"same": 2, "update": 1},
        steps=[
            Step("same", "pulumi-python:dynamic/octopus:Tenant", "ryan0001-tenant"),
            Step("update", "pulumi-python:dynamic/octopus:AutoDeployOverride", "ryan0001-override"),
        ],
        outputs={"url": Output("http://ryan0001.example"), "tenant_id": Output("Tenants-1")},
        duration_seconds=12.4,
    )
    assert render(report) == (
        "### phoenix create `ryan0001`: succeeded\n"
        "\n"
        "| | |\n"
        "| --- | --- |\n"
        "| Stack | `ryan0001` |\n"
        "| Package version | `1.0.1-ryan0001` |\n"
        "| Changes | 1 updated, 2 unchanged |\n"
        "| Duration | 12 s |\n"
        "\n"
        "| Operation | Type | Resource |\n"
        "| --- | --- | --- |\n"
        "| update | `pulumi-python:dynamic/octopus:AutoDeployOverride` | `ryan0001-override` |\n"
        "\n"
        "| Output | Value |\n"
        "| --- | --- |\n"
        "| `tenant_id` | `Tenants-1` |\n"
        "| `url` | `http://ryan0001.example` |\n"
        "\n"
    )


def test_secret_outputs_are_masked_and_cells_cannot_break_the_table() -> None:
    report = Report(
        command="create", feature="ryan0001", result="failed",
        message="Octopus said: a | b\nsecond line",
        outputs={"key": Output("API-SECRETVALUE", secret=True), "odd": Output("a`b|c")},
    )
    markdown = render(report)
    assert "API-SECRETVALUE" not in markdown
    assert "| `key` | `[secret]` |" in markdown
    assert "| Message | Octopus said: a \\| b second line |" in markdown
    assert "| `odd` | `` a`b\\|c `` |" in markdown
    for line in markdown.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")


def test_preview_and_update_wording() -> None:
    changes = {"create": 2, "same": 1, "delete": 1, "replace": 1}
    assert describe_changes(changes, preview=True) == "2 to create, 1 to replace, 1 to delete, 1 unchanged"
    assert describe_changes(changes, preview=False) == "2 created, 1 replaced, 1 deleted, 1 unchanged"
    assert describe_changes({}, preview=True) == "no resources"
    assert has_changes(changes) and not has_changes({"same": 3}) and not has_changes({"create": 0})


def test_appends_to_the_file_and_the_step_summary_once_each(tmp_path: Path) -> None:
    own = tmp_path / "out" / "summary.md"
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    written, failed = append("## one\n", str(own), {"GITHUB_STEP_SUMMARY": str(step)})
    append("## two\n", str(own), {"GITHUB_STEP_SUMMARY": str(step)})
    assert (written, failed) == ([own, step], [])
    assert own.read_text() == "## one\n## two\n"
    assert step.read_text() == "earlier step\n## one\n## two\n"
    assert summary_targets(str(step), {"GITHUB_STEP_SUMMARY": str(step)}) == [step]
    assert summary_targets(None, {}) == []


@pytest.mark.parametrize("unwritable", ["flag", "variable"])
def test_an_unwritable_target_warns_alike_whichever_names_it_and_the_other_is_still_written(
    tmp_path: Path, unwritable: str
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    bad, good = str(blocked / "summary.md"), str(tmp_path / "good.md")
    flag, variable = (bad, good) if unwritable == "flag" else (good, bad)
    written, failed = append("## one\n", flag, {"GITHUB_STEP_SUMMARY": variable})
    assert written == [Path(good)]
    [failure] = failed
    source = "--summary" if unwritable == "flag" else "GITHUB_STEP_SUMMARY"
    assert failure.warning().startswith(f"warning: could not write the summary to {bad} ({source}): ")


def test_reap_summary_lists_every_outcome() -> None:
    markdown = render_reap(
        [Outcome("a", "kept", "kept (--keep / --keep-file)"), Outcome("b", "destroyed", "past --older-than 0s"),
         Outcome("c", "failed", "c: Octopus unavailable", 1)],
        dry_run=False,
    )
    assert markdown.splitlines()[4:-1] == [
        "| `a` | kept | kept (--keep / --keep-file) |",
        "| `b` | destroyed | past --older-than 0s |",
        "| `c` | failed | c: Octopus unavailable |",
    ]
    assert "dry run" in render_reap([], dry_run=True) and "No feature stacks" in render_reap([])
