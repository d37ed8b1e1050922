"""The real Pulumi CLI through the Automation API: the whole lifecycle of one dynamic resource."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from automation import pulumi_cli
from tests.engine.file_record import FileRecord

pytestmark = pytest.mark.engine


def test_installed_cli_reports_the_pinned_version(pulumi_bin: Path) -> None:
    assert pulumi_cli.cli_version(pulumi_bin) == pulumi_cli.PULUMI_VERSION
    # The Automation API refuses a CLI older than the SDK; pinned together, they must agree.
    from importlib.metadata import version

    assert version("pulumi") == pulumi_cli.PULUMI_VERSION
    beside = {p.name for p in pulumi_bin.parent.iterdir()}
    assert {"pulumi-resource-pulumi-python", "pulumi-language-python-exec"} <= beside


def test_preview_up_up_destroy_remove(engine, tmp_path: Path) -> None:
    from pulumi import automation as auto

    target = tmp_path / "greeting.txt"

    def program() -> None:
        record = FileRecord("greeting", path=str(target), content="hello")
        pulumi.export("content", record.content)

    work_dir = tmp_path / "project"
    work_dir.mkdir()
    stack = auto.create_or_select_stack(
        stack_name="smoke",
        project_name="smoke",
        program=program,
        opts=engine.workspace_options(
            work_dir,
            project_settings=auto.ProjectSettings(name="smoke", runtime="python"),
            secrets_provider="passphrase",
        ),
    )

    preview = stack.preview()
    assert preview.change_summary == {"create": 2}  # the stack itself and the record
    assert not target.exists(), "preview must not create anything"

    up = stack.up()
    assert up.summary.result == "succeeded"
    assert up.outputs["content"].value == "hello"
    assert target.read_text() == "hello"

    again = stack.up()
    assert again.summary.resource_changes == {"same": 2}

    destroyed = stack.destroy()
    assert destroyed.summary.result == "succeeded"
    assert not target.exists()

    stack.workspace.remove_stack("smoke")
    assert "smoke" not in {s.name for s in stack.workspace.list_stacks()}
