"""Preflight checks: are Pulumi, AWS and Octopus ready for a feature environment?

A feature whose Octopus project is not set up for it only fails fifteen
minutes later, when its first instance times out and the group rolls back.
These checks find the same problems in seconds, before a stack is touched,
and name the setting to change and the file or variable it came from.

Each check is a small function of a `_Probe` that returns one `Check`. What
several checks need (the Octopus client, the project) is looked up once and
kept on the probe; a check whose prerequisite failed is reported as not
checked instead of failing again for the same reason. Rendering is pure.

boto3, the Octopus client (requests) and the engine module are imported
inside the checks that use them: `python -m automation --help` stays fast.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Mapping, Optional, Sequence
from urllib.parse import parse_qs, urlsplit

from automation.errors import ExitCode, InputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from components.octopus.client import OctopusClient
    from components.settings import FeatureSettings

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)

#: `doctor` runs every check; `create` and `preview` only those that can make them fail.
SCOPES = ("all", "create", "preview")

#: Version of the `doctor --json` document; raised only on an incompatible change.
JSON_SCHEMA = 1

#: Stand-ins that let the settings be validated before a feature is named.
_STAND_IN_FEATURE = "doctor"

#: A deployment-target trigger fires for a new machine on these events (an empty filter: any).
NEW_MACHINE_EVENT_GROUPS = frozenset({"MachineAvailableForDeployment", "Machine"})
NEW_MACHINE_EVENT_CATEGORIES = frozenset({"MachineAdded", "MachineHealthy", "MachineEnabled"})

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, what was found, how to fix it."""

    name: str
    status: str
    found: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a check's status is one of {', '.join(STATUSES)}, not {self.status!r}")


@dataclass(frozen=True)
class DoctorContext:
    """What the checks read; the CLI builds it from the config it would write."""

    config: Mapping[str, Any] = field(repr=False)
    """The flat stack config automation would write (secrets as plain str or None)."""
    sources: Mapping[str, str]
    """Config key -> where it came from, e.g. "stacks/defaults.yaml: octopus.project"."""
    package_version: Optional[str]
    """The release to deploy, when given or derived."""
    backend_url: str
    """Where Pulumi keeps state: --backend, PULUMI_BACKEND_URL or the embedded file backend."""
    work_dir: Path
    """The Pulumi project directory."""
    feature: Optional[str] = None
    """The feature id, when one was named; lets the release check find its newest release."""
    octopus_timeout: tuple[float, float] = (5.0, 15.0)
    """Connect and read timeouts for Octopus: a preflight must answer quickly."""
    octopus_retries: int = 1


class PreflightFailed(InputError):
    """`create` or `preview` stopped before touching the stack: a check failed."""

    def __init__(self, checks: Sequence[Check], command: str) -> None:
        self.checks = tuple(checks)
        super().__init__(render_failures(self.checks, command))


# --- running ---------------------------------------------------------------------------------


class _NotChecked(Exception):
    """A check cannot run: what it needs is missing (its own check says why)."""


class _Probe:
    """One run's shared look-ups, made once, and the Octopus clients to close."""

    def __init__(self, ctx: DoctorContext) -> None:
        self.ctx = ctx
        self.settings: Optional["FeatureSettings"] = None
        self.project: Optional[dict] = None
        self.environment: Optional[dict] = None
        self._clients: dict[str, "OctopusClient"] = {}

    def setting(self, key: str) -> str:
        """`key (source)` for messages: the setting and where its value came from."""
        source = _source_of(self.ctx.sources, key)
        return f"{key} ({source})" if source else key

    def secret(self, key: str) -> Optional[str]:
        value = self.ctx.config.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def octopus(self, key_name: str = "octopus:apiKey") -> "OctopusClient":
        """A client for the configured server and space, authenticated with the named key."""
        if key_name not in self._clients:
            from components.octopus.client import OctopusClient

            api_key = self.secret(key_name)
            if api_key is None:
                raise _NotChecked(key_name)
            octopus = self.octopus_settings()
            self._clients[key_name] = OctopusClient(
                octopus.server_url, api_key, octopus.space,
                timeout=self.ctx.octopus_timeout, retries=self.ctx.octopus_retries,
            )
        return self._clients[key_name]

    def octopus_settings(self):
        if self.settings is None:
            raise _NotChecked("settings")
        return self.settings.octopus

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


@dataclass(frozen=True)
class _Spec:
    name: str
    check: Callable[[_Probe], Check]
    scopes: frozenset[str]
    needs: tuple[str, ...] = ()


def run_checks(
    ctx: DoctorContext, scope: str = "all", only: Optional[Collection[str]] = None
) -> list[Check]:
    """Run the checks of `scope` (or only the named ones and what they need), in order."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    specs = [spec for spec in CHECKS if scope in spec.scopes]
    if only is not None:
        specs = _with_needs(specs, only)
    results: dict[str, Check] = {}
    probe = _Probe(ctx)
    try:
        for spec in specs:
            unmet = [need for need in spec.needs if not _passed(results.get(need))]
            if unmet:
                results[spec.name] = _skipped(spec.name, unmet[0])
                continue
            results[spec.name] = _guarded(spec, probe)
    finally:
        probe.close()
    return list(results.values())


def _passed(check: Optional[Check]) -> bool:
    return check is not None and check.status != FAIL and not _not_checked(check)


def _with_needs(specs: Sequence[_Spec], names: Collection[str]) -> list[_Spec]:
    by_name = {spec.name: spec for spec in CHECKS}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ValueError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(by_name[name].needs)
    return [spec for spec in specs if spec.name in wanted]


def _skipped(name: str, need: str) -> Check:
    return Check(name, WARN, f"not checked: {need} did not pass", f"fix {need} first")


def _not_checked(check: Check) -> bool:
    return check.status == WARN and check.found.startswith("not checked:")


def _guarded(spec: _Spec, probe: _Probe) -> Check:
    """A check's result; an Octopus failure it did not expect still becomes a result."""
    from components.octopus.errors import OctopusError

    try:
        return spec.check(probe)
    except _NotChecked as missing:
        return _skipped(spec.name, str(missing))
    except OctopusError as error:
        return Check(spec.name, FAIL, f"Octopus answered: {error}", "see the Octopus server's message")


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed (warnings allowed), 2 when a check failed."""
    return int(ExitCode.BAD_INPUT) if any(c.status == FAIL for c in checks) else int(ExitCode.OK)


def preflight(ctx: DoctorContext, command: str) -> list[Check]:
    """The checks `create`/`preview` run before touching a stack; PreflightFailed if one fails."""
    checks = run_checks(ctx, command)
    if any(check.status == FAIL for check in checks):
        raise PreflightFailed(checks, command)
    return checks


# --- messages --------------------------------------------------------------------------------


def _source_of(sources: Mapping[str, str], key: str) -> str:
    """Where a key came from; a key inside an object falls back to the object's source."""
    probe = key
    while probe:
        if probe in sources:
            return sources[probe]
        if "." not in probe:
            return ""
        probe = probe.rsplit(".", 1)[0]
    return ""


def near_matches(name: str, names: Iterable[str], limit: int = 3) -> list[str]:
    """Names a user probably meant: same letters in another case, a part of it, or a near spelling."""
    wanted = name.strip().casefold()
    by_folded: dict[str, str] = {}
    for candidate in names:
        if isinstance(candidate, str) and candidate.strip():
            by_folded.setdefault(candidate.strip().casefold(), candidate)
    contains = [by_folded[f] for f in by_folded if wanted and (wanted in f or f in wanted)]
    close = [
        by_folded[f] for f in difflib.get_close_matches(wanted, list(by_folded), n=limit, cutoff=0.6)
    ]
    found: list[str] = []
    for candidate in close + contains:
        if candidate not in found:
            found.append(candidate)
    return found[:limit]


def _missing(what: str, name: str, names: Sequence[str], where: str, *, named: bool = True) -> str:
    text = f"no {what} {'named ' if named else ''}{name!r} in {where}"
    near = near_matches(name, names)
    if near:
        return f"{text}; near matches: {', '.join(repr(n) for n in near)}"
    if names:
        shown = ", ".join(repr(n) for n in sorted(names)[:8])
        more = f" (and {len(names) - 8} more)" if len(names) > 8 else ""
        return f"{text}; it has {shown}{more}"
    return f"{text}, which has none"


def _names(client: "OctopusClient", path: str) -> list[str]:
    """Every name in a collection, for near matches; an error here only loses the hint."""
    from components.octopus.errors import OctopusError

    try:
        return [str(item.get("Name")) for item in client._pages(path) if item.get("Name")]
    except OctopusError:
        return []


# --- settings --------------------------------------------------------------------------------


def _check_settings(probe: _Probe) -> Check:
    """The same validation `create` applies, with stand-ins for what doctor may not know yet.

    The feature, its package version and the API key may be absent when doctor
    runs without a feature; their own checks report them.
    """
    from components.settings import SettingsError, parse_settings

    config = dict(probe.ctx.config)
    feature = config.get("phoenix:feature") or _STAND_IN_FEATURE
    config["phoenix:feature"] = feature
    config.setdefault("phoenix:packageVersion", None)
    if not config["phoenix:packageVersion"]:
        config["phoenix:packageVersion"] = f"0.0.0-{feature}"
    if not probe.secret("octopus:apiKey"):
        config["octopus:apiKey"] = "not-set"
    try:
        probe.settings = parse_settings(config)
    except SettingsError as error:
        return Check(
            "settings", FAIL, f"{error.key}: {error.reason}",
            f"correct {probe.setting(error.key)}",
        )
    return Check("settings", OK, "the stack config is valid")


# --- Pulumi ----------------------------------------------------------------------------------


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


def _check_pulumi_cli(probe: _Probe) -> Check:
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


def _check_backend(probe: _Probe) -> Check:
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


def _file_backend(probe: _Probe, url: str) -> Check:
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
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    region = (query.get("region") or [None])[0]
    profile = (query.get("profile") or [None])[0]
    fix = "create the bucket or pass --backend / PULUMI_BACKEND_URL naming one these credentials may use"
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        session.client("s3", config=_aws_config()).head_bucket(Bucket=parts.netloc)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        reason = {"404": "does not exist", "NoSuchBucket": "does not exist", "403": "access denied"}.get(
            code, f"{code} {error.response.get('Error', {}).get('Message', '')}".strip()
        )
        return Check("pulumi.backend", FAIL, f"{url}: bucket {parts.netloc!r} {reason}", fix)
    except BotoCoreError as error:
        return Check("pulumi.backend", FAIL, f"{url}: {error}", fix)
    return Check("pulumi.backend", OK, f"{url}: bucket {parts.netloc!r} reachable")


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


def _check_passphrase(probe: _Probe) -> Check:
    from automation.engine import check_passphrase

    try:
        check_passphrase(os.environ)
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


# --- AWS -------------------------------------------------------------------------------------


def _aws_config():
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})


def known_regions() -> set[str]:
    """Every region botocore's bundled endpoint data names, in every partition (no network)."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    # Straight from the data files: a session would read (and trip over) AWS_PROFILE.
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    regions: set[str] = set()
    for partition in resolver.get_available_partitions():
        regions.update(resolver.get_available_endpoints("ec2", partition))
    return regions


def _check_region(probe: _Probe) -> Check:
    region = probe.ctx.config.get("aws:region")
    where = probe.setting("aws:region")
    if not isinstance(region, str) or not region.strip():
        return Check("aws.region", FAIL, "aws:region is not set", f"set {where}")
    if region not in known_regions():
        return Check(
            "aws.region", WARN, f"{region!r} is not a region this AWS SDK knows (a typo, or a newer region)",
            f"check {where}",
        )
    return Check("aws.region", OK, f"{region} ({_source_of(probe.ctx.sources, 'aws:region') or 'stack config'})")


def _check_credentials(probe: _Probe) -> Check:
    """Found without a network call; then one cheap identity call says whether AWS accepts them."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = probe.ctx.config.get("aws:region")
    fix = (
        "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run where an "
        "instance or task role applies)"
    )
    try:
        session = boto3.session.Session(region_name=region)
        credentials = session.get_credentials()
    except BotoCoreError as error:
        return Check("aws.credentials", FAIL, str(error), fix)
    if credentials is None:
        return Check(
            "aws.credentials", FAIL,
            "no AWS credentials (environment, AWS_PROFILE, shared files or instance role)", fix,
        )
    method = credentials.method
    try:
        identity = session.client("sts", config=_aws_config()).get_caller_identity()
    except ClientError as error:
        details = error.response.get("Error", {})
        return Check(
            "aws.credentials", FAIL,
            f"AWS refused the credentials from {method}: {details.get('Code')}: {details.get('Message')}",
            fix,
        )
    except BotoCoreError as error:
        return Check("aws.credentials", FAIL, f"credentials from {method}; AWS STS did not answer: {error}",
                     "check the network path to AWS (proxy, AWS_ENDPOINT_URL_STS)")
    return Check(
        "aws.credentials", OK,
        f"account {identity.get('Account')} as {identity.get('Arn')} (credentials from {method})",
    )


# --- Octopus ---------------------------------------------------------------------------------


def _check_api_key(probe: _Probe) -> Check:
    if probe.secret("octopus:apiKey") is None:
        return Check(
            "octopus.apiKey", FAIL, "octopus:apiKey is not set (OCTOPUS_API_KEY is empty)",
            "export OCTOPUS_API_KEY=API-... (a key of a user who may edit the project's tenants and overrides)",
        )
    return Check("octopus.apiKey", OK, f"set ({_source_of(probe.ctx.sources, 'octopus:apiKey') or 'stack config'})")


def _check_server(probe: _Probe) -> Check:
    from components.octopus.errors import OctopusAuthError, OctopusError, OctopusUnavailable

    client = probe.octopus()
    url = client.server_url
    fix = f"check {probe.setting('octopus:serverUrl')} and that this machine can reach it"
    try:
        root = client.root()
    except OctopusAuthError:
        return Check("octopus.server", OK, f"{url} answered (its /api needs a valid key)")
    except OctopusUnavailable as error:
        return Check("octopus.server", FAIL, f"{url} did not answer: {error.message}", fix)
    except OctopusError as error:
        return Check("octopus.server", FAIL, f"{url} has no Octopus API at /api: {error}", fix)
    if not isinstance(root, dict) or not root.get("Version"):
        return Check("octopus.server", FAIL, f"{url}/api is not an Octopus root document", fix)
    return Check("octopus.server", OK, f"{root.get('Application', 'Octopus')} {root['Version']} at {url}")


def _check_user(probe: _Probe) -> Check:
    from components.octopus.errors import OctopusAuthError

    try:
        user = probe.octopus().current_user()
    except OctopusAuthError as error:
        return Check(
            "octopus.user", FAIL,
            f"the key in {probe.setting('octopus:apiKey')} was refused ({error.status}: {error.message})",
            "create an API key (Octopus: your profile > My API Keys) and export it as OCTOPUS_API_KEY",
        )
    return Check("octopus.user", OK, f"key accepted: user {_user_name(user)!r}")


def _user_name(user: Any) -> str:
    if not isinstance(user, dict):
        return "?"
    return str(user.get("Username") or user.get("DisplayName") or user.get("Id") or "?")


def _check_space(probe: _Probe) -> Check:
    from components.octopus.errors import OctopusNotFound

    client = probe.octopus()
    space = probe.octopus_settings().space
    try:
        space_id = client.space_id
    except OctopusNotFound:
        return Check(
            "octopus.space", FAIL, _missing("space", space, _names(client, "/api/spaces"), client.server_url),
            f"set {probe.setting('octopus:space')} to an existing space",
        )
    return Check("octopus.space", OK, f"{space!r} is {space_id}")


def _find_named(probe: _Probe, name: str, key: str, what: str, collection: str,
                find: Callable[[str], dict]) -> tuple[Optional[dict], Optional[Check]]:
    """A project/environment/policy by its configured name, or the failed check naming near matches."""
    from components.octopus.errors import OctopusNotFound

    client = probe.octopus()
    try:
        return find(name), None
    except OctopusNotFound:
        names = _names(client, f"/api/{client.space_id}/{collection}")
        where = f"space {probe.octopus_settings().space!r}"
        return None, Check(
            f"octopus.{_CHECK_OF[key]}", FAIL, _missing(what, name, names, where),
            f"set {probe.setting(key)} to an existing {what}, or create it in Octopus",
        )


_CHECK_OF = {
    "phoenix:octopus.project": "project",
    "phoenix:octopus.environment": "environment",
    "phoenix:octopus.machinePolicy": "machinePolicy",
}


def _check_project(probe: _Probe) -> Check:
    name = probe.octopus_settings().project
    project, failed = _find_named(
        probe, name, "phoenix:octopus.project", "project", "projects", probe.octopus().find_project
    )
    if failed:
        return failed
    assert project is not None
    if project.get("IsDisabled"):
        return Check(
            "octopus.project", FAIL, f"project {project.get('Name')!r} ({project.get('Id')}) is disabled",
            "enable the project in Octopus (Project > Settings)",
        )
    probe.project = project
    return Check("octopus.project", OK, f"{project.get('Name')!r} is {project.get('Id')}")


def _check_tenanted(probe: _Probe) -> Check:
    project = _need(probe.project, "octopus.project")
    mode = project.get("TenantedDeploymentMode") or "Untenanted"
    if mode in ("Tenanted", "TenantedOrUntenanted"):
        return Check("octopus.tenantedMode", OK, f"project {project.get('Name')!r} allows tenants ({mode})")
    return Check(
        "octopus.tenantedMode", FAIL,
        f"project {project.get('Name')!r} is {mode}: it cannot deploy to the feature's tenant",
        "in Octopus, Project > Settings > Multi-tenanted deployments: allow deployments with or "
        "without a tenant (TenantedOrUntenanted)",
    )


def _check_environment(probe: _Probe) -> Check:
    name = probe.octopus_settings().environment
    environment, failed = _find_named(
        probe, name, "phoenix:octopus.environment", "environment", "environments",
        probe.octopus().find_environment,
    )
    if failed:
        return failed
    assert environment is not None
    probe.environment = environment
    return Check("octopus.environment", OK, f"{environment.get('Name')!r} is {environment.get('Id')}")


def _check_machine_policy(probe: _Probe) -> Check:
    name = probe.octopus_settings().machine_policy
    policy, failed = _find_named(
        probe, name, "phoenix:octopus.machinePolicy", "machine policy", "machinepolicies",
        probe.octopus().find_machine_policy,
    )
    if failed:
        return failed
    assert policy is not None
    cleanup = policy.get("MachineCleanupPolicy") or {}
    found = f"{policy.get('Name')!r} is {policy.get('Id')}"
    if cleanup.get("DeleteMachinesBehavior") != "DeleteUnavailableMachines":
        return Check(
            "octopus.machinePolicy", WARN,
            f"{found}, but it keeps unavailable machines: Tentacles of replaced instances stay registered",
            f"set the policy's clean-up to delete machines unavailable for some time "
            f"(Infrastructure > Machine Policies > {policy.get('Name')})",
        )
    elapsed = cleanup.get("DeleteMachinesElapsedTimeSpan")
    return Check("octopus.machinePolicy", OK, f"{found}; deletes machines unavailable for {elapsed}")


def judge_triggers(
    triggers: Sequence[Mapping[str, Any]], *, project: str, environment: Mapping[str, Any],
    roles: Sequence[str],
) -> Check:
    """Does an enabled AutoDeploy trigger fire for a new machine of this environment and these roles?

    Octopus matches a machine to a trigger's filter when the filter names its
    environment (or none) and at least one of its roles (or none), and when the
    filter's events include a machine becoming available (or none are named).
    """
    environment_name = environment.get("Name")
    role_text = ", ".join(repr(r) for r in roles)
    mismatches: list[str] = []
    for trigger in triggers:
        problem = _trigger_problem(trigger, environment.get("Id"), roles)
        if problem is None:
            return Check(
                "octopus.trigger", OK,
                f"trigger {trigger.get('Name')!r} deploys to new machines in {environment_name!r} "
                f"with role {role_text}",
            )
        if problem:
            mismatches.append(f"trigger {trigger.get('Name')!r} {problem}")
    found = (
        f"project {project!r} has no enabled AutoDeploy trigger for environment {environment_name!r} "
        f"and role {role_text}: new machines would never get a deployment"
    )
    if mismatches:
        found += "; " + "; ".join(mismatches)
    return Check(
        "octopus.trigger", FAIL, found,
        f"in Octopus, Project {project!r} > Triggers > Add trigger > Deployment target trigger: event "
        f"'Machine becomes available for deployment', environment {environment_name!r}, role {role_text}",
    )


def _trigger_problem(trigger: Mapping[str, Any], environment_id: Any, roles: Sequence[str]) -> Optional[str]:
    """Why a trigger would not deploy a new machine; None when it would, "" when it is no AutoDeploy one."""
    machine_filter = trigger.get("Filter") or {}
    action = trigger.get("Action") or {}
    if machine_filter.get("FilterType") != "MachineFilter" or action.get("ActionType") != "AutoDeploy":
        return ""
    if trigger.get("IsDisabled"):
        return "is disabled"
    environments = machine_filter.get("EnvironmentIds") or []
    if environments and environment_id not in environments:
        return f"covers other environments ({', '.join(map(str, environments))})"
    trigger_roles = machine_filter.get("Roles") or []
    if trigger_roles and not set(trigger_roles) & set(roles):
        return f"covers other roles ({', '.join(map(str, trigger_roles))})"
    groups = set(machine_filter.get("EventGroups") or [])
    categories = set(machine_filter.get("EventCategories") or [])
    if (groups or categories) and not (
        groups & NEW_MACHINE_EVENT_GROUPS or categories & NEW_MACHINE_EVENT_CATEGORIES
    ):
        return f"fires on {', '.join(sorted(groups | categories))}, not when a machine becomes available"
    return None


def _check_trigger(probe: _Probe) -> Check:
    project = _need(probe.project, "octopus.project")
    environment = _need(probe.environment, "octopus.environment")
    triggers = probe.octopus().project_triggers(project["Id"])
    return judge_triggers(
        triggers, project=str(project.get("Name")), environment=environment,
        roles=probe.octopus_settings().roles,
    )


def _check_release(probe: _Probe) -> Check:
    from automation.feature import newest_version
    from components.octopus.errors import OctopusNotFound

    project = _need(probe.project, "octopus.project")
    client = probe.octopus()
    version = probe.ctx.package_version
    feature = probe.ctx.feature
    if not version and not feature:
        return Check("octopus.release", OK, "not checked: no feature or package version given")
    if not version:
        versions = [str(r.get("Version")) for r in client.releases(project["Id"])]
        version = newest_version(versions, str(feature))
        if version is None:
            return Check(
                "octopus.release", FAIL,
                f"project {project.get('Name')!r} has no release whose pre-release tag names {feature!r}",
                f"publish the branch's package and create its release (e.g. 1.0.0-{feature})",
            )
    try:
        release = client.find_release(project["Id"], version)
    except OctopusNotFound:
        versions = [str(r.get("Version")) for r in client.releases(project["Id"])]
        return Check(
            "octopus.release", FAIL,
            _missing("release", version, versions, f"project {project.get('Name')!r}", named=False),
            f"create release {version} of project {project.get('Name')!r} (after its package is published)",
        )
    return Check("octopus.release", OK, f"{version} is {release.get('Id')}")


def _check_registration_key(probe: _Probe) -> Check:
    """Instances hold the key they register with; a dedicated, narrow key limits what a stolen one can do."""
    from components.octopus.errors import OctopusAuthError

    registration = probe.secret("octopus:registrationApiKey")
    dedicated = (
        "create a user that may only register machines in the feature environment, give it an "
        "API key and export it as OCTOPUS_REGISTRATION_API_KEY"
    )
    if registration is None:
        return Check(
            "octopus.registrationKey", WARN,
            "octopus:registrationApiKey is not set: instances register with the management key "
            "(OCTOPUS_API_KEY), which a compromised instance could use for anything that key may do",
            dedicated,
        )
    if registration == probe.secret("octopus:apiKey"):
        return Check(
            "octopus.registrationKey", WARN,
            "octopus:registrationApiKey is the management key itself (OCTOPUS_API_KEY)", dedicated,
        )
    try:
        user = probe.octopus("octopus:registrationApiKey").current_user()
    except OctopusAuthError as error:
        return Check(
            "octopus.registrationKey", FAIL,
            f"the key in {probe.setting('octopus:registrationApiKey')} was refused "
            f"({error.status}: {error.message}): instances could not register",
            "export a valid key as OCTOPUS_REGISTRATION_API_KEY",
        )
    return Check(
        "octopus.registrationKey", OK,
        f"instances register as user {_user_name(user)!r} "
        f"({_source_of(probe.ctx.sources, 'octopus:registrationApiKey') or 'stack config'})",
    )


def _need(value: Optional[dict], check: str) -> dict:
    if value is None:
        raise _NotChecked(check)
    return value


_CREATE = frozenset({"all", "create"})
_EVERY = frozenset(SCOPES)

#: The checks in the order they run and are reported; a check follows what it needs.
CHECKS: tuple[_Spec, ...] = (
    _Spec("settings", _check_settings, _EVERY),
    _Spec("pulumi.cli", _check_pulumi_cli, _EVERY),
    _Spec("pulumi.backend", _check_backend, _EVERY),
    _Spec("pulumi.passphrase", _check_passphrase, _EVERY),
    _Spec("aws.region", _check_region, _EVERY),
    _Spec("aws.credentials", _check_credentials, _EVERY, ("aws.region",)),
    _Spec("octopus.apiKey", _check_api_key, _CREATE),
    _Spec("octopus.server", _check_server, _CREATE, ("settings", "octopus.apiKey")),
    _Spec("octopus.user", _check_user, _CREATE, ("octopus.server",)),
    _Spec("octopus.space", _check_space, _CREATE, ("octopus.user",)),
    _Spec("octopus.project", _check_project, _CREATE, ("octopus.space",)),
    _Spec("octopus.tenantedMode", _check_tenanted, _CREATE, ("octopus.project",)),
    _Spec("octopus.environment", _check_environment, _CREATE, ("octopus.space",)),
    _Spec("octopus.machinePolicy", _check_machine_policy, _CREATE, ("octopus.space",)),
    _Spec("octopus.trigger", _check_trigger, _CREATE, ("octopus.project", "octopus.environment")),
    _Spec("octopus.release", _check_release, _CREATE, ("octopus.project",)),
    _Spec("octopus.registrationKey", _check_registration_key, _CREATE, ("octopus.server",)),
)


# --- rendering -------------------------------------------------------------------------------


def render_table(checks: Sequence[Check]) -> str:
    """A table for people: check, status, what was found, and under it how to fix it."""
    width = max([len("CHECK")] + [len(c.name) for c in checks])
    indent = " " * (width + len("  STATUS  "))
    lines = [f"{'CHECK'.ljust(width)}  STATUS  FOUND"]
    for check in checks:
        found = check.found.splitlines() or [""]
        lines.append(f"{check.name.ljust(width)}  {check.status.ljust(6)}  {found[0]}".rstrip())
        lines.extend(f"{indent}{line}" for line in found[1:])
        if check.fix and check.status != OK:
            lines.append(f"{indent}fix: {check.fix}")
    lines.append("")
    lines.append(summary_line(checks))
    return "\n".join(lines)


def summary_line(checks: Sequence[Check]) -> str:
    counts = _counts(checks)
    return f"{len(checks)} checks: {counts[OK]} ok, {counts[WARN]} warn, {counts[FAIL]} fail"


def _counts(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in STATUSES}


def render_json(checks: Sequence[Check]) -> str:
    """The `doctor --json` document: keys sorted, checks in run order (see README)."""
    document = {
        "schema": JSON_SCHEMA,
        "ok": not any(c.status == FAIL for c in checks),
        "counts": _counts(checks),
        "checks": [
            {"name": c.name, "status": c.status, "found": c.found, "fix": c.fix} for c in checks
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True)


def render_failures(checks: Sequence[Check], command: str) -> str:
    """Why `create`/`preview` stopped: each failed check with its fix, on one message."""
    failed = [c for c in checks if c.status == FAIL]
    lines = [f"{command} stopped before touching the stack: {len(failed)} preflight check(s) failed"]
    for check in failed:
        lines.append(f"  {check.name}: {check.found}")
        if check.fix:
            lines.append(f"    fix: {check.fix}")
    lines.append(
        "run `python -m automation doctor` for every check, or pass --skip-preflight to go ahead anyway"
    )
    return "\n".join(lines)


# --- the command line ------------------------------------------------------------------------


def context_for_stack(session: Any, config: Any, package_version: Optional[str]) -> DoctorContext:
    """The context of `create`/`preview`: the validated `StackConfig` they are about to write."""
    return DoctorContext(
        config=config.flat(),
        sources=config.sources,
        package_version=package_version,
        backend_url=session.backend.url,
        work_dir=session.options.work_dir,
        feature=config.values.get("phoenix:feature"),
    )


def context_for_doctor(
    session: Any, feature_text: Optional[str], package_version: Optional[str]
) -> DoctorContext:
    """The context of `doctor`: like `create`'s, but a missing feature or API key is a finding, not an error."""
    from automation import config as stack_config
    from automation.feature import parse_feature

    feature = None
    if feature_text or package_version:
        feature = parse_feature(feature_text or str(package_version), package_version)
    sources = session.sources
    values = json.loads(json.dumps(sources.values, default=str))
    origins = {key: stack_config.describe(origin) for key, origin in sources.origins.items()}
    if feature is not None:
        values["phoenix:feature"] = feature.id
        origins["phoenix:feature"] = "FEATURE"
        if feature.package_version:
            values["phoenix:packageVersion"] = feature.package_version
            origins["phoenix:packageVersion"] = "FEATURE or --version"
    secrets = stack_config.read_secrets(session.environ, require=False)
    for key, variable in stack_config.SECRET_ENV.items():
        values[key] = secrets.get(key)
        origins[key] = stack_config.describe(("environment", variable))
    return DoctorContext(
        config=values,
        sources=origins,
        package_version=feature.package_version if feature else None,
        backend_url=session.backend.url,
        work_dir=session.options.work_dir,
        feature=feature.id if feature else None,
    )


def run_cli(args: Any, *, console: Any, session: Any) -> int:
    """`python -m automation doctor [FEATURE] [--version V] [--json]`: every check, a table or JSON."""
    ctx = context_for_doctor(session, args.feature, getattr(args, "package_version", None))
    checks = run_checks(ctx, "all")
    console.out(render_json(checks) if console.json_mode else render_table(checks))
    return exit_code(checks)
