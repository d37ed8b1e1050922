"""`main()` on bad input: a message and exit 2, no traceback, nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation import pulumi_cli
from automation.cli import Console, main

API_KEY = "API-MAINTEST000000000000001"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Pulumi project that must stay untouched by every bad run."""
    work = tmp_path / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (work / "__main__.py").write_text("")
    return work


@pytest.fixture
def env(monkeypatch):
    for name in ("OCTOPUS_API_KEY", "OCTOPUS_REGISTRATION_API_KEY", "PULUMI_CONFIG_PASSPHRASE",
                 "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "GITHUB_STEP_SUMMARY", "CI",
                 "PHOENIX_WORK_DIR", "PHOENIX_DEFAULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCTOPUS_API_KEY", API_KEY)
    monkeypatch.setenv("OCTOPUS_REGISTRATION_API_KEY", "API-MAINREGISTRATION00000001")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "phrase")
    return monkeypatch


def untouched(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == ["Pulumi.yaml", "__main__.py"], "something was created"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["create", "Feature/Ryan"], "feature id"),
        (["create", "ryan0001", "--version", "1.0.0-other01"], "belongs to feature 'other01'"),
        (["create", "1.0.0", ], "no pre-release tag"),
        (["create", "1.0.0-ryan0001", "--set", "phoenix:network.nat=double"], "phoenix:network.nat"),
        (["create", "1.0.0-ryan0001", "--set", "octopus:apiKey=API-X"], "OCTOPUS_API_KEY"),
        (["preview", "1.0.0-ryan0001", "--set", "phoenix:fleet.minSize=9"], "fleet.minSize"),
        (["destroy", "ryan0001", "--set", "bogus"], "KEY=VALUE"),
        (["reap", "--older-than", "soon"], "--older-than"),
        (["reap", "--keep", "Not A Feature"], "--keep"),
        (["outputs", "9lives"], "feature id"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(project, env, capsys, argv, needle) -> None:
    code, out, err = run(capsys, *argv, "--work-dir", str(project))
    assert code == 2
    assert needle in err and err.startswith("error: ")
    assert out == ""
    untouched(project)


def test_a_missing_api_key_stops_create_before_anything(project, env, capsys) -> None:
    env.delenv("OCTOPUS_API_KEY")
    code, _, err = run(capsys, "create", "1.0.0-ryan0001", "--work-dir", str(project))
    assert code == 2 and "OCTOPUS_API_KEY" in err
    untouched(project)


def test_a_missing_passphrase_stops_create_before_anything(project, env, capsys) -> None:
    env.delenv("PULUMI_CONFIG_PASSPHRASE")
    code, _, err = run(capsys, "create", "1.0.0-ryan0001", "--work-dir", str(project))
    assert code == 2 and "PULUMI_CONFIG_PASSPHRASE" in err
    untouched(project)


def test_a_passphrase_file_that_is_missing_is_named(project, env, capsys, tmp_path) -> None:
    env.delenv("PULUMI_CONFIG_PASSPHRASE")
    env.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "no-such-file"))
    code, _, err = run(capsys, "destroy", "ryan0001", "--work-dir", str(project))
    assert code == 2 and "no-such-file" in err
    untouched(project)


def test_a_work_dir_without_a_project_is_bad_input(env, capsys, tmp_path) -> None:
    code, _, err = run(capsys, "list", "--work-dir", str(tmp_path))
    assert code == 2 and "Pulumi.yaml" in err


def test_a_missing_pulumi_cli_says_how_to_install_it(project, env, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(pulumi_cli, "installed_bin", lambda: tmp_path / "no-cli")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    code, _, err = run(capsys, "list", "--work-dir", str(project))
    assert code == 2 and "scripts/install-pulumi" in err
    untouched(project)


def test_json_mode_puts_the_error_on_stdout_as_json(project, env, capsys) -> None:
    code, out, err = run(capsys, "create", "Bad Name", "--json", "--work-dir", str(project))
    assert code == 2
    document = json.loads(out)
    assert document["exitCode"] == 2 and "feature id" in document["error"]
    assert "feature id" in err


def test_a_failed_run_writes_its_summary(project, env, capsys, tmp_path) -> None:
    summary = tmp_path / "summary.md"
    step = tmp_path / "step.md"
    env.setenv("GITHUB_STEP_SUMMARY", str(step))
    code, _, _ = run(capsys, "create", "1.0.0-ryan0001", "--set", "phoenix:network.nat=double",
                     "--summary", str(summary), "--work-dir", str(project))
    assert code == 2
    for path in (summary, step):
        text = path.read_text()
        assert "### phoenix create" in text and ": failed" in text and "phoenix:network.nat" in text


def test_the_console_masks_every_secret_it_knows(capsys) -> None:
    console = Console(json_mode=False, environ={
        "OCTOPUS_API_KEY": API_KEY, "PULUMI_CONFIG_PASSPHRASE": "correct horse", "OCTOPUS_REGISTRATION_API_KEY": "",
    })
    console.log(f"engine said {API_KEY} and correct horse")
    console.out(f"url?apikey={API_KEY}")
    captured = capsys.readouterr()
    assert API_KEY not in captured.err + captured.out and "correct horse" not in captured.err
    assert captured.err == "engine said [secret] and [secret]\n"
    assert captured.out == "url?apikey=[secret]\n"


def test_a_refused_registration_key_writes_a_summary_without_either_key(project, env, capsys, tmp_path) -> None:
    env.setenv("OCTOPUS_REGISTRATION_API_KEY", API_KEY)  # the deploy key itself
    summary = tmp_path / "summary.md"
    code, out, err = run(capsys, "create", "1.0.0-ryan0001", "--summary", str(summary), "--work-dir", str(project))
    assert code == 2
    text = summary.read_text()
    assert "OCTOPUS_REGISTRATION_API_KEY" in text and "OCTOPUS_REGISTRATION_API_KEY" in err
    assert API_KEY not in text + out + err
    untouched(project)
