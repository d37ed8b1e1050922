"""The bad-input table: hostile or malformed input, each refused by name before anything exists.

Three doors are tried. Command-line arguments (the registration key too) and the defaults file go
through `python -m automation` as CI runs it (a subprocess; a temporary
defaults file through PHOENIX_DEFAULTS); each must end in exit 2 with a
message naming the input. Octopus-side mistakes (an unreachable server, a
wrong key, a missing project or release) go through `create` with its
preflight on; the AWS part of that preflight is answered by moto inside the
CLI's process, since no AWS exists here, and a control row shows the same
setup passes with good input. Provider inputs go straight to the Tenant and
AutoDeployOverride providers' check(), as the engine calls it; each must
return a CheckFailure on the property, naming the value.

After every row the emulator must have received no write and hold no tenant
or override, the backend must hold no stack and the work dir no stack
config; no secret may appear in the output.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import yaml

from bench.report import Report
from bench.table import render

#: `python -m automation` with AWS answered by moto in the same process, holding the zones HOSTED_ZONES names.
WITH_MOTO = (
    "import sys; from moto import mock_aws; from automation.cli import main; "
    "from bench.bad_input import seed_hosted_zones; "
    "sys.exit(mock_aws(lambda argv: seed_hosted_zones() or main(argv))(sys.argv[1:]))"
)
#: The Route 53 zones moto holds for a row: a JSON list of {"name": ..., "private": bool}.
HOSTED_ZONES = "PHOENIX_BENCH_HOSTED_ZONES"
ZONE = "features.example.com"
WRONG_KEY = "API-WRONGKEY0000000000000000001"
WRONG_PASSPHRASE = "not-the-passphrase-0001"
WRONG_REGISTRATION_KEY = "API-WRONGREGISTRATION000000001"
GOOD_VERSION = "1.0.0-ryan0001"
#: A feature created before the rows run: the rows that need an existing stack use it.
EXISTING = "keep0001"
#: A tenant no stack manages, whose name a feature would take.
TAKEN = "taken0001"


def seed_hosted_zones() -> None:
    """Create the zones HOSTED_ZONES lists in moto's Route 53 (inside mock_aws, before the CLI runs)."""
    import os

    import boto3

    for index, zone in enumerate(json.loads(os.environ.get(HOSTED_ZONES) or "[]")):
        options: dict[str, Any] = {}
        if zone.get("private"):
            vpc = boto3.client("ec2", region_name="eu-west-1").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
            options = {"HostedZoneConfig": {"PrivateZone": True}, "VPC": {"VPCRegion": "eu-west-1", "VPCId": vpc}}
        boto3.client("route53", region_name="eu-west-1").create_hosted_zone(
            Name=zone["name"], CallerReference=f"bench-{index}", **options
        )


@dataclass(frozen=True)
class Outcome:
    """What came back: `exit N`, or the properties of the CheckFailures and their reasons."""

    code: Optional[int] = None
    failures: tuple[tuple[str, str], ...] = ()
    output: str = ""

    @property
    def summary(self) -> str:
        if self.code is not None:
            return f"exit {self.code}"
        if self.failures:
            return "CheckFailure " + ", ".join(sorted({prop for prop, _ in self.failures}))
        return "accepted"


@dataclass(frozen=True)
class Case:
    area: str
    label: str
    needle: str
    """text the refusal must contain: the input's name or value"""
    run: Callable[[Any], Outcome]
    expect_code: Optional[int] = 2
    expect_property: Optional[str] = None
    """for provider rows: the property the CheckFailure must name"""

    @property
    def expected(self) -> str:
        return f"CheckFailure {self.expect_property}" if self.expect_property else f"exit {self.expect_code}"


@dataclass(frozen=True)
class Row:
    case: Case
    outcome: Outcome
    created: Sequence[str]
    leaked: Sequence[str]

    def message(self) -> str:
        """The line of the refusal that names the input (else its first line)."""
        if self.outcome.failures:
            lines = [f"{prop}: {reason}" for prop, reason in self.outcome.failures]
        else:
            lines = [line.strip() for line in self.outcome.output.splitlines() if line.strip()]
        named = [line for line in lines if self.case.needle in line]
        # argparse prints its usage first; the line that says what is wrong comes after it.
        named.sort(key=lambda line: "error" not in line)
        return (named or lines or ["(no message)"])[0]

    def problems(self) -> list[str]:
        found = []
        case, outcome = self.case, self.outcome
        if case.expect_property:
            reasons = [f"{p}: {r}" for p, r in outcome.failures if p == case.expect_property]
            if not reasons:
                found.append(f"expected a CheckFailure on {case.expect_property}, got {outcome.summary}")
            elif not any(case.needle in reason for reason in reasons):
                found.append(f"the failure does not name {case.needle!r}")
        else:
            if outcome.code != case.expect_code:
                found.append(f"expected exit {case.expect_code}, got {outcome.summary}")
            if case.needle not in outcome.output:
                found.append(f"the message does not name {case.needle!r}")
        found += [f"created: {item}" for item in self.created]
        found += [f"leaked: {item}" for item in self.leaked]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()


# --- the doors ----------------------------------------------------------------------------------


def cli(
    command: str,
    *args: str,
    defaults: Optional[Callable[[dict], Any]] = None,
    defaults_text: Optional[str | bytes] = None,
    env: Optional[Mapping[str, Optional[str]]] = None,
    preflight: bool = False,
) -> Callable[[Any], Outcome]:
    """A run of `python -m automation COMMAND ARGS...`; `defaults` edits a copy of the defaults file.

    Without `preflight`, create and preview skip doctor's checks, so a refusal
    can only come from the input's own validation.
    """

    def run(box: Any) -> Outcome:
        environ = box.env
        text = defaults_text
        if defaults is not None:
            document = copy.deepcopy(yaml.safe_load(box.defaults.read_text(encoding="utf-8")))
            text = yaml.safe_dump(defaults(document) or document, sort_keys=False, allow_unicode=True)
        if text is not None:
            path = box.root / "hostile-defaults.yaml"
            path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
            environ["PHOENIX_DEFAULTS"] = str(path)
        for name, value in (env or {}).items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value.replace("{url}", box.emulator.url)
        extra = [] if preflight or command not in ("create", "preview") else ["--skip-preflight"]
        if preflight:
            argv = [sys.executable, "-c", WITH_MOTO, command, *args, *extra, "--work-dir", str(box.work_dir)]
        else:
            argv = box.cli_argv(command, *args, *extra)
        done = subprocess.run(argv, env=environ, cwd=box.work_dir.parent, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)
        return Outcome(code=done.returncode, output=done.stderr + done.stdout)

    return run


def check(resource: str, **changes: Any) -> Callable[[Any], Outcome]:
    """The provider's check() on good inputs with `changes` applied (None removes a property)."""

    def run(box: Any) -> Outcome:
        from pulumi.dynamic import Config, ConfigureRequest

        from components.octopus.override import AutoDeployOverrideProvider
        from components.octopus.tenant import TenantProvider

        tenant_id = box.emulator.tenants()[0]["Id"] if box.emulator.tenants() else None
        good = {
            "tenant": {
                "tenant_name": "ryan0001", "projects": [box.names.project],
                "environments": [box.names.environment], "description": "", "tenant_tags": [],
                "adopt_existing": False,
            },
            "override": {
                "project": box.names.project, "environment": box.names.environment,
                "tenant_id": tenant_id, "release_version": GOOD_VERSION,
            },
        }[resource]
        news = {key: value for key, value in {**good, **changes}.items() if value is not None}
        provider = {"tenant": TenantProvider, "override": AutoDeployOverrideProvider}[resource]()
        config = {"octopus:serverUrl": box.emulator.url, "octopus:apiKey": box.emulator.api_key}
        provider.configure(ConfigureRequest(Config(raw_config=config, project_name="phoenix")))
        result = provider.check({}, news)
        return Outcome(failures=tuple((f.property, f.reason) for f in result.failures))

    return run


def _set(path: str, value: Any) -> Callable[[dict], dict]:
    """An edit of the defaults document: `section.key` = value (None deletes it)."""

    def edit(document: dict) -> dict:
        *parents, last = path.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
        return document

    return edit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LONG_ID = "r" + "a" * 199
LONG_NAME = "t" * 201


def _repository_defaults(edit: Callable[[str], str] = lambda text: text) -> str:
    """The repository's defaults file as text, edited by hand (for mistakes YAML tools would tidy away)."""
    from automation.config import DEFAULTS_FILE
    from automation.pulumi_cli import PROJECT_ROOT

    return edit((PROJECT_ROOT / DEFAULTS_FILE).read_text(encoding="utf-8"))


def cases() -> list[Case]:
    from bench.sandbox import API_KEY as SANDBOX_API_KEY

    dead = f"http://127.0.0.1:{_closed_port()}"
    duplicated = _repository_defaults(lambda text: text.replace("  nat: single", "  nat: single\n  nat: per_az", 1))
    hex_size = _repository_defaults(lambda text: text.replace("  minSize: 1", "  minSize: 0x10", 1))

    def create(*args: str, **options: Any) -> Callable[[Any], Outcome]:
        return cli("create", *args, **options)

    version = ("create", GOOD_VERSION)
    return [
        # command-line arguments
        Case("argument", "FEATURE 'ryan/0001' (slash)", "ryan/0001", create("ryan/0001")),
        Case("argument", "FEATURE 'ryan 0001' (space)", "ryan 0001", create("ryan 0001")),
        Case("argument", "FEATURE 'ryän0001' (unicode)", "ryän0001", create("ryän0001")),
        Case("argument", "FEATURE of 200 characters", "200 characters", create(LONG_ID)),
        Case("argument", "FEATURE 'Ryan0001' (upper case)", "Ryan0001", create("Ryan0001")),
        Case("argument", "FEATURE '../../etc/passwd'", "../../etc/passwd", create("../../etc/passwd")),
        Case("argument", "FEATURE 'ryan0001;rm -rf ~'", "ryan0001;rm -rf ~", create("ryan0001;rm -rf ~")),
        Case("argument", "FEATURE '' (empty)", "empty", create("")),
        Case("argument", "version '1.0'", "'1.0'", create("1.0")),
        Case("argument", "version 'v1.0.0'", "v1.0.0", create("v1.0.0")),
        Case("argument", "version '1.0.0-'", "1.0.0-", create("1.0.0-")),
        Case("argument", "version '1.0.0-ryan 01'", "1.0.0-ryan 01", create("1.0.0-ryan 01")),
        Case("argument", "version '1.0.0' (no feature tag)", "1.0.0", create("1.0.0")),
        Case("argument", "version '01.0.0-ryan0001' (leading zero)", "01.0.0-ryan0001", create("01.0.0-ryan0001")),
        Case("argument", "--version of another feature", "bob0001", create("ryan0001", "--version", "1.0.0-bob0001")),
        Case("argument", "--set phoenix:network.nat=triple", "nat", create(GOOD_VERSION, "--set", "phoenix:network.nat=triple")),
        Case("argument", "--set octopus:apiKey=... (a secret)", "OCTOPUS_API_KEY",
             create(GOOD_VERSION, "--set", "octopus:apiKey=API-ONTHECOMMANDLINE0001")),
        Case("argument", "--set fleet.minSize=2 (no namespace)", "fleet.minSize", create(GOOD_VERSION, "--set", "fleet.minSize=2")),
        Case("argument", "--set phoenix:fleet.minSize=lots", "minSize", create(GOOD_VERSION, "--set", "phoenix:fleet.minSize=lots")),
        Case("argument", "--set phoenix:imageId=... (the pin)", "amiId", create(GOOD_VERSION, "--set", "phoenix:imageId=ami-0123456789abcdef0")),
        Case("argument", "--set healthyStatusCodes=2xx", "healthyStatusCodes",
             create(GOOD_VERSION, "--set", "phoenix:fleet.healthyStatusCodes=2xx")),
        Case("argument", "--set fleet.os=windows with the rpm Tentacle source", "tentaclePackageSource",
             create(GOOD_VERSION, "--set", "phoenix:fleet.os=windows", "--set", "phoenix:fleet.tentaclePackageSource=https://rpm.octopus.com")),
        Case("argument", "--wait-lock -5", "--wait-lock", create(GOOD_VERSION, "--wait-lock", "-5")),
        Case("argument", "reap --older-than '3 days'", "3 days", cli("reap", "--older-than", "3 days")),
        Case("argument", "reap --parallel 0", "--parallel", cli("reap", "--parallel", "0")),
        Case("argument", "reap --keep 'bad/feature'", "bad/feature", cli("reap", "--keep", "bad/feature")),
        Case("argument", "reap --keep-file that does not exist", "no-such-live-branches.txt",
             cli("reap", "--older-than", "0s", "--keep-file", "no-such-live-branches.txt")),
        Case("argument", "reap --keep-file /dev/null (empty: the SCM answered nothing)", "--allow-empty-keep-list",
             cli("reap", "--older-than", "0s", "--keep-file", "/dev/null")),
        Case("argument", "reap --keep-file of a folder (unreadable)", "Is a directory",
             cli("reap", "--older-than", "0s", "--keep-file", ".")),
        Case("argument", "reap --orphans --keep-file /dev/null", "--allow-empty-keep-list",
             cli("reap", "--orphans", "--keep-file", "/dev/null")),
        Case("argument", "reap --max-destroy -1", "--max-destroy", cli("reap", "--max-destroy", "-1")),
        Case("argument", "destroy 'ryan/0001'", "ryan/0001", cli("destroy", "ryan/0001")),
        Case("argument", "no OCTOPUS_API_KEY in the environment", "OCTOPUS_API_KEY",
             create(GOOD_VERSION, env={"OCTOPUS_API_KEY": None})),
        Case("argument", "FEATURE 'ryan_0001' (underscore)", "did you mean 'ryan-0001'", create("ryan_0001")),
        Case("argument", "--backend foo", "--backend 'foo'", create(GOOD_VERSION, "--backend", "foo")),
        Case("argument", "PULUMI_BACKEND_URL=bucket/phoenix", "PULUMI_BACKEND_URL",
             cli("list", env={"PULUMI_BACKEND_URL": "bucket/phoenix"})),
        Case("argument", "--set phoenix:fleet.minSize=0x10 (hex)", "'0x10' is not a decimal",
             create(GOOD_VERSION, "--set", "phoenix:fleet.minSize=0x10")),
        Case("argument", "--set phoenix:fleet={} (blames --set)", "--set: phoenix:fleet.",
             create(GOOD_VERSION, "--set", "phoenix:fleet={}")),
        Case("argument", "--set of 5,000 characters (cut short)", " characters)",
             create(GOOD_VERSION, "--set", "phoenix:fleet.os=" + "x" * 5000)),
        Case("argument", "--set tag with a newline", "holds '\\n'",
             create(GOOD_VERSION, "--set", "phoenix:tags.owner=ryan\nroot")),
        Case("argument", "--set tag '$(id)'", "holds '$'", create(GOOD_VERSION, "--set", "phoenix:tags.owner=$(id)")),
        Case("argument", "synth --output into a missing folder", "no-such-folder",
             cli("synth", "ryan0001", "--output", "no-such-folder/ryan0001.json")),
        Case("argument", "synth --json --format mermaid", "--json and --format mermaid",
             cli("synth", "ryan0001", "--json", "--format", "mermaid")),
        Case("argument", "outputs nosuch0001 (no stack)", "nosuch0001", cli("outputs", "nosuch0001")),
        Case("argument", "wrong passphrase for an existing stack", "PULUMI_CONFIG_PASSPHRASE",
             cli("destroy", EXISTING, env={"PULUMI_CONFIG_PASSPHRASE": WRONG_PASSPHRASE})),
        # the key instances register with: never the deploy key, unless the org opts in
        Case("registration key", "no OCTOPUS_REGISTRATION_API_KEY (create)", "OCTOPUS_REGISTRATION_API_KEY",
             create(GOOD_VERSION, env={"OCTOPUS_REGISTRATION_API_KEY": None})),
        Case("registration key", "OCTOPUS_REGISTRATION_API_KEY = the deploy key (create)", "the deploy key itself",
             create(GOOD_VERSION, env={"OCTOPUS_REGISTRATION_API_KEY": SANDBOX_API_KEY})),
        Case("registration key", "no OCTOPUS_REGISTRATION_API_KEY (doctor)", "octopus.registrationKey",
             cli("doctor", GOOD_VERSION, env={"OCTOPUS_REGISTRATION_API_KEY": None}, preflight=True)),
        Case("registration key", "registration key Octopus refuses", "OCTOPUS_REGISTRATION_API_KEY",
             cli(*version, env={"OCTOPUS_REGISTRATION_API_KEY": WRONG_REGISTRATION_KEY}, preflight=True)),
        Case("registration key", "octopus.shareDeployKeyWithInstances: 'yes'", "shareDeployKeyWithInstances",
             create(GOOD_VERSION, env={"OCTOPUS_REGISTRATION_API_KEY": None},
                    defaults=_set("octopus.shareDeployKeyWithInstances", "yes"))),
        # stacks/defaults.yaml (a temporary copy)
        Case("defaults.yaml", "network.azCount: 'two' (wrong type)", "azCount", create(GOOD_VERSION, defaults=_set("network.azCount", "two"))),
        Case("defaults.yaml", "network.colour: blue (unknown key)", "colour", create(GOOD_VERSION, defaults=_set("network.colour", "blue"))),
        Case("defaults.yaml", "section 'database:' (unknown)", "database", create(GOOD_VERSION, defaults=_set("database.engine", "postgres"))),
        Case("defaults.yaml", "fleet.minSize 3 > maxSize 2", "minSize", create(GOOD_VERSION, defaults=_set("fleet.minSize", 3))),
        Case("defaults.yaml", "network.cidr: 10.0.0.0/33", "cidr", create(GOOD_VERSION, defaults=_set("network.cidr", "10.0.0.0/33"))),
        Case("defaults.yaml", "network.azCount: 0", "azCount", create(GOOD_VERSION, defaults=_set("network.azCount", 0))),
        Case("defaults.yaml", "network.nat: triple", "nat", create(GOOD_VERSION, defaults=_set("network.nat", "triple"))),
        Case("defaults.yaml", "fleet.os: solaris", "os", create(GOOD_VERSION, defaults=_set("fleet.os", "solaris"))),
        Case("defaults.yaml", "octopus.roles: web (not a list)", "roles", create(GOOD_VERSION, defaults=_set("octopus.roles", "web"))),
        Case("defaults.yaml", "octopus.serverUrl: ftp://...", "serverUrl",
             create(GOOD_VERSION, defaults=_set("octopus.serverUrl", "ftp://octopus.example.com"))),
        Case("defaults.yaml", "aws.region: 'Mars North'", "region", create(GOOD_VERSION, defaults=_set("aws.region", "Mars North"))),
        Case("defaults.yaml", "tags: {aws:owner: me} (reserved)", "aws:owner", create(GOOD_VERSION, defaults=_set("tags", {"aws:owner": "me"}))),
        Case("defaults.yaml", "the file is a list", "mapping", create(GOOD_VERSION, defaults_text="- aws\n- octopus\n")),
        Case("defaults.yaml", "YAML syntax error on line 3", "line 3",
             create(GOOD_VERSION, defaults_text="aws:\n  region: eu-west-1\nnetwork: a: b\n")),
        Case("defaults.yaml", "PHOENIX_DEFAULTS names no file", "no-such-defaults.yaml",
             create(GOOD_VERSION, env={"PHOENIX_DEFAULTS": "/nonexistent/no-such-defaults.yaml"})),
        Case("defaults.yaml", "network.nat given twice", "duplicate key 'nat'", create(GOOD_VERSION, defaults_text=duplicated)),
        Case("defaults.yaml", "fleet.minSize: 0x10 (hex)", "'0x10' is not a decimal", create(GOOD_VERSION, defaults_text=hex_size)),
        Case("defaults.yaml", "the file is not UTF-8", "not UTF-8",
             create(GOOD_VERSION, defaults_text=b"aws:\n  region: eu-west-1  # r\xe9gion\n")),
        Case("defaults.yaml", "the file is empty", "is empty", create(GOOD_VERSION, defaults_text="# nothing yet\n")),
        Case("defaults.yaml", "tags: {owner: 'a;b'} (AWS tag rules)", "holds ';'",
             create(GOOD_VERSION, defaults=_set("tags", {"owner": "a;b"}))),
        # the feature's name: the zone as written, then as Route 53 has it (moto, through the preflight)
        Case("DNS zone", "dns.zone: a URL, not a domain", "https://features.example.com",
             create(GOOD_VERSION, defaults=_set("dns.zone", "https://features.example.com"))),
        Case("DNS zone", "dns.zone: 'features' (one label)", "two labels",
             create(GOOD_VERSION, defaults=_set("dns.zone", "features"))),
        Case("DNS zone", "dns.zone: 52 characters (no room for a certificate)", "at most 51",
             create(GOOD_VERSION, defaults=_set("dns.zone", "z" * 40 + ".example.com"))),
        Case("DNS zone", "dns.tlsPolicy accepting TLS 1.0", "ELBSecurityPolicy-2016-08",
             create(GOOD_VERSION, defaults=_set("dns.tlsPolicy", "ELBSecurityPolicy-2016-08"))),
        Case("DNS zone", "zone absent from Route 53 (preflight)", f"no hosted zone named '{ZONE}'",
             cli(*version, "--set", f"phoenix:dns.zone={ZONE}", preflight=True)),
        Case("DNS zone", "private zone with public listenerCidrs (preflight)", "private hosted zone",
             cli(*version, "--set", f"phoenix:dns.zone={ZONE}", preflight=True,
                 env={HOSTED_ZONES: json.dumps([{"name": ZONE, "private": True}])})),
        # Octopus, through create's preflight
        Case("Octopus (preflight)", "control: good input (doctor)", "0 fail", cli("doctor", GOOD_VERSION, preflight=True), expect_code=0),
        Case("Octopus (preflight)", "serverUrl unreachable", dead, cli(*version, "--set", f"octopus:serverUrl={dead}", preflight=True)),
        Case("Octopus (preflight)", "wrong API key", "OCTOPUS_API_KEY", cli(*version, env={"OCTOPUS_API_KEY": WRONG_KEY}, preflight=True)),
        Case("Octopus (preflight)", "project 'Phoenix Wbe' (absent)", "Phoenix Wbe",
             cli(*version, "--set", "phoenix:octopus.project=Phoenix Wbe", preflight=True)),
        Case("Octopus (preflight)", "environment 'Featrue' (absent)", "Featrue",
             cli(*version, "--set", "phoenix:octopus.environment=Featrue", preflight=True)),
        Case("Octopus (preflight)", "release 1.0.7-ryan0001 (not published)", "1.0.7-ryan0001",
             cli("create", "1.0.7-ryan0001", preflight=True)),
        Case("Octopus (preflight)", f"tenant name {TAKEN!r} taken, not managed", "octopus.tenant",
             cli("create", f"1.0.0-{TAKEN}", preflight=True)),
        Case("Octopus (preflight)", "destroy with a key Octopus refuses", "OCTOPUS_API_KEY",
             cli("destroy", EXISTING, env={"OCTOPUS_API_KEY": WRONG_KEY})),
        Case("Octopus (preflight)", "reap with a key Octopus refuses", "OCTOPUS_API_KEY",
             cli("reap", "--older-than", "0s", env={"OCTOPUS_API_KEY": WRONG_KEY})),
        # provider inputs, through check()
        Case("provider check()", "Tenant tenant_name 'ryan/0001'", "ryan/0001", check("tenant", tenant_name="ryan/0001"), expect_property="tenant_name"),
        Case("provider check()", "Tenant tenant_name of 201 characters", "200 characters", check("tenant", tenant_name=LONG_NAME), expect_property="tenant_name"),
        Case("provider check()", "Tenant tenant_name with U+202E (bidi override)", "control characters",
             check("tenant", tenant_name="ryan\u202e1000"), expect_property="tenant_name"),
        Case("provider check()", "Tenant tenant_name 'ryan\U0001F680'", "ryan\U0001F680", check("tenant", tenant_name="ryan\U0001F680"), expect_property="tenant_name"),
        Case("provider check()", "Tenant tenant_name '   ' (blank)", "empty", check("tenant", tenant_name="   "), expect_property="tenant_name"),
        Case("provider check()", "Tenant projects 'Phoenix Web' (not a list)", "list", check("tenant", projects="Phoenix Web"), expect_property="projects"),
        Case("provider check()", "Tenant projects ['No Such Project']", "No Such Project",
             check("tenant", projects=["No Such Project"]), expect_property="projects"),
        Case("provider check()", "Tenant environments [] (none)", "at least 1", check("tenant", environments=[]), expect_property="environments"),
        Case("provider check()", "Tenant tenant_tags ['NoSlash']", "NoSlash", check("tenant", tenant_tags=["NoSlash"]), expect_property="tenant_tags"),
        Case("provider check()", "Tenant adopt_existing 'yes'", "true or false", check("tenant", adopt_existing="yes"), expect_property="adopt_existing"),
        Case("provider check()", "Tenant unknown property colour", "colour", check("tenant", colour="blue"), expect_property="colour"),
        Case("provider check()", "Override release_version '1.0'", "'1.0'", check("override", release_version="1.0"), expect_property="release_version"),
        Case("provider check()", "Override release_version 'v1.0.0'", "v1.0.0", check("override", release_version="v1.0.0"), expect_property="release_version"),
        Case("provider check()", "Override release_version '1.0.0-'", "1.0.0-", check("override", release_version="1.0.0-"), expect_property="release_version"),
        Case("provider check()", "Override release_version '1.0.0-ryan 01'", "1.0.0-ryan 01",
             check("override", release_version="1.0.0-ryan 01"), expect_property="release_version"),
        Case("provider check()", "Override release 9.9.9-ryan0001 (not published)", "9.9.9-ryan0001",
             check("override", release_version="9.9.9-ryan0001"), expect_property="release_version"),
        Case("provider check()", "Override tenant_id 'Tenant-1'", "Tenant-1", check("override", tenant_id="Tenant-1"), expect_property="tenant_id"),
        Case("provider check()", "Override tenant_id 'Tenants-999' (absent)", "Tenants-999",
             check("override", tenant_id="Tenants-999"), expect_property="tenant_id"),
        Case("provider check()", "Override project 'Phoenix/Web' (absent)", "Phoenix/Web", check("override", project="Phoenix/Web"), expect_property="project"),
        Case("provider check()", "Override environment with a newline", "control characters",
             check("override", environment="Feature\nStaging"), expect_property="environment"),
    ]


# --- running the table ---------------------------------------------------------------------------


def snapshot(box: Any) -> set[str]:
    """What exists that bad input must never add to: tenants, overrides, stacks, stack configs."""
    found = {f"tenant {t['Name']}" for t in box.emulator.tenants()}
    found |= {f"override {o['EnvironmentId']}/{o['TenantId']}" for o in box.overrides()}
    found |= {f"stack file {p.name}" for p in box.state_dir.glob(".pulumi/stacks/**/*") if p.is_file()}
    found |= {f"stack config {p.name}" for p in box.stack_config_files()}
    return found


def writes(box: Any) -> list[str]:
    return [f"{r.method} {r.path}" for r in box.emulator.request_log if r.method not in ("GET", "HEAD")]


def leaked(text: str, secrets: Sequence[str]) -> list[str]:
    return [f"{secret[:8]}..." for secret in secrets if secret and secret in text]


def run_cases(box: Any, selected: Sequence[Case]) -> list[Row]:
    from bench.sandbox import PASSPHRASE, REGISTRATION_KEY

    secrets = [box.emulator.api_key, WRONG_KEY, PASSPHRASE, WRONG_PASSPHRASE, REGISTRATION_KEY, WRONG_REGISTRATION_KEY]
    rows = []
    for case in selected:
        before = snapshot(box)
        box.emulator.clear_log()
        outcome = case.run(box)
        text = outcome.output + "".join(reason for _, reason in outcome.failures)
        rows.append(Row(case, outcome, sorted(snapshot(box) - before) + writes(box), leaked(text, secrets)))
    return rows


def prepare(box: Any) -> None:
    """What exists before any row: releases, a feature's stack (the rows about an existing
    stack use it; its tenant is the one a good override names) and a tenant no stack manages."""
    box.seed_releases(GOOD_VERSION, f"1.0.0-{EXISTING}", f"1.0.0-{TAKEN}")
    box.cli("create", f"1.0.0-{EXISTING}", "--skip-preflight", "--quiet")
    box.emulator.seed_tenant(TAKEN, projects=[box.names.project], environments=[box.names.environment])


def run(*, quick: bool = False) -> Report:
    from bench.sandbox import sandbox

    with sandbox() as box:
        box.ready_for_preflight()
        prepare(box)
        rows = run_cases(box, cases())
    table_rows = [
        (n, row.case.area, row.case.label, row.outcome.summary, row.message()[:76], "ok" if row.ok else "FAIL: " + "; ".join(row.problems()))
        for n, row in enumerate(rows, start=1)
    ]
    failed = [row for row in rows if not row.ok]
    refused = sum(1 for row in rows if row.case.expect_code != 0 or row.case.expect_property)
    note = (
        f"{refused} hostile inputs and 1 control; {len(rows) - len(failed)} of {len(rows)} rows as expected. "
        "After every row: no write reached Octopus, no tenant or override, no stack, no stack config, no secret printed."
    )
    text = render(
        "Bad input: refused by name, nothing created",
        ["#", "door", "input", "outcome", "message naming it", "verdict"],
        table_rows,
        note=note,
        wrap=90,
    )
    return Report(text, ok=not failed)
