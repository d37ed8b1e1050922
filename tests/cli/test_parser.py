"""Argument parsing: every command, its shared options, and the help that teaches the workflow."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from automation.cli import build_parser
from automation.pulumi_cli import PROJECT_ROOT

COMMANDS = ("create", "preview", "destroy", "list", "outputs", "reap", "doctor", "synth")


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_create_takes_the_feature_and_every_shared_option() -> None:
    args = parse(
        "create", "ryan0001", "--version", "1.0.0-ryan0001", "--work-dir", "/tmp/p", "--backend", "file:///s",
        "--set", "aws:region=us-east-1", "--set", "phoenix:fleet.minSize=1", "--json", "--quiet", "--yes",
        "--summary", "s.md", "--wait-lock", "30", "--defaults", "d.yaml", "--skip-preflight",
    )
    assert (args.command, args.feature, args.package_version) == ("create", "ryan0001", "1.0.0-ryan0001")
    assert args.overrides == ["aws:region=us-east-1", "phoenix:fleet.minSize=1"]
    assert (args.work_dir, args.backend, args.defaults, args.summary) == ("/tmp/p", "file:///s", "d.yaml", "s.md")
    assert args.json and args.quiet and args.yes and args.skip_preflight
    assert args.wait_lock == 30.0


def test_defaults_of_the_shared_options(monkeypatch) -> None:
    monkeypatch.delenv("PHOENIX_WORK_DIR", raising=False)
    args = parse("destroy", "ryan0001")
    assert args.overrides == [] and args.wait_lock == 0.0 and not args.json and args.summary is None
    assert args.work_dir is None and args.backend is None


def test_preview_flags() -> None:
    args = parse("preview", "1.0.0-ryan0001", "--diff", "--expect-no-changes")
    assert args.diff and args.expect_no_changes and args.package_version is None


def test_reap_flags() -> None:
    args = parse(
        "reap", "--older-than", "0s", "--keep", "a", "b", "--keep", "c", "--keep-file", "live.txt",
        "--dry-run", "--parallel", "4",
    )
    assert args.older_than == "0s" and args.keep == ["a", "b", "c"] and args.keep_file == ["live.txt"]
    assert args.dry_run and args.parallel == 4


def test_doctor_feature_is_optional_and_synth_takes_a_format() -> None:
    assert parse("doctor").feature is None
    assert parse("doctor", "ryan0001").feature == "ryan0001"
    assert parse("synth", "ryan0001", "--format", "mermaid").format == "mermaid"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["create"],
        ["bogus"],
        ["create", "ryan0001", "--wait-lock", "-1"],
        ["create", "ryan0001", "--wait-lock", "soon"],
        ["reap", "--parallel", "0"],
        ["reap", "--parallel", "two"],
        ["list", "ryan0001"],
        ["synth", "ryan0001", "--format", "png"],
        ["create", "ryan0001", "--older-than", "1h"],
    ],
)
def test_bad_arguments_exit_2_with_usage(argv, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_every_option_of_every_command_has_help() -> None:
    for name, parser in subparsers().items():
        for action in parser._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest} has no help"


def test_every_command_help_has_an_example_and_the_exit_codes() -> None:
    for name, parser in subparsers().items():
        text = parser.format_help()
        assert f"python -m automation {name}" in text, f"{name} --help has no example"
        assert "130" in text and "--wait-lock" in text, f"{name} --help lacks the exit codes"


def test_top_level_help_teaches_the_workflow() -> None:
    text = build_parser().format_help()
    for needle in ("create 1.0.0-ryan0001", "destroy ryan0001", "reap", "OCTOPUS_API_KEY",
                   "PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL", "exit codes"):
        assert needle in text
    for command in COMMANDS:
        assert command in text


HEAVY = ("pulumi_aws", "pulumi.automation", "boto3", "botocore", "grpc", "requests")


@pytest.mark.parametrize("argv", [["--help"], ["create", "--help"], ["reap", "--help"]])
def test_help_imports_nothing_heavy(argv) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "automation", *argv],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "automation.cli" in imported, "importtime output was not read"
    heavy = sorted(name for name in imported if name.split(".")[0] in {h.split(".")[0] for h in HEAVY}
                   and any(name == h or name.startswith(h + ".") for h in HEAVY))
    assert heavy == []
