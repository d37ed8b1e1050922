"""`python -m automation`: the command line CI runs, one Pulumi stack per feature branch.

The parser and everything `--help` needs import nothing heavy; each command
imports the engine (pulumi.automation), the Octopus client or the AWS SDK only
when it runs. Output: results on stdout (JSON with --json), progress and
engine output on stderr prefixed with the feature. Every failure is a message
and an exit code (automation/errors.py), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from automation.errors import EXIT_CODES_HELP, ExitCode, InputError, classify

PROG = "phoenix"

WORKFLOW = """workflow (CI):
  export OCTOPUS_API_KEY=API-...            # never stored in the repository
  export PULUMI_CONFIG_PASSPHRASE=...       # or PULUMI_CONFIG_PASSPHRASE_FILE
  export PULUMI_BACKEND_URL=s3://bucket/phoenix   # else state stays in .state/ of the work dir
  %(prog)s create 1.0.0-ryan0001        # after the branch's package is published
  %(prog)s preview ryan0001 --expect-no-changes
  %(prog)s destroy ryan0001             # the branch was merged or deleted
  %(prog)s reap --keep-file live-branches.txt   # nightly: expired features go

FEATURE is a feature id (ryan0001) or a package version whose pre-release tag
names it (1.0.0-ryan0001). Every stack's config is rebuilt from
stacks/defaults.yaml, --set overrides and the environment on every run.
`phoenix` is scripts/phoenix, the console script of `pip install -e .`, or
`python -m automation`; paths on the command line and in the environment are
read from the folder you run it in.
"""

#: Variables whose values are secrets: never printed, whatever prints them.
SECRET_VARIABLES = (
    "OCTOPUS_API_KEY",
    "OCTOPUS_REGISTRATION_API_KEY",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


def _env_default(variable: str, fallback: Any = None) -> Any:
    return os.environ.get(variable) or fallback


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError("must not be negative" if minimum == 0 else f"must be at least {minimum}")
        return value

    return whole_number


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def _version_help(offline: bool) -> str:
    if offline:
        return ("package version to render (default: FEATURE when it is a version, else the stand-in "
                "0.0.0-FEATURE; synth never asks Octopus)")
    return ("package version to deploy (default: FEATURE when it is a version, else the newest "
            "release of the Octopus project whose pre-release tag names the feature)")


def _shared_parsers() -> dict[str, argparse.ArgumentParser]:
    """Each shared option, defined once, in a named group; a subcommand lists the groups it honours."""
    groups: dict[str, argparse.ArgumentParser] = {}

    def group(name: str, title: Optional[str] = None):
        parser = argparse.ArgumentParser(add_help=False)
        groups[name] = parser
        return parser.add_argument_group(title) if title else parser

    group("workdir", "project and state").add_argument(
        "--work-dir", metavar="DIR", default=_env_default("PHOENIX_WORK_DIR"),
        help="the Pulumi project to run (env PHOENIX_WORK_DIR; default: this repository's root)",
    )
    group("backend", "project and state").add_argument(
        "--backend", metavar="URL",
        help="state backend, e.g. s3://bucket/phoenix or file:///path (default: PULUMI_BACKEND_URL, "
        "else a git-ignored .state/ folder in the work dir)",
    )
    config = group("config", "stack config")
    config.add_argument(
        "--defaults", metavar="FILE", default=_env_default("PHOENIX_DEFAULTS"),
        help="org-wide settings (env PHOENIX_DEFAULTS; default: stacks/defaults.yaml of the work dir, "
        "else of this repository)",
    )
    config.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
        help="override one stack-config value, e.g. --set phoenix:fleet.minSize=2 (repeatable; "
        "secrets only come from the environment)",
    )
    group("output", "output").add_argument(
        "--json", action="store_true",
        help="machine output (JSON) on stdout; progress and errors stay on stderr",
    )
    progress = group("progress", "engine output")
    loudness = progress.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q", "--quiet", action="store_true",
        help="do not stream the engine's output; print only results, warnings and errors",
    )
    loudness.add_argument(
        "-v", "--verbose", action="store_true",
        help="stream all of the engine's output, errors and tracebacks included (always in the run log)",
    )
    running = group("running", "running")
    running.add_argument(
        "--wait-lock", metavar="SECONDS", type=_non_negative_seconds, default=0.0,
        help="when another update holds the stack, retry for this long before exiting 4 (default 0)",
    )
    running.add_argument(
        "--summary", metavar="FILE",
        help="append a Markdown change summary to FILE (also to GITHUB_STEP_SUMMARY when set)",
    )
    group("confirm", "confirmation").add_argument(
        "-y", "--yes", action="store_true",
        help="do not ask before destroying (phoenix asks only when stdin is a terminal and CI is not set)",
    )
    # Commands that never ask still accept --yes, so a CI script that passes it everywhere keeps working.
    group("accept-yes").add_argument("-y", "--yes", action="store_true", help=argparse.SUPPRESS)
    group("feature").add_argument(
        "feature", metavar="FEATURE",
        help="feature id (ryan0001) or package version naming it (1.0.0-ryan0001)",
    )
    for name, offline in (("version", False), ("synth-version", True)):
        group(name).add_argument(
            "--version", dest="package_version", metavar="V", help=_version_help(offline),
        )
    group("image").add_argument(
        "--refresh-image", action="store_true",
        help="look up the newest image matching fleet.amiNamePattern instead of keeping the one pinned in the "
        "stack (the change rolls out like any other)",
    )
    group("preflight").add_argument(
        "--skip-preflight", action="store_true",
        help="do not run doctor's checks first (they stop, with exit 2, a run that would fail); "
        "this run's API key is still checked",
    )
    return groups


#: The option groups each subcommand honours, and nothing else (so its --help shows only those).
COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "create": ("feature", "version", "image", "preflight", "workdir", "backend", "config", "running", "progress",
               "output", "accept-yes"),
    "preview": ("feature", "version", "image", "preflight", "workdir", "backend", "config", "running", "progress",
                "output", "accept-yes"),
    "destroy": ("feature", "workdir", "backend", "config", "running", "progress", "output", "confirm"),
    "list": ("workdir", "backend", "config", "output", "accept-yes"),
    "outputs": ("feature", "workdir", "backend", "output", "accept-yes"),
    "reap": ("workdir", "backend", "config", "running", "progress", "output", "confirm"),
    "unlock": ("feature", "workdir", "backend", "config", "output", "accept-yes"),
    "extend": ("feature", "workdir", "backend", "config", "output", "accept-yes"),
    "keep": ("feature", "workdir", "backend", "config", "output", "accept-yes"),
    "unkeep": ("feature", "workdir", "backend", "config", "output", "accept-yes"),
    "doctor": ("workdir", "backend", "config", "output", "accept-yes"),
    "synth": ("feature", "synth-version", "workdir", "config", "output", "accept-yes"),
    "sleep": ("feature", "preflight", "workdir", "backend", "config", "running", "progress", "output", "accept-yes"),
    "wake": ("feature", "preflight", "workdir", "backend", "config", "running", "progress", "output", "accept-yes"),
}


def _example(text: str) -> str:
    return f"example:\n  {PROG} {text}\n\n{EXIT_CODES_HELP}"


class _ToolVersion(argparse.Action):
    """`phoenix --version`: the tool's version, the Pulumi CLI's and the SDK's."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None):
        print(tool_versions())
        parser.exit()


def tool_versions() -> str:
    import subprocess
    from importlib import metadata

    from automation import __version__
    from automation import pulumi_cli

    cli = pulumi_cli.find_cli()
    if cli is None:
        cli_text = f"not found ({pulumi_cli.INSTALL_HINT})"
    else:
        try:
            cli_text = f"{pulumi_cli.cli_version(cli) or '?'} ({cli})"
        except (OSError, subprocess.SubprocessError) as error:
            cli_text = f"unusable at {cli}: {error}"
    try:
        sdk = metadata.version("pulumi")
    except metadata.PackageNotFoundError:
        sdk = "not installed"
    return f"phoenix {__version__}\nPulumi CLI {cli_text}\nPulumi SDK {sdk}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="One isolated, immutable AWS environment per feature branch, wired into Octopus Deploy.",
        epilog=WORKFLOW % {"prog": PROG} + "\n" + EXIT_CODES_HELP,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_ToolVersion, help="print the versions of phoenix, the Pulumi CLI and SDK")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    shared = _shared_parsers()

    def add(name: str, summary: str, example: str):
        return commands.add_parser(
            name, help=summary, description=summary,
            parents=[shared[group] for group in COMMAND_GROUPS[name]],
            epilog=_example(example), formatter_class=_Formatter,
        )

    add("create", "create or update the feature's stack, then print its outputs (idempotent)",
        "create 1.0.0-ryan0001 --summary summary.md")
    preview = add("preview", "show what create would change; nothing changes",
                  "preview ryan0001 --diff --expect-no-changes")
    preview.add_argument("--diff", action="store_true", help="show a rich diff of every property that changes")
    preview.add_argument(
        "--expect-no-changes", action="store_true",
        help="exit 3 when the preview finds any change (drift or an unapplied commit)",
    )
    add("destroy", "destroy everything the feature holds, then remove its stack (absent: not an error)",
        "destroy ryan0001 --yes")
    listing = add("list", "every feature stack: its package version, last operation and result, URL, expiry",
                  "list --expiring 12h --json")
    listing.add_argument(
        "--expiring", metavar="DURATION",
        help="only features reap may take within DURATION (e.g. 12h; expired ones included, pinned ones never): "
        "for a notification job",
    )
    add("outputs", "the feature stack's outputs (secret ones masked)", "outputs ryan0001 --json")
    reap = add("reap", "destroy every feature whose last update is older than its TTL, except kept ones",
               "reap --keep-file live-branches.txt --parallel 4 --yes")
    reap.add_argument(
        "--older-than", metavar="DURATION",
        help="expire features older than this (e.g. 72h, 0s) instead of each stack's own phoenix:ttl",
    )
    reap.add_argument("--keep", metavar="F", nargs="+", action="extend", default=[],
                      help="features never reaped (ids or package versions)")
    reap.add_argument("--keep-file", metavar="FILE", action="append", default=[],
                      help="file of features never reaped, one a line, # comments (e.g. the live branches)")
    reap.add_argument("--dry-run", action="store_true", help="report what would be destroyed; destroy nothing")
    reap.add_argument("--parallel", metavar="N", type=_positive_int, default=1,
                      help="run up to N destroys at once (default 1)")
    reap.add_argument(
        "--max-destroy", metavar="N", type=_non_negative_int, default=10,
        help="destroy at most N features and orphan tenants in this run, longest expired first; the rest are "
        "reported as left for the next run (default 10)",
    )
    reap.add_argument(
        "--allow-empty-keep-list", action="store_true",
        help="run even when --keep/--keep-file name no feature, or none of more than 3 feature stacks "
        "(otherwise reap refuses with exit 2: an empty list of live branches is more likely broken than true)",
    )
    reap.add_argument(
        "--orphans", action="store_true",
        help="also clean orphans: Octopus tenants phoenix made that have no stack (deleted with their machines) "
        "and stacks whose tenant was deleted in Octopus (destroyed); with --dry-run, list them",
    )
    extend = add("extend", "move the feature's expiry DURATION from now (recorded in the stack; at most "
                 "feature.maxTtl); counts as activity", "extend ryan0001 48h")
    extend.add_argument("duration", metavar="DURATION",
                        help="how long from now the feature must live, e.g. 48h or 3d (at most feature.maxTtl)")
    add("keep", "pin the feature: reap never takes it, expired or orphaned, until `unkeep`", "keep ryan0001")
    add("unkeep", "release a pinned feature: reap takes it again once it expires", "unkeep ryan0001")
    unlock = add("unlock", "remove a lock a dead runner left on the feature's stack: only an old one whose update "
                 "is not running", "unlock ryan0001 --older-than 8h")
    unlock.add_argument(
        "--older-than", metavar="DURATION",
        help="remove only a lock older than this (default 6h, or 4 times fleet.rolloutTimeoutMinutes when longer)",
    )
    doctor = add("doctor", "check that Pulumi, AWS and Octopus are ready, before anything is created",
                 "doctor ryan0001")
    doctor.add_argument("feature", metavar="FEATURE", nargs="?",
                        help="feature id or package version to check for (optional)")
    doctor.add_argument("--version", dest="package_version", metavar="V",
                        help="package version whose Octopus release must exist")
    synth = add("synth", "the feature's resources and a diagram, offline, without credentials",
                "synth ryan0001 --format mermaid")
    synth.add_argument("--format", choices=("tree", "json", "mermaid"),
                       help="tree (default), json (stable, for golden files; also --json) or mermaid (a diagram)")
    synth.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout (its folder must exist)")
    add("sleep", "scale the feature to zero and remove its NAT gateways and its machines in Octopus; "
        "the tenant, override and network stay (an ordinary update; a re-run changes nothing)",
        "sleep ryan0001")
    add("wake", "bring a sleeping feature back: instances register and Octopus deploys the deployed release again",
        "wake ryan0001")
    return parser


# --- output -----------------------------------------------------------------------------------


#: `error:`, `warning:` and `hint:` at the start of a line (after a `[feature] ` prefix), painted on a terminal.
_LABEL = re.compile(r"^((?:\[[^\]]+\] )?)(error|warning|hint|log):")
_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[33m", "hint": "\x1b[36m", "log": "\x1b[2m"}


def colour_wanted(stream: Any, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org) or TERM is dumb."""
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Console:
    """stdout for results, stderr for progress; secrets masked on both (and in the run log)."""

    def __init__(self, *, json_mode: bool, environ: Optional[Mapping[str, str]] = None,
                 color: Optional[bool] = None) -> None:
        self.json_mode = json_mode
        environ = os.environ if environ is None else environ
        values = [environ.get(name, "") for name in SECRET_VARIABLES]
        # Too short a value would mask ordinary words; real keys and passphrases are longer.
        self.secrets = sorted({v for v in values if len(v) >= 8}, key=len, reverse=True)
        self.color = colour_wanted(sys.stderr, environ) if color is None else color
        #: The engine's full output for this command (automation/run_log.py), when it ran the engine.
        self.run_log: Any = None
        self._lock = threading.Lock()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return text

    def paint(self, line: str) -> str:
        if not self.color:
            return line
        return _LABEL.sub(lambda m: f"{m.group(1)}{_COLOURS[m.group(2)]}{m.group(2)}:\x1b[0m", line, count=1)

    def log(self, line: str) -> None:
        with self._lock:
            print(self.paint(self.redact(line)), file=sys.stderr, flush=True)

    def out(self, line: str = "") -> None:
        with self._lock:
            print(self.redact(line), flush=True)

    def emit_json(self, document: Any) -> None:
        self.out(json.dumps(document, indent=2, sort_keys=False, default=str))

    def ask(self, question: str) -> bool:
        """A yes/no question on the terminal; anything but y or yes is no."""
        with self._lock:
            print(f"{self.redact(question)} [y/N] ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline()
        return answer.strip().lower() in ("y", "yes")

    def log_path(self) -> Optional[Path]:
        return getattr(self.run_log, "path", None)

    def close(self) -> None:
        if self.run_log is not None:
            self.run_log.close()


def _output_value(output: Any) -> Any:
    from automation.summary import SECRET_MASK

    return SECRET_MASK if output.secret else output.value


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "command": report.command,
        "feature": report.feature,
        "stack": report.feature,
        "result": report.result,
        "packageVersion": report.package_version,
        "changes": dict(report.changes),
        "steps": [{"op": s.op, "type": s.type, "name": s.name} for s in report.steps],
        "outputs": {name: _output_value(o) for name, o in sorted(report.outputs.items())},
        "durationSeconds": round(report.duration_seconds, 1) if report.duration_seconds is not None else None,
        "message": report.message or None,
        "estimate": report.estimate.as_json() if report.estimate is not None else None,
    }


def _print_outputs(console: Console, outputs: dict) -> None:
    width = max((len(name) for name in outputs), default=0)
    for name in sorted(outputs):
        console.out(f"{name.ljust(width)}  {_output_value(outputs[name])}")


def _print_report(console: Console, report: Any) -> None:
    from automation.summary import describe_changes

    if console.json_mode:
        console.emit_json(_report_json(report))
        return
    if report.result == "absent":
        console.out(report.message)
        return
    line = f"{report.feature}: {report.result} ({describe_changes(report.changes, preview=report.preview)})"
    if report.duration_seconds is not None:
        line += f" in {report.duration_seconds:.0f} s"
    console.out(line)
    for step in report.steps:
        if step.op != "same":
            console.out(f"  {step.op:<18} {step.type}  {step.name}")
    if report.message and report.result != "absent":
        console.out(report.message)
    if report.estimate is not None:
        from automation.cost.render import text

        for estimate_line in text(report.estimate):
            console.out(estimate_line)
    _print_outputs(console, dict(report.outputs))


def _write_summary(args: argparse.Namespace, markdown: str, console: Console) -> None:
    from automation.summary import append

    _, failed = append(console.redact(markdown), getattr(args, "summary", None))
    for failure in failed:
        console.log(failure.warning())


def _when(moment: Optional[datetime], now: datetime) -> str:
    if moment is None:
        return "-"
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return text


def _expires(moment: Optional[datetime], now: datetime) -> str:
    if moment is None:
        return "-"
    from automation.reap import format_duration

    delta = moment - now
    if delta.total_seconds() <= 0:
        return f"{_when(moment, now)} (expired)"
    minutes = timedelta(minutes=max(1, round(delta.total_seconds() / 60)))
    return f"{_when(moment, now)} (in {format_duration(minutes)})"


# --- commands ---------------------------------------------------------------------------------

#: Commands that run the engine, and so keep a run log.
ENGINE_COMMANDS = ("create", "preview", "destroy", "reap", "sleep", "wake")
#: Path options, read from the folder the command runs in (once, before anything else).
PATH_OPTIONS = ("work_dir", "defaults", "summary", "output", "keep_file")


def absolute_paths(args: argparse.Namespace, cwd: Optional[Path] = None) -> argparse.Namespace:
    """Make every path option absolute from the caller's folder, so no later step reads it elsewhere."""
    base = Path.cwd() if cwd is None else cwd

    def absolute(text: str) -> str:
        if text == "-":
            return text
        path = Path(text).expanduser()
        return str(path if path.is_absolute() else base / path)

    for name in PATH_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            setattr(args, name, absolute(value))
        elif isinstance(value, list):
            setattr(args, name, [absolute(item) for item in value])
    return args


def _session(args: argparse.Namespace, console: Console, *, needs_passphrase: bool = True):
    from automation.pulumi_cli import PROJECT_ROOT
    from automation.stacks import Options, Session

    work_dir = Path(args.work_dir).resolve() if args.work_dir else PROJECT_ROOT
    options = Options(
        work_dir=work_dir,
        backend=getattr(args, "backend", None),
        defaults=getattr(args, "defaults", None),
        overrides=tuple(getattr(args, "overrides", ()) or ()),
        wait_lock=getattr(args, "wait_lock", 0.0) or 0.0,
        quiet=getattr(args, "quiet", False),
        verbose=getattr(args, "verbose", False),
        color=console.color,
        skip_preflight=getattr(args, "skip_preflight", False),
        needs_passphrase=needs_passphrase,
        refresh_image=getattr(args, "refresh_image", False),
    )
    if args.command in ENGINE_COMMANDS and console.run_log is None:
        from automation.run_log import RunLog, log_dir, log_name

        console.run_log = RunLog(
            log_dir(work_dir, os.environ),
            log_name(args.command, _stack_label(args), datetime.now(timezone.utc), os.getpid()),
            redact=console.redact,
        )
    return Session(options, log=console.log, run_log=console.run_log)


def _confirmer(args: argparse.Namespace, console: Console) -> Callable[[str], bool]:
    """Ask before destroying, only of a person: stdin a terminal, CI unset, no --yes."""

    def confirm(question: str) -> bool:
        if getattr(args, "yes", False) or os.environ.get("CI") or not sys.stdin.isatty():
            return True
        return console.ask(question)

    return confirm


def _feature(args: argparse.Namespace):
    from automation.feature import parse_feature

    return parse_feature(args.feature, getattr(args, "package_version", None))


def _run_reported(args: argparse.Namespace, console: Console, command: str,
                  action: Callable[[], Any]) -> Any:
    """Run create/preview/destroy; the summary records failures too."""
    from automation.summary import Report, render

    try:
        report = action()
    except BaseException as error:
        if getattr(args, "summary", None) or os.environ.get("GITHUB_STEP_SUMMARY"):
            failure = classify(error, stack=_stack_label(args))
            _write_summary(args, render(Report(
                command=command, feature=_stack_label(args) or "",
                result="failed" if failure.code != ExitCode.INTERRUPTED else "interrupted",
                message=failure.message,
            )), console)
        raise
    _write_summary(args, render(report), console)
    return report


def cmd_create(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks

    feature = _feature(args)
    session = _session(args, console)
    report = _run_reported(args, console, "create", lambda: stacks.create(session, feature))
    _print_report(console, report)
    return ExitCode.OK


def cmd_sleep(args: argparse.Namespace, console: Console) -> int:
    return _set_asleep(args, console, asleep=True)


def cmd_wake(args: argparse.Namespace, console: Console) -> int:
    return _set_asleep(args, console, asleep=False)


def _set_asleep(args: argparse.Namespace, console: Console, *, asleep: bool) -> int:
    from automation import stacks

    feature = _feature(args)
    session = _session(args, console)
    report = _run_reported(args, console, args.command, lambda: stacks.set_asleep(session, feature, asleep=asleep))
    _print_report(console, report)
    return ExitCode.OK


def cmd_preview(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks
    from automation.summary import has_changes

    feature = _feature(args)
    session = _session(args, console)
    report = _run_reported(args, console, "preview", lambda: stacks.preview(session, feature, diff=args.diff))
    _print_report(console, report)
    if args.expect_no_changes and has_changes(report.changes):
        console.log(f"error: {feature.id}: changes found, but --expect-no-changes was given")
        return ExitCode.CHANGES
    return ExitCode.OK


def cmd_destroy(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks

    feature = _feature(args)
    session = _session(args, console)
    confirm = _confirmer(args, console)
    report = _run_reported(args, console, "destroy", lambda: stacks.destroy(session, feature, confirm=confirm))
    _print_report(console, report)
    return ExitCode.OK


def cmd_outputs(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks

    feature = _feature(args)
    outputs = stacks.outputs(_session(args, console, needs_passphrase=False), feature)
    if console.json_mode:
        console.emit_json({name: _output_value(o) for name, o in sorted(outputs.items())})
    else:
        _print_outputs(console, outputs)
    return ExitCode.OK


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks

    from automation.lifetime import utcnow

    expiring = _duration_argument("--expiring", args.expiring) if args.expiring is not None else None
    now = utcnow()
    rows = stacks.list_features(_session(args, console, needs_passphrase=False), expiring=expiring, now=now)
    if console.json_mode:
        console.emit_json([row.as_json() for row in rows])
        return ExitCode.OK
    if not rows:
        console.out("no feature stacks" if expiring is None else f"no feature expires within {args.expiring}")
        return ExitCode.OK
    now = datetime.now(timezone.utc)
    table = [("FEATURE", "STATUS", "VERSION", "LAST OPERATION", "URL", "EXPIRES", "NEXT", "USD/DAY", "USD SO FAR")]
    for row in rows:
        last = row.last_operation
        table.append((
            row.feature,
            row.status,
            row.package_version or "-",
            f"{last.command} {last.result} {_when(last.at, now)}" if last else "-",
            row.url or "-",
            "pinned" if row.pinned else _expires(row.expires, now),
            _next_transition(row, now),
            *_cost_cells(row, now),
        ))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        console.out("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return ExitCode.OK


def _next_transition(row: Any, now: datetime) -> str:
    """`sleeps 19:00 Europe/London (in 3h)`: the next change awake hours make; `-` without them."""
    schedule = row.schedule(now)
    if schedule is None:
        return "-"
    from automation.reap import format_duration

    _, transition, moment = schedule
    minutes = timedelta(minutes=max(1, round((moment - now).total_seconds() / 60)))
    return f"{transition} {moment.strftime('%a %H:%M')} {moment.tzinfo} (in {format_duration(minutes)})"


def _cost_cells(row: Any, now: datetime) -> tuple[str, str]:
    """`list`'s estimate per day and accumulated since creation (automation/cost/ledger.py)."""
    from automation.cost.render import money

    per_day, so_far = row.cost_per_day(), row.cost_so_far(now)
    return (money(per_day) if per_day is not None else "-", money(so_far) if so_far is not None else "-")


def cmd_reap(args: argparse.Namespace, console: Console) -> int:
    from automation import reap, stacks
    from automation.summary import render_reap

    older_than = None
    if args.older_than is not None:
        try:
            older_than = reap.parse_duration(args.older_than)
        except ValueError as error:
            raise InputError(f"--older-than: {error}") from None
    keep = stacks.KeepList(
        features=frozenset(reap.keep_set(args.keep, args.keep_file)),
        sources=(("--keep",) if args.keep else ()) + tuple(f"--keep-file {path}" for path in args.keep_file),
        allow_empty=args.allow_empty_keep_list,
    )
    session = _session(args, console, needs_passphrase=not args.dry_run)
    session.sources  # validate defaults.yaml and --set before touching anything
    decisions = stacks.reap_plan(
        session, keep=keep, older_than=older_than, orphans=args.orphans, max_destroy=args.max_destroy,
    )

    def report(outcome: reap.Outcome) -> None:
        if not console.json_mode:
            what = f"{outcome.feature} (orphan tenant)" if outcome.kind == reap.TENANT else outcome.feature
            console.out(f"{what}: {outcome.action} - {outcome.reason}")

    outcomes = stacks.reap(
        session, decisions, parallel=args.parallel, dry_run=args.dry_run, report=report,
        confirm=_confirmer(args, console),
    )
    if console.json_mode:
        console.emit_json([
            {"feature": o.feature, "kind": o.kind, "action": o.action, "reason": o.reason, "exitCode": o.code}
            for o in outcomes
        ])
    elif not outcomes:
        console.out("no feature stacks")
    _write_summary(args, render_reap(outcomes, dry_run=args.dry_run), console)
    code = reap.exit_code(outcomes)
    failed = [o.feature for o in outcomes if o.action == "failed"]
    if failed:
        from automation.errors import Failure, RERUN_ADVICE

        report_failure(console, Failure(code, f"reap failed for {', '.join(failed)}", RERUN_ADVICE), json_document=False)
    return code


def cmd_unlock(args: argparse.Namespace, console: Console) -> int:
    from automation import unlock

    # It reads and deletes lock objects only: no passphrase.
    done = unlock.run(_session(args, console, needs_passphrase=False), _feature(args), older_than=args.older_than)
    if console.json_mode:
        console.emit_json(done.as_json())
    else:
        for line in done.lines():
            console.out(line)
    return ExitCode.OK


def _duration_argument(flag: str, text: str):
    from automation.lifetime import parse_bound

    return parse_bound(text, flag)


def _print_expiry(console: Console, expiry: Any) -> None:
    if console.json_mode:
        console.emit_json({
            "feature": expiry.feature,
            "expires": expiry.expires.isoformat() if expiry.expires else None,
            "pinned": expiry.pinned,
        })
    else:
        console.out(f"{expiry.feature}: expires {expiry.describe()}")


def cmd_extend(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks

    feature = _feature(args)
    duration = _duration_argument("DURATION", args.duration)
    _print_expiry(console, stacks.extend(_session(args, console, needs_passphrase=False), feature, duration))
    return ExitCode.OK


def cmd_keep(args: argparse.Namespace, console: Console) -> int:
    from automation import stacks

    feature = _feature(args)
    pinned = args.command == "keep"
    _print_expiry(console, stacks.pin(_session(args, console, needs_passphrase=False), feature, pinned=pinned))
    return ExitCode.OK


def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    from automation import doctor

    # Doctor reports a missing passphrase as a finding; reading the stack's tenants needs none.
    return doctor.run_cli(args, console=console, session=_session(args, console, needs_passphrase=False))


def cmd_synth(args: argparse.Namespace, console: Console) -> int:
    from automation import synth

    if args.json:
        if args.format not in (None, "json"):
            raise InputError(f"--json and --format {args.format} ask for two formats: pass one of them")
        args.format = "json"
    args.format = args.format or "tree"
    if args.output and args.output != "-":
        target = Path(args.output)
        if target.is_dir():
            raise InputError(f"--output {args.output} is a folder: name the file to write")
        if not target.parent.is_dir():
            raise InputError(f"--output {args.output}: the folder {target.parent} does not exist")
    return synth.run_cli(args, console=console, session=_session(args, console))


COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "create": cmd_create,
    "preview": cmd_preview,
    "destroy": cmd_destroy,
    "list": cmd_list,
    "outputs": cmd_outputs,
    "reap": cmd_reap,
    "unlock": cmd_unlock,
    "extend": cmd_extend,
    "keep": cmd_keep,
    "unkeep": cmd_keep,
    "doctor": cmd_doctor,
    "synth": cmd_synth,
    "sleep": cmd_sleep,
    "wake": cmd_wake,
}


def _stack_label(args: argparse.Namespace) -> Optional[str]:
    """The stack an error is about: the feature id when FEATURE parses, else FEATURE as given."""
    text = getattr(args, "feature", None)
    if not text:
        return None
    from automation.feature import FeatureError, parse_feature

    try:
        return parse_feature(text).id
    except FeatureError:
        return text


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def report_failure(console: Console, failure: Any, *, json_document: bool = True) -> None:
    """One failure, as a person and CI read it: the cause, what to do, and where the full text is."""
    lines = [f"error: {failure.message}"]
    if failure.advice:
        lines.append(f"hint: {failure.advice}")
    log = console.log_path()
    if log is not None:
        lines.append(f"log: {log}")
    for line in lines:
        console.log(line)
        if log is not None:  # a run refused before the engine ran leaves no log
            console.run_log.write(line)
    if console.json_mode and json_document:
        console.emit_json({
            "error": failure.message, "exitCode": int(failure.code),
            "advice": failure.advice or None, "log": str(log) if log else None,
        })


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = absolute_paths(parser.parse_args(argv))
    console = Console(json_mode=getattr(args, "json", False))
    previous = None
    if threading.current_thread() is threading.main_thread():
        # Outside engine work a SIGTERM (a cancelled CI job) ends the command like ^C does.
        previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        return int(COMMANDS[args.command](args, console))
    except BaseException as error:  # noqa: BLE001 - every failure becomes a message and a code
        if isinstance(error, SystemExit):
            raise
        failure = classify(error, stack=_stack_label(args))
        report_failure(console, failure)
        if os.environ.get("PHOENIX_DEBUG"):
            import traceback

            console.log(traceback.format_exc())
        return int(failure.code)
    finally:
        console.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run() -> None:
    """The `phoenix` console script (pyproject.toml)."""
    sys.exit(main())
