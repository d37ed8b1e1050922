"""Argument parsing: every command, its shared options, and the help that teaches the workflow."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from automation.cli import COMMAND_GROUPS, build_parser
from automation.pulumi_cli import PROJECT_ROOT

COMMANDS = ("create", "preview", "destroy", "list", "outputs", "reap", "unlock", "doctor", "synth")


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


def test_unlock_takes_the_feature_and_an_age() -> None:
    args = parse("unlock", "1.0.0-ryan0001", "--older-than", "8h", "--backend", "s3://b/p", "--json")
    assert (args.command, args.feature, args.older_than, args.backend, args.json) == (
        "unlock", "1.0.0-ryan0001", "8h", "s3://b/p", True)
    assert parse("unlock", "ryan0001").older_than is None  # the default depends on the fleet's settings


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
        ["unlock"],
        ["unlock", "ryan0001", "--wait-lock", "5"],
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
        assert f"phoenix {name}" in text, f"{name} --help has no example"
        assert "130" in text and "--wait-lock" in text, f"{name} --help lacks the exit codes"


def test_top_level_help_teaches_the_workflow() -> None:
    text = build_parser().format_help()
    for needle in ("create 1.0.0-ryan0001", "destroy ryan0001", "reap", "OCTOPUS_API_KEY",
                   "PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL", "exit codes"):
        assert needle in text
    for command in COMMANDS:
        assert command in text


#: What each command's --help must offer, and must not (it lists only what the command honours).
HONOURED = {
    "create": ({"--version", "--skip-preflight", "--backend", "--set", "--wait-lock", "--quiet", "--verbose", "--json"},
               {"--yes", "--older-than"}),
    "destroy": ({"--backend", "--set", "--summary", "--verbose", "--json", "--yes"}, {"--version", "--skip-preflight"}),
    "reap": ({"--older-than", "--keep-file", "--set", "--summary", "--verbose", "--yes", "--max-destroy",
              "--allow-empty-keep-list", "--orphans"}, {"--version", "--expiring"}),
    "list": ({"--work-dir", "--backend", "--set", "--json", "--expiring"},
             {"--quiet", "--verbose", "--summary", "--yes", "--max-destroy"}),
    "extend": ({"--work-dir", "--backend", "--set", "--json"}, {"--quiet", "--summary", "--yes", "--wait-lock"}),
    "keep": ({"--work-dir", "--backend", "--json"}, {"--quiet", "--summary", "--yes", "--orphans"}),
    "unkeep": ({"--work-dir", "--backend", "--json"}, {"--quiet", "--summary", "--yes", "--orphans"}),
    "outputs": ({"--work-dir", "--backend", "--json"}, {"--set", "--defaults", "--quiet", "--summary", "--yes"}),
    "doctor": ({"--backend", "--set", "--json", "--version"}, {"--quiet", "--summary", "--yes"}),
    "unlock": ({"--older-than", "--work-dir", "--backend", "--set", "--json"},
               {"--version", "--quiet", "--summary", "--wait-lock", "--yes"}),
    "synth": ({"--version", "--work-dir", "--set", "--json", "--format", "--output"},
              {"--backend", "--quiet", "--summary", "--wait-lock", "--yes"}),
}


@pytest.mark.parametrize("command", sorted(HONOURED))
def test_help_lists_what_the_command_honours_and_nothing_else(command: str) -> None:
    shown, hidden = HONOURED[command]
    text = subparsers()[command].format_help()
    options = {word.strip("[],") for word in text.split() if word.startswith(("--", "[--"))}
    assert shown <= options, f"{command} --help lacks {sorted(shown - options)}"
    assert not hidden & options, f"{command} --help shows {sorted(hidden & options)}, which it ignores"


def test_a_shared_option_reads_the_same_everywhere_and_every_command_takes_yes() -> None:
    helps = {}
    for name, parser in subparsers().items():
        positional = {"extend": ["ryan0001", "2d"]}.get(name) or (["ryan0001"] if "feature" in COMMAND_GROUPS[name] else [])
        assert parser.parse_args([*positional, "--yes"]).yes, f"{name} must accept --yes (CI scripts pass it everywhere)"
        for action in parser._actions:
            for option in action.option_strings:
                helps.setdefault((option, action.dest), set()).add(action.help)
    varied = {key: texts for key, texts in helps.items() if len(texts - {argparse.SUPPRESS}) > 1}
    # Two options are per command by meaning: --version (what Octopus is asked) and --older-than
    # (a feature's age for reap, a lock's for unlock).
    assert set(varied) == {("--version", "package_version"), ("--older-than", "older_than")}, varied


def test_synth_says_its_version_never_comes_from_octopus() -> None:
    text = " ".join(subparsers()["synth"].format_help().split())
    assert "synth never asks Octopus" in text and "newest release" not in text


def test_the_tool_prints_its_version_the_clis_and_the_sdks(capsys) -> None:
    from importlib import metadata

    from automation import __version__

    with pytest.raises(SystemExit) as caught:
        parse("--version")
    assert caught.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"phoenix {__version__}"
    assert lines[1].startswith("Pulumi CLI 3.") and lines[2] == f"Pulumi SDK {metadata.version('pulumi')}"
    assert parse("create", "ryan0001", "--version", "1.0.0-ryan0001").package_version == "1.0.0-ryan0001"


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


def test_reap_caps_deletions_at_ten_unless_told_and_refuses_a_negative_cap() -> None:
    reap = parse("reap")
    assert (reap.max_destroy, reap.allow_empty_keep_list, reap.orphans) == (10, False, False)
    told = parse("reap", "--max-destroy", "0", "--allow-empty-keep-list", "--orphans")
    assert (told.max_destroy, told.allow_empty_keep_list, told.orphans) == (0, True, True)
    with pytest.raises(SystemExit):
        parse("reap", "--max-destroy", "-1")
    assert parse("extend", "1.0.0-ryan0001", "48h").duration == "48h"
    assert parse("list", "--expiring", "12h").expiring == "12h"
