"""Exit codes and the one place that turns an exception into a message and a code.

CI scripts branch on these codes, so each failure family has its own and a
traceback is never the answer. The Automation API classes are matched by name
so that `--help` and input errors never import `pulumi.automation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Optional


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    CHANGES = 3
    LOCKED = 4
    INTERRUPTED = 130


EXIT_CODES_HELP = """exit codes:
  0    success
  1    the operation failed (engine or cloud error; the engine's own message is shown)
  2    bad input or config (nothing was touched)
  3    preview --expect-no-changes found changes
  4    the stack is locked by another update (--wait-lock SECONDS retries)
  130  interrupted (SIGINT/SIGTERM); the running update was cancelled cleanly"""


class PhoenixError(Exception):
    """An error the command line reports as a message and an exit code."""

    code = ExitCode.FAILED


class InputError(PhoenixError):
    """Bad arguments, config or environment, found before anything was touched."""

    code = ExitCode.BAD_INPUT


class ChangesFound(PhoenixError):
    """`preview --expect-no-changes` saw changes."""

    code = ExitCode.CHANGES


class StackLocked(PhoenixError):
    """Another update holds the stack's lock."""

    code = ExitCode.LOCKED

    def __init__(self, stack: str, detail: str = "") -> None:
        self.stack = stack
        self.detail = detail
        message = f"stack {stack!r} is locked by another update"
        if detail:
            message += f" ({detail})"
        super().__init__(message + "; retry later or pass --wait-lock SECONDS")


class OperationFailed(PhoenixError):
    """The engine or the cloud said no; the message is the engine's own."""

    code = ExitCode.FAILED


class Interrupted(PhoenixError):
    """A signal cancelled the running operation."""

    code = ExitCode.INTERRUPTED


@dataclass(frozen=True)
class Failure:
    """What the command line prints for a failure: one line of cause, one of advice."""

    code: ExitCode
    message: str
    advice: str = ""


#: Longest line a message keeps; a 5,000-character value is cut in the middle, not echoed whole.
MAX_LINE = 300


def shorten(text: str, limit: int = MAX_LINE) -> str:
    """Each line cut to `limit` characters, keeping its start and its end (where the reason is)."""
    lines = []
    for line in text.splitlines() or [""]:
        if len(line) > limit:
            head, tail = line[: limit * 2 // 3], line[-(limit // 4):]
            line = f"{head} ... {tail} ({len(line)} characters)"
        lines.append(line)
    return "\n".join(lines)


_ERROR_LINE = re.compile(r"^\s*error:\s*(?P<text>.+)$", re.IGNORECASE)
_NOISE = (
    "Resources:",
    "Duration:",
    "Updating (",
    "Previewing update (",
    "Destroying (",
    "Refreshing (",
    "View in Browser",
    "View Live:",
)


#: Error lines that say only that something failed; the cause is in another one.
_GENERIC_ERRORS = re.compile(
    r"^(update|preview|destroy|refresh|import) failed$|^an unhandled error occurred|"
    r"^an error occurred while advancing the preview"
)


def engine_message(stdout: str, stderr: str, limit: int = 40) -> str:
    """The engine's cause of a failure, on one line, without its progress noise.

    Prefer the `error:` lines of the Diagnostics section (complete, where the
    progress lines cut them), else any `error:` line; a Python traceback there
    (a dynamic provider's exception) is reduced to its last line; errors that
    only say "update failed" give way to the one that says why. Fall back to
    the tail of stderr, then stdout.
    """
    out = [line.rstrip() for line in (stdout or "").splitlines()]
    diagnostics = next((i for i, line in enumerate(out) if line.strip() == "Diagnostics:"), None)
    if diagnostics is not None:
        out = out[diagnostics:]
    lines = [line.rstrip() for line in (stderr or "").splitlines()] + out
    errors: list[str] = []
    for index, line in enumerate(lines):
        match = _ERROR_LINE.match(line)
        if not match:
            continue
        text = match.group("text").strip()
        if text.startswith(_TRACEBACK):
            indent = len(line) - len(line.lstrip())
            text = _exception_line(lines[index + 1:], indent) or text
        if text not in errors:
            errors.append(text)
    specific = [text for text in errors if not _GENERIC_ERRORS.search(text)] or errors
    if specific:
        more = len(specific) - 1
        return specific[0] + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")
    for text in (stderr, stdout):
        tail = [
            line for line in (text or "").splitlines()
            if line.strip() and not line.strip().startswith(_NOISE)
        ]
        if tail:
            return "\n".join(tail[-limit:])
    return "the Pulumi CLI failed without a message"


_TRACEBACK = "Traceback (most recent call last)"
_MODULE_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Z]\w*: )")


def _exception_line(following: list[str], indent: int) -> Optional[str]:
    """The `Type: message` line that ends a traceback printed under an `error:` line."""
    for line in following:
        stripped = line.strip()
        if not stripped:
            continue
        if len(line) - len(line.lstrip()) <= indent:
            if stripped.startswith(_NOISE) or _ERROR_LINE.match(line):
                return None
            return _MODULE_PATH.sub("", stripped)
    return None


def lock_holder(stderr: str) -> Optional[str]:
    """`user@host, pid N, taken 3m ago at <time> UTC` of each lock the message names, or None."""
    from automation.locks import holders_text

    return holders_text(stderr)


#: Advice for an engine failure, by what its cause says: (pattern, exit code, advice).
_ENGINE_ADVICE: tuple[tuple[re.Pattern, ExitCode, str], ...] = (
    (re.compile(r"incorrect passphrase|failed to decrypt", re.I), ExitCode.BAD_INPUT,
     "use the passphrase this feature's stack was created with (PULUMI_CONFIG_PASSPHRASE or "
     "PULUMI_CONFIG_PASSPHRASE_FILE); nothing was changed"),
    (re.compile(r"OctopusAuthError|-> 401\b"), ExitCode.FAILED,
     "check OCTOPUS_API_KEY: Octopus refused it; export the current key and run the same command again"),
    (re.compile(r"-> 403\b"), ExitCode.FAILED,
     "the user of OCTOPUS_API_KEY lacks a permission this needs: grant it (or use another key) "
     "and run the same command again"),
    (re.compile(r"TenantNameTaken|tenant named .* already exists"), ExitCode.FAILED,
     "set octopus.adoptExistingTenant: true in the defaults (or --set phoenix:octopus.adoptExistingTenant=true) "
     "to manage that tenant from this stack, or delete it in Octopus; then run the same command again"),
    (re.compile(r"has no release"), ExitCode.FAILED,
     "publish the package and create its release in Octopus (or pass --version), then run create again"),
    (re.compile(r"no resource plugin|plugin .* not found|could not find plugin", re.I), ExitCode.FAILED,
     "install the provider plugin this project needs (README: 'The Pulumi engine, offline') "
     "and run the same command again"),
    (re.compile(r"OctopusUnavailable|no response from the Octopus server"), ExitCode.FAILED,
     "Octopus did not answer: run the same command again when it does (the state records what was done)"),
)
#: Advice for any other engine failure.
RERUN_ADVICE = "run the same command again to continue: the state records what was done"


def _engine_failure(cause: str, prefix: str) -> Failure:
    for pattern, code, advice in _ENGINE_ADVICE:
        if pattern.search(cause):
            return Failure(code, prefix + cause, advice)
    return Failure(ExitCode.FAILED, prefix + cause, RERUN_ADVICE)


def classify(error: BaseException, *, stack: Optional[str] = None) -> Failure:
    """Map any exception to (exit code, message, advice); the only such mapping."""
    failure = _classify(error, stack)
    return Failure(failure.code, shorten(failure.message), shorten(failure.advice))


def _classify(error: BaseException, stack: Optional[str]) -> Failure:
    if isinstance(error, PhoenixError):
        return Failure(error.code, str(error), getattr(error, "advice", ""))
    if isinstance(error, KeyboardInterrupt):
        return Failure(ExitCode.INTERRUPTED, "interrupted")
    names = {cls.__name__ for cls in type(error).__mro__}
    module = type(error).__module__
    if "CommandError" in names and module.startswith("pulumi.automation"):
        stdout, stderr = _command_output(error)
        if "ConcurrentUpdateError" in names:
            return Failure(
                ExitCode.LOCKED,
                str(StackLocked(stack or "?", lock_holder(stderr) or "")),
            )
        if "StackNotFoundError" in names:
            return Failure(
                ExitCode.FAILED,
                f"stack {stack!r} does not exist" if stack else engine_message(stdout, stderr),
            )
        prefix = f"{stack}: " if stack else ""
        return _engine_failure(engine_message(stdout, stderr), prefix)
    if "PulumiCliMissing" in names:
        return Failure(ExitCode.BAD_INPUT, str(error))
    if "InvalidVersionError" in names:
        return Failure(ExitCode.BAD_INPUT, f"unusable Pulumi CLI: {error}")
    if "SettingsError" in names or "FeatureError" in names or "ConfigError" in names:
        return Failure(ExitCode.BAD_INPUT, str(error))
    if "OctopusError" in names:
        if "OctopusAuthError" in names:
            return Failure(
                ExitCode.BAD_INPUT, f"Octopus refused the API key: {error}",
                "check OCTOPUS_API_KEY: export a key Octopus accepts",
            )
        return Failure(ExitCode.FAILED, f"Octopus: {error}", RERUN_ADVICE)
    if isinstance(error, OSError):
        return Failure(ExitCode.FAILED, f"{type(error).__name__}: {error}")
    return Failure(ExitCode.FAILED, f"unexpected error: {type(error).__name__}: {error}")


def _command_output(error: BaseException) -> tuple[str, str]:
    """stdout and stderr of a failed `pulumi` run.

    The engine module attaches the CommandResult; otherwise they are read back
    from CommandError's text ("\n code: N\n stdout: ...\n stderr: ...").
    """
    result = getattr(error, "command_result", None)
    if result is not None:
        return result.stdout or "", result.stderr or ""
    text = str(error)
    marker_out, marker_err = "\n stdout: ", "\n stderr: "
    if marker_out in text and marker_err in text:
        _, _, rest = text.partition(marker_out)
        stdout, _, stderr = rest.partition(marker_err)
        return stdout, stderr
    return "", text
