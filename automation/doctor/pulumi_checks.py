"""Pulumi checks: the CLI and its release line, the provider plugins, the state backend, the passphrase."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from automation.doctor import plugins
from automation.doctor.plugins import InstalledPlugin, PluginNeed
from automation.doctor.probe import NotChecked, Probe
from automation.doctor.report import FAIL, OK, WARN, Check
from automation.errors import InputError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def sdk_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


def judge_cli_version(cli: str, found: str, sdk: str) -> Check:
    """The CLI must be of the SDK's release line: same major, same minor to be sure."""
    wanted = _VERSION.match(sdk)
    have = _VERSION.match(found or "")
    fix = f"install Pulumi CLI {sdk} (scripts/install-pulumi builds it offline)"
    if not have or not wanted:
        return Check("pulumi.cli", FAIL, f"{cli} reported no version ({found!r})", fix)
    text = f"pulumi {found.lstrip('v')} at {cli}, SDK {sdk}"
    if have.group(1) != wanted.group(1):
        return Check("pulumi.cli", FAIL, f"{text}: another major version", fix)
    if have.group(2) != wanted.group(2):
        return Check("pulumi.cli", WARN, f"{text}: another release line than the SDK's", fix)
    return Check("pulumi.cli", OK, text)


def check_cli(probe: Probe) -> Check:
    from automation import pulumi_cli

    cli = pulumi_cli.find_cli()
    if cli is None:
        return Check(
            "pulumi.cli", FAIL, "no Pulumi CLI in .pulumi/bin or on PATH", pulumi_cli.INSTALL_HINT
        )
    try:
        found = pulumi_cli.cli_version(cli)
    except (OSError, subprocess.SubprocessError) as error:
        return Check("pulumi.cli", FAIL, f"{cli} did not run: {error}", pulumi_cli.INSTALL_HINT)
    return judge_cli_version(str(cli), found, sdk_version())


# --- provider plugins --------------------------------------------------------------------------


def check_plugins(probe: Probe) -> Check:
    """The provider plugins the program imports an SDK for are where the engine looks for them."""
    from automation import pulumi_cli

    work_dir = probe.ctx.work_dir
    try:
        program = plugins.program_plugins(work_dir)
    except plugins.ProgramUnreadable as error:
        return Check("pulumi.plugins", FAIL, str(error), "pass --work-dir naming the phoenix project")
    if not program.needs:
        check = Check("pulumi.plugins", OK, "the program imports no Pulumi provider SDK: it needs no plugin")
    else:
        cli = pulumi_cli.find_cli()
        if cli is None:
            raise NotChecked("pulumi.cli")
        env = pulumi_cli.engine_env(work_dir)
        try:
            installed = plugins.installed_plugins(cli, env)
        except plugins.PluginListFailed as error:
            return Check("pulumi.plugins", FAIL, str(error), pulumi_cli.INSTALL_HINT)
        check = judge_plugins(program.needs, installed, env=env)
    if not program.unread:
        return check
    # A file that cannot be parsed hides what it imports: the answer above may be short.
    return Check(
        check.name, WARN if check.status == OK else check.status,
        f"{check.found}\nnot followed (cannot be parsed): {'; '.join(program.unread)}",
        check.fix or "fix the files named above; the program fails on them too",
    )


def judge_plugins(
    needs: Sequence[PluginNeed], installed: Sequence[InstalledPlugin], *, env: Mapping[str, str]
) -> Check:
    """OK when every needed plugin is installed (or on PATH); else what to install, and how."""
    home = Path(env.get("PULUMI_HOME", "~/.pulumi"))
    legacy = plugins.env_flag(env, "PULUMI_ENABLE_LEGACY_PLUGIN_SEARCH")
    found: list[str] = []
    absent: list[PluginNeed] = []
    for need in needs:
        ambient = plugins.ambient_plugin(need, env)
        if ambient:
            found.append(f"{need.label} on PATH ({ambient})")
        elif any(plugins.satisfies(plugin, need, legacy=legacy) for plugin in installed):
            found.append(f"{need.label} installed in {home}")
        else:
            absent.append(need)
    if not absent:
        return Check("pulumi.plugins", OK, ", ".join(found))
    lines = [
        f"{need.kind} plugin {need.label} is not installed in {home} "
        f"(the program imports {need.package} in {need.imported_by})" + _other_versions(need, installed)
        for need in absent
    ]
    installs = "; ".join(need.install_command(home) for need in absent)
    copies = ", ".join(str(home / "plugins" / need.folder()) for need in absent)
    if not plugins.env_flag(env, "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"):
        return Check(
            "pulumi.plugins", WARN,
            "\n".join(lines) + "\nthe engine downloads it at the first run "
            "(PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION is not true): that needs internet access",
            f"to run offline, install it ahead: {installs}",
        )
    return Check(
        "pulumi.plugins", FAIL,
        "\n".join(lines) + "\nthis engine never downloads plugins (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION)",
        f"on a machine with internet access: {installs} (or copy {copies} from a machine that has it); "
        "or set PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=false to let the CLI fetch it",
    )


def _other_versions(need: PluginNeed, installed: Sequence[InstalledPlugin]) -> str:
    others = [p.label for p in installed if (p.kind, p.name) == (need.kind, need.name)]
    return f"; installed: {', '.join(others)}, but the engine loads only the version asked for" if others else ""


# --- state backend -----------------------------------------------------------------------------


def check_backend(probe: Probe) -> Check:
    url = probe.ctx.backend_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return _file_backend(probe, url)
    if scheme == "s3":
        return _s3_backend(url)
    if scheme in ("http", "https"):
        return _service_backend(url)
    if scheme in ("azblob", "gs"):
        return Check(
            "pulumi.backend", WARN,
            f"{url}: not checked (doctor checks file://, s3:// and Pulumi Cloud backends)",
            "the engine reports access problems at the first operation",
        )
    return Check(
        "pulumi.backend", FAIL, f"{url!r} is not a Pulumi backend URL",
        "pass --backend or set PULUMI_BACKEND_URL to file://, s3://, azblob://, gs:// or https://",
    )


def _file_backend(probe: Probe, url: str) -> Check:
    raw = url[len("file://"):]
    path = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
    if not path.is_absolute():
        path = probe.ctx.work_dir / path
    fix = "pass --backend or set PULUMI_BACKEND_URL to a folder this user may write"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check("pulumi.backend", FAIL, f"{url}: {existing} is not a folder", fix)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".phoenix-doctor-"):
            pass
    except OSError as error:
        return Check("pulumi.backend", FAIL, f"{url}: {existing} is not writable ({error.strerror})", fix)
    if existing == path:
        return Check("pulumi.backend", OK, f"{url}: writable")
    return Check("pulumi.backend", OK, f"{url}: will be created in {existing} (writable)")


def _s3_backend(url: str) -> Check:
    """What every run does to the bucket, with the URL's options as the CLI reads them.

    A listing under the prefix (s3:ListBucket), then a probe object written and
    deleted there (s3:PutObject, s3:DeleteObject), as the file check writes a
    temporary file: a read-only role fails here, not in the middle of an update.
    """
    import os
    import socket

    from botocore.exceptions import BotoCoreError, ClientError

    from automation.backend_store import PHOENIX_DIR, S3Location
    from automation.doctor.aws_checks import aws_config

    parts = urlsplit(url)
    fix = "create the bucket or pass --backend / PULUMI_BACKEND_URL naming one these credentials may use"
    try:
        location = S3Location.parse(url)
    except InputError as error:
        return Check("pulumi.backend", FAIL, str(error), "fix the backend URL's options")
    probe = f"{location.prefix}{PHOENIX_DIR}/doctor/{socket.gethostname()}-{os.getpid()}"
    doing = "list"
    try:
        client = location.client(aws_config())
        client.list_objects_v2(Bucket=location.bucket, Prefix=location.prefix, MaxKeys=1)
        doing = "write"
        client.put_object(Bucket=location.bucket, Key=probe, Body=b"phoenix doctor")
        doing = "delete"
        client.delete_object(Bucket=location.bucket, Key=probe)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        reason = {"404": "does not exist", "NoSuchBucket": "does not exist"}.get(code)
        if reason is None and code in ("403", "AccessDenied"):
            reason = f"access denied: these credentials may not {doing} under {location.prefix or '/'}"
        reason = reason or f"{code} {error.response.get('Error', {}).get('Message', '')}".strip()
        return Check("pulumi.backend", FAIL, f"{url}: bucket {parts.netloc!r} {reason}", fix)
    except BotoCoreError as error:
        return Check("pulumi.backend", FAIL, f"{url}: {error}", fix)
    return Check(
        "pulumi.backend", OK,
        f"{url}: bucket {parts.netloc!r} reachable (listed, wrote and deleted a probe under {location.prefix or '/'})",
    )


def _service_backend(url: str) -> Check:
    """Pulumi Cloud (or a self-hosted service): a token must be known; its validity is not checked offline."""
    if os.environ.get("PULUMI_ACCESS_TOKEN"):
        return Check("pulumi.backend", OK, f"{url}: access token from PULUMI_ACCESS_TOKEN (not verified)")
    from automation import pulumi_cli

    credentials = Path(pulumi_cli.engine_env()["PULUMI_HOME"]) / "credentials.json"
    try:
        tokens = json.loads(credentials.read_text()).get("accessTokens") or {}
    except (OSError, ValueError, AttributeError):
        tokens = {}
    if url.rstrip("/") in {str(key).rstrip("/") for key in tokens}:
        return Check("pulumi.backend", OK, f"{url}: logged in ({credentials})")
    return Check(
        "pulumi.backend", FAIL, f"{url}: no access token",
        "set PULUMI_ACCESS_TOKEN, or use a file:// or s3:// backend",
    )


def check_passphrase(probe: Probe) -> Check:
    from automation.engine import check_passphrase as engine_check

    try:
        engine_check(os.environ)
    except InputError as error:
        return Check(
            "pulumi.passphrase", FAIL, str(error),
            "export PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) in every run of the feature",
        )
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return Check("pulumi.passphrase", OK, "from PULUMI_CONFIG_PASSPHRASE")
    return Check(
        "pulumi.passphrase", OK,
        f"from PULUMI_CONFIG_PASSPHRASE_FILE ({os.environ.get('PULUMI_CONFIG_PASSPHRASE_FILE')})",
    )
