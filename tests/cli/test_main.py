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
        (["create", "ryan_0001"], "did you mean 'ryan-0001'?"),
        (["create", "1.0.0-ryan0001", "--backend", "foo"], "--backend 'foo' is not a state backend URL"),
        (["list", "--backend", "foo"], "--backend 'foo' is not a state backend URL"),
        (["create", "1.0.0-ryan0001", "--set", "phoenix:fleet.minSize=0x10"], "'0x10' is not a decimal number"),
        (["create", "1.0.0-ryan0001", "--set", "phoenix:tags.owner=$(id)"], "holds '$'"),
        (["create", "1.0.0-ryan0001", "--set", "phoenix:tags.owner=a\nb"], "holds '\\n'"),
        (["create", "1.0.0-ryan0001", "--set", "phoenix:fleet={}"], "--set: phoenix:fleet."),
        (["destroy", "ryan0001", "--set", "phoenix:network={nat: single, nat: per_az}"], "duplicate key 'nat'"),
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


def test_a_huge_bad_value_is_cut_short_in_the_message(project, env, capsys) -> None:
    code, out, err = run(capsys, "create", "1.0.0-ryan0001", "--set", "phoenix:fleet.os=" + "x" * 5000,
                         "--work-dir", str(project))
    assert code == 2 and err.startswith("error: --set: phoenix:fleet.os: 'xxx")
    assert len(err) < 600 and " ... " in err and " characters)" in err
    assert "is not one of linux, windows" in err
    untouched(project)


def test_a_defaults_file_that_is_not_utf8_is_bad_input(project, env, capsys, tmp_path) -> None:
    defaults = tmp_path / "latin1.yaml"
    defaults.write_bytes(b"aws:\n  region: eu-west-1  # r\xe9gion\n")
    code, _, err = run(capsys, "create", "1.0.0-ryan0001", "--defaults", str(defaults), "--work-dir", str(project))
    assert code == 2 and "latin1.yaml: line 2: is not UTF-8 text" in err
    untouched(project)


def test_relative_paths_are_read_from_the_callers_folder(project, env, capsys, tmp_path, monkeypatch) -> None:
    caller = tmp_path / "caller"
    caller.mkdir()
    (caller / "mine.yaml").write_text("aws:\n  region: Mars North\n")
    monkeypatch.chdir(caller)
    code, _, err = run(capsys, "create", "1.0.0-ryan0001", "--defaults", "mine.yaml", "--work-dir", str(project))
    assert code == 2 and "mine.yaml" in err and "file not found" not in err
    untouched(project)


def test_outputs_of_a_feature_without_a_stack_is_bad_input_and_needs_no_passphrase(project, env, capsys) -> None:
    env.delenv("PULUMI_CONFIG_PASSPHRASE")
    code, out, err = run(capsys, "outputs", "nosuch0001", "--work-dir", str(project))
    assert (code, out) == (2, "")
    assert err.startswith("error: feature 'nosuch0001' has no stack")
    untouched(project)


class Terminal:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    from automation.cli import colour_wanted

    assert colour_wanted(Terminal(True), {})
    assert not colour_wanted(Terminal(False), {})
    assert not colour_wanted(Terminal(True), {"NO_COLOR": "1"})
    assert not colour_wanted(Terminal(True), {"TERM": "dumb"})
    painted = Console(json_mode=False, environ={}, color=True).paint("[ryan0001] warning: slow")
    assert painted == "[ryan0001] \x1b[33mwarning:\x1b[0m slow"
    assert Console(json_mode=False, environ={}, color=False).paint("error: x") == "error: x"


def test_an_unwritable_summary_warns_alike_for_the_flag_and_the_variable(project, env, capsys, tmp_path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    env.setenv("GITHUB_STEP_SUMMARY", str(blocked / "step.md"))
    code, _, err = run(capsys, "create", "1.0.0-ryan0001", "--set", "phoenix:network.nat=double",
                       "--summary", str(blocked / "own.md"), "--work-dir", str(project))
    assert code == 2
    warnings = [line for line in err.splitlines() if line.startswith("warning: could not write the summary")]
    assert warnings == [
        f"warning: could not write the summary to {blocked / 'own.md'} (--summary): File exists",
        f"warning: could not write the summary to {blocked / 'step.md'} (GITHUB_STEP_SUMMARY): File exists",
    ]


def test_a_refused_registration_key_writes_a_summary_without_either_key(project, env, capsys, tmp_path) -> None:
    env.setenv("OCTOPUS_REGISTRATION_API_KEY", API_KEY)  # the deploy key itself
    summary = tmp_path / "summary.md"
    code, out, err = run(capsys, "create", "1.0.0-ryan0001", "--summary", str(summary), "--work-dir", str(project))
    assert code == 2
    text = summary.read_text()
    assert "OCTOPUS_REGISTRATION_API_KEY" in text and "OCTOPUS_REGISTRATION_API_KEY" in err
    assert API_KEY not in text + out + err
    untouched(project)
