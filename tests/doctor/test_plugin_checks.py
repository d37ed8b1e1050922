"""`pulumi.plugins`: the provider plugins a program's imports need, against the real CLI's `plugin ls`.

Each test gets a PULUMI_HOME of its own (an empty one is what a fresh
project-local `.pulumi/home` is) and installs plugins the way the CLI lays
them out, so the real `pulumi plugin ls --json` decides what is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from automation import doctor
from automation.doctor import plugins
from automation.pulumi_cli import PROJECT_ROOT
from tests.doctor.conftest import assert_named, install_plugin, run_one, sdk_plugin
from tests.engine.projects.octopus.program import PROJECT_DIR as OCTOPUS_PROJECT, copy_project

AWS, AWS_VERSION = sdk_plugin("pulumi_aws")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- what a program needs ------------------------------------------------------------------------


def test_phoenix_needs_the_aws_plugin_of_its_sdk() -> None:
    program = plugins.program_plugins(PROJECT_ROOT)
    assert [(need.kind, need.name, need.version) for need in program.needs] == [
        ("resource", AWS, AWS_VERSION)
    ]
    [need] = program.needs
    assert need.package == "pulumi_aws"
    assert need.imported_by.startswith("components/"), need.imported_by
    assert program.unread == ()


@pytest.mark.parametrize("where", ["in the repository", "copied out, as the engine tests run it"])
def test_the_octopus_only_project_needs_no_plugin(where: str, tmp_path: Path) -> None:
    work_dir = OCTOPUS_PROJECT if where == "in the repository" else copy_project(tmp_path / "project")
    assert plugins.program_plugins(work_dir).needs == ()


@pytest.fixture
def fake_sdks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Installed packages: two provider SDKs (pulumi-plugin.json) and a plain library."""
    site = tmp_path / "site"
    write(site / "pulumi_fakecloud" / "__init__.py", "")
    write(site / "pulumi_fakecloud" / "pulumi-plugin.json",
          '{"resource": true, "name": "fakecloud", "version": "1.2.3", "server": "https://plugins.fake.test"}')
    write(site / "pulumi_typesonly" / "__init__.py", "")
    write(site / "pulumi_typesonly" / "pulumi-plugin.json", '{"resource": true, "name": "typesonly", "version": "0.1.0"}')
    write(site / "plainlib" / "__init__.py", "")
    monkeypatch.syspath_prepend(str(site))
    return site


def _project(root: Path, main: str = "") -> Path:
    write(root / "Pulumi.yaml", f"name: demo\nruntime:\n  name: python\n{main}")
    return root


def test_imports_are_followed_through_the_project_to_the_provider_sdk(fake_sdks, tmp_path: Path) -> None:
    work = _project(tmp_path / "work", "main: src\n")
    write(work / "src" / "__main__.py", "import plainlib\nfrom infra import stack\n")
    write(work / "infra" / "__init__.py", "")
    write(work / "infra" / "stack.py", "from .cloud import make\n")
    write(work / "infra" / "cloud.py", (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import pulumi_typesonly\n"
        "def make():\n    import pulumi_fakecloud.compute as compute\n    return compute\n"
    ))
    program = plugins.program_plugins(work)
    assert [(n.name, n.version, n.package, n.imported_by) for n in program.needs] == [
        ("fakecloud", "1.2.3", "pulumi_fakecloud", "infra/cloud.py")
    ], "a late import counts, one under TYPE_CHECKING does not"
    assert program.needs[0].install_command(Path("/h")) == (
        "PULUMI_HOME=/h pulumi plugin install resource fakecloud 1.2.3 --server https://plugins.fake.test"
    )


def test_a_project_file_that_cannot_be_parsed_is_named(fake_sdks, tmp_path: Path) -> None:
    work = _project(tmp_path / "work")
    write(work / "__main__.py", "import broken\nimport pulumi_fakecloud\n")
    write(work / "broken.py", "def oops(:\n")
    program = plugins.program_plugins(work)
    assert [n.name for n in program.needs] == ["fakecloud"]
    assert program.unread == ("broken.py line 1: invalid syntax",)


@pytest.mark.parametrize(
    "files, reason",
    [
        ({}, "no Pulumi.yaml"),
        ({"Pulumi.yaml": "name: demo\nruntime: nodejs\n"}, "runtime 'nodejs' is not python"),
        ({"Pulumi.yaml": "name: demo\nruntime: python\n"}, "__main__.py does not exist"),
        ({"Pulumi.yaml": "name: demo\nruntime: python\nmain: app.py\n"}, "app.py does not exist"),
        ({"Pulumi.yaml": "- not\n- a project\n"}, "not a Pulumi project"),
    ],
    ids=["no-project", "other-runtime", "no-entry", "missing-main-file", "not-a-mapping"],
)
def test_a_work_dir_without_a_python_program_fails(make_context, tmp_path: Path, files: dict, reason: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name, text in files.items():
        write(work / name, text)
    with pytest.raises(plugins.ProgramUnreadable, match=reason):
        plugins.program_entry(work)
    ctx = make_context()
    ctx = doctor.DoctorContext(config=ctx.config, sources=ctx.sources, package_version=None,
                               backend_url=ctx.backend_url, work_dir=work)
    check = run_one(ctx, "pulumi.plugins")
    assert check.status == "fail"
    assert_named(check.found, reason)
    assert_named(check.fix, "--work-dir")


# --- against the real CLI ---------------------------------------------------------------------


@pytest.fixture
def plugin_context(make_context, pulumi_bin, plugin_home):
    return make_context()


def test_phoenix_on_an_empty_plugin_home_fails_naming_plugin_version_and_fix(plugin_context, plugin_home) -> None:
    check = run_one(plugin_context, "pulumi.plugins")
    assert check.status == "fail"
    assert_named(check.found, f"resource plugin {AWS} {AWS_VERSION} is not installed in {plugin_home}",
                 "pulumi_aws", "components/", "never downloads")
    assert_named(
        check.fix, "on a machine with internet access",
        f"PULUMI_HOME={plugin_home} pulumi plugin install resource {AWS} {AWS_VERSION}",
        f"{plugin_home}/plugins/resource-{AWS}-v{AWS_VERSION}",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=false",
    )
    with pytest.raises(doctor.PreflightFailed, match="pulumi.plugins"):
        doctor.preflight(plugin_context, "preview")


def test_the_octopus_only_project_passes_on_an_empty_plugin_home(make_context, pulumi_bin, plugin_home) -> None:
    ctx = make_context()
    ctx = doctor.DoctorContext(config=ctx.config, sources=ctx.sources, package_version=None,
                               backend_url=ctx.backend_url, work_dir=OCTOPUS_PROJECT)
    check = run_one(ctx, "pulumi.plugins")
    assert (check.status, check.found) == ("ok", "the program imports no Pulumi provider SDK: it needs no plugin")


def test_the_installed_plugin_passes(plugin_context, plugin_home) -> None:
    install_plugin(plugin_home, AWS, AWS_VERSION)
    check = run_one(plugin_context, "pulumi.plugins")
    assert (check.status, check.found) == ("ok", f"{AWS} {AWS_VERSION} installed in {plugin_home}")


def test_another_version_of_the_plugin_does_not_count(plugin_context, plugin_home) -> None:
    install_plugin(plugin_home, AWS, "7.0.0")
    check = run_one(plugin_context, "pulumi.plugins")
    assert check.status == "fail"
    assert_named(check.found, f"{AWS} {AWS_VERSION} is not installed", f"installed: {AWS} 7.0.0")


@pytest.mark.parametrize("marker, status", [(".partial", "fail"), (".lock", "ok")])
def test_an_unfinished_install_is_not_installed(plugin_context, plugin_home, marker: str, status: str) -> None:
    """The CLI marks an install in progress with `<folder>.partial` (hidden) and a `<folder>.lock` (not)."""
    folder = install_plugin(plugin_home, AWS, AWS_VERSION)
    folder.with_name(folder.name + marker).touch()
    assert run_one(plugin_context, "pulumi.plugins").status == status


def test_allowing_downloads_turns_the_failure_into_a_warning(plugin_context, monkeypatch) -> None:
    monkeypatch.setenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "false")
    check = run_one(plugin_context, "pulumi.plugins")
    assert check.status == "warn"
    assert_named(check.found, "downloads it at the first run", "internet access")


def test_a_plugin_on_the_engine_path_is_used_unless_ambient_plugins_are_ignored(
    plugin_context, monkeypatch, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    ambient = write(bin_dir / f"pulumi-resource-{AWS}", "#!/bin/sh\nexit 1\n")
    ambient.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    check = run_one(plugin_context, "pulumi.plugins")
    assert (check.status, f"on PATH ({ambient})" in check.found) == ("ok", True)
    monkeypatch.setenv("PULUMI_IGNORE_AMBIENT_PLUGINS", "true")
    assert run_one(plugin_context, "pulumi.plugins").status == "fail"


def test_no_cli_leaves_plugins_unchecked(make_context, monkeypatch, tmp_path: Path) -> None:
    from automation import pulumi_cli

    monkeypatch.setattr(pulumi_cli, "INSTALL_ROOT", tmp_path / "no-install")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    checks = doctor.run_checks(make_context(), only=["pulumi.plugins"])
    assert [(c.name, c.status) for c in checks] == [("pulumi.cli", "fail"), ("pulumi.plugins", "warn")]
    assert checks[1].found == "not checked: pulumi.cli did not pass"


# --- the engine's choice, as a pure function ------------------------------------------------------


NEED = plugins.PluginNeed(name="aws", version="7.51.1", package="pulumi_aws", imported_by="components/fleet.py")


@pytest.mark.parametrize(
    "installed, legacy, expected",
    [
        ("7.51.1", False, True),
        ("v7.51.1", False, True),
        ("7.51.1+build.5", False, True),
        ("7.51.2", False, False),
        ("7.51.0", False, False),
        ("7.51.1-alpha.1", False, False),
        ("7.52.0", True, True),
        ("7.51.0", True, False),
        (None, False, True),
    ],
)
def test_only_the_requested_version_satisfies_unless_legacy_search(installed, legacy, expected) -> None:
    plugin = plugins.InstalledPlugin(name="aws", kind="resource", version=installed)
    assert plugins.satisfies(plugin, NEED, legacy=legacy) is expected


def test_another_kind_or_name_never_satisfies() -> None:
    assert not plugins.satisfies(plugins.InstalledPlugin("aws", "language", "7.51.1"), NEED)
    assert not plugins.satisfies(plugins.InstalledPlugin("aws-native", "resource", "7.51.1"), NEED)


def test_legacy_search_accepts_a_newer_plugin(monkeypatch) -> None:
    installed = [plugins.InstalledPlugin("aws", "resource", "7.60.0")]
    env = {"PATH": "", "PULUMI_HOME": "/h", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1"}
    assert doctor.judge_plugins([NEED], installed, env=env).status == "fail"
    env["PULUMI_ENABLE_LEGACY_PLUGIN_SEARCH"] = "true"
    assert doctor.judge_plugins([NEED], installed, env=env).status == "ok"


@pytest.mark.parametrize("text", ["not json", '{"name": "aws"}'])
def test_a_plugin_list_that_is_no_list_is_an_error(text: str) -> None:
    with pytest.raises(plugins.PluginListFailed):
        plugins.parse_plugin_list(text)


def test_the_plugin_list_of_the_cli_is_read() -> None:
    listed = plugins.parse_plugin_list(
        '[{"name": "aws", "kind": "resource", "version": "7.51.1", "size": 17},'
        ' {"name": "python", "kind": "language"}]'
    )
    assert listed == [
        plugins.InstalledPlugin("aws", "resource", "7.51.1"), plugins.InstalledPlugin("python", "language", None)
    ]
    assert plugins.parse_plugin_list("null") == []


def test_the_check_runs_for_every_command() -> None:
    [spec] = [spec for spec in doctor.CHECKS if spec.name == "pulumi.plugins"]
    assert spec.scopes == frozenset(doctor.SCOPES), "create and preview both run the program"
